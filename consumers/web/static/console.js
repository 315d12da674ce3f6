// The cdrflow report console: filters, grids (Tabulator) and a chart (Chart.js) over the reports
// and schedules API. Every grouping runs in ClickHouse through the API; the page only lays out
// the rows it is given. The filters live in the URL, so a view can be shared and reloaded.
// One module per tab, plus the format, API, filter and grid helpers they share.
import { warned } from "./api.js";
import { CustomReportsView } from "./custom.js";
import { fillDimensions, filters, readUrl } from "./filters.js";
import { $, $$, notice, quickRange, status } from "./format.js";
import { GroupedReport } from "./grouped.js";
import { LiveView } from "./live.js";
import { page } from "./page.js";
import { PerNumberView } from "./per_number.js";
import { SchedulesView } from "./schedules.js";

const views = {
  breakout: new GroupedReport($("#tab-breakout")),
  dtmf: new GroupedReport($("#tab-dtmf")),
  "per-number": new PerNumberView($("#tab-per-number")),
  live: new LiveView($("#tab-live")),
  reports: new CustomReportsView($("#tab-reports")),
  schedules: new SchedulesView($("#tab-schedules")),
};

function showTab(asked) {
  const tab = asked.replaceAll("_", "-");
  page.tab = tab in views ? tab : "breakout";
  if (!(tab in views)) {
    notice(`Unknown tab "${asked}" in the link: showing Breakout. The tabs are ${Object.keys(views).join(", ")}.`);
    $("#notice").dataset.sticky = "1";
  }
  document.body.dataset.tab = page.tab;  // the live tab has no date range: the stylesheet hides it
  for (const button of $$(".tabs button")) button.setAttribute("aria-selected", button.dataset.tab === page.tab);
  for (const section of $$(".tab")) section.hidden = section.id !== `tab-${page.tab}`;
}

function writeUrl() {
  const url = new URLSearchParams({ tab: page.tab, ...filters.range });
  for (const c of filters.customers.selected) url.append("customer", c);
  for (const p of filters.providers.selected) url.append("provider", p);
  for (const view of Object.values(views)) view.saveTo?.(url);
  history.replaceState(null, "", `?${url}`);
}

let refreshing = 0;

async function refresh() {
  const ticket = ++refreshing;
  const started = performance.now();
  writeUrl();
  status("loading…");
  document.body.classList.add("busy");
  warned.clear();
  try {
    const [summary] = await Promise.all([views[page.tab].refresh(), fillDimensions()]);
    if (ticket === refreshing) {
      if (warned.size) notice(`Warning: ${[...warned].join("; ")}`);
      else if (!$("#notice").dataset.sticky) notice("");
      const { from, to, tz } = filters.range;
      const range = page.tab === "live" ? "" : ` · ${from} to ${to} (${tz})`;
      status(`${summary}${range} · ${Math.round(performance.now() - started)} ms`);
    }
  } catch (error) {
    if (ticket === refreshing) status(error.message, true);
  } finally {
    if (ticket === refreshing) document.body.classList.remove("busy");
  }
}

function start() {
  page.refresh = refresh;
  page.writeUrl = writeUrl;
  const url = readUrl();
  for (const view of Object.values(views)) view.loadFrom?.(url);
  showTab(url.get("tab") || "breakout");
  for (const button of $$(".tabs button")) {
    button.addEventListener("click", () => {
      delete $("#notice").dataset.sticky;
      showTab(button.dataset.tab);
      refresh();
    });
  }
  for (const button of $$(".quick button")) {
    button.addEventListener("click", () => {
      [$("#from").value, $("#to").value] = quickRange(button.dataset.range, $("#tz").value);
      refresh();
    });
  }
  $("#filters").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  refresh();
}

start();
