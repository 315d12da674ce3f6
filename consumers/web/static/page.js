// The page's state the tabs share: the tab shown, and how to refresh it and the URL (set by console.js).
export const page = {
  tab: "breakout",
  refresh: async () => {},
  writeUrl: () => {},
};
