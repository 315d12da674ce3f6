// The filter bar and the URL: customers, providers, the date range and zone.
import { api } from "./api.js";
import { $, addDays, element, notice, quickRange, startOfDay } from "./format.js";

class MultiSelect {
  constructor(root) {
    this.root = root;
    this.label = root.dataset.label;
    this.values = new Set();
    this.options = [];
    $("input[type=search]", root).addEventListener("input", () => this.render());
  }

  set(values) {
    this.values = new Set(values);
    this.render();
  }

  fill(options) {
    this.options = options;
    this.render();
  }

  get selected() {
    return [...this.values];
  }

  render() {
    const find = $("input[type=search]", this.root).value.toLowerCase();
    const all = [...new Set([...this.selected, ...this.options])].sort();
    const choices = all.filter((v) => v.toLowerCase().includes(find)).map((value) => {
      const box = element("input", { type: "checkbox", value, checked: this.values.has(value) });
      box.addEventListener("change", () => {
        if (box.checked) this.values.add(value); else this.values.delete(value);
        this.summarise();
      });
      return element("label", {}, box, " ", value === "" ? "(none)" : value);
    });
    $(".choices", this.root).replaceChildren(...choices);
    this.summarise();
  }

  summarise() {
    const chosen = this.selected;
    $("summary", this.root).textContent = chosen.length === 0 ? `${this.label}: all`
      : chosen.length <= 2 ? `${this.label}: ${chosen.join(", ")}` : `${this.label}: ${chosen.length} chosen`;
  }
}

export const filters = {
  customers: new MultiSelect($("#customers")),
  providers: new MultiSelect($("#providers")),

  get range() {
    return { from: $("#from").value, to: $("#to").value, tz: $("#tz").value };
  },

  // The API's time range: from the first local day's start to the start of the day after the last.
  get params() {
    const { from, to, tz } = this.range;
    if (!from || !to) throw new Error("choose a date range");
    return { from: startOfDay(from, tz), to: startOfDay(addDays(to, 1), tz), tz };
  },

  get days() {
    const { from, to } = this.range;
    return (Date.parse(to) - Date.parse(from)) / 86400000 + 1;
  },
};

export function fillTimeZones(select, chosen) {
  const zones = ["UTC", ...Intl.supportedValuesOf("timeZone").filter((z) => z !== "UTC")];
  if (!zones.includes(chosen)) zones.push(chosen);
  select.replaceChildren(...zones.map((z) => new Option(z, z, false, z === chosen)));
}

const knownZone = (tz) => {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

export function readUrl() {
  const url = new URLSearchParams(location.search);
  let tz = url.get("tz") || "UTC";
  if (!knownZone(tz)) {
    notice(`Unknown time zone "${tz}" in the link: showing UTC instead.`);
    $("#notice").dataset.sticky = "until the zone is chosen";
    $("#tz").addEventListener("change", () => delete $("#notice").dataset.sticky, { once: true });
    tz = "UTC";
  }
  fillTimeZones($("#tz"), tz);
  const [from, to] = quickRange("last7", tz);
  $("#from").value = url.get("from") || from;
  $("#to").value = url.get("to") || to;
  filters.customers.set(url.getAll("customer"));
  filters.providers.set(url.getAll("provider"));
  return url;
}

export async function fillDimensions() {
  const { from, to, tz } = filters.params;
  const names = async (group) => (await api("/api/reports/breakout", {
    params: { from, to, tz, group, columns: "attempts" },
  })).map((row) => row[group]);
  const [customers, providers] = await Promise.all([names("customer"), names("provider")]);
  filters.customers.fill(customers);
  filters.providers.fill(providers);
}
