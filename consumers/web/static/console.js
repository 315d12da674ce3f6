// The cdrflow report console: filters, grids (Tabulator) and a chart (Chart.js) over the reports
// and schedules API. Every grouping runs in ClickHouse through the API; the page only lays out
// the rows it is given. The filters live in the URL, so a view can be shared and reloaded.
"use strict";

const GROUPS = ["customer", "provider", "customer_destination", "provider_destination", "switch", "sip_code",
  "month", "week", "day", "hour"];
const TIME_GROUPS = new Set(["month", "week", "day", "hour"]);
// Decimal sums arrive as strings with 6 places; they are summed exactly, in millionths.
const DECIMAL_SUMS = new Set(["duration", "customer_duration", "provider_duration", "customer_charge",
  "provider_charge", "profit", "dtmf_customer_charge", "dtmf_provider_charge"]);
const INTEGER_SUMS = new Set(["attempts", "connected", "dtmf", "dtmf_calls", "short_calls"]);
// Durations arrive as exact seconds; people read minutes. Exports keep the API's seconds.
const MINUTE_COLUMNS = new Set(["duration", "customer_duration", "provider_duration", "acd"]);
const OPERATORS = [["=", "="], ["!=", "≠"], ["<", "<"], ["<=", "≤"], [">", ">"], [">=", "≥"],
  ["between", "between"]];
// Money columns: their titles name the currency (CDRFLOW_CURRENCY) when one is set.
const MONEY_COLUMNS = new Set(["customer_charge", "provider_charge", "profit", "provider_cost_per_digit",
  "customer_charge_per_digit", "dtmf_customer_charge", "dtmf_provider_charge", "dtmf_provider_cost_per_digit",
  "dtmf_customer_charge_per_digit"]);
const CURRENCY = document.querySelector("meta[name=cdrflow-currency]")?.content ?? "";
// Column titles as people read them; the tooltip and the column chooser give the API's name.
const TITLES = {
  attempts: "Attempts", connected: "Connected", asr: "ASR %", acd: "ACD", duration: "Duration",
  customer_duration: "Customer duration", provider_duration: "Provider duration", customer_charge: "Customer charge",
  provider_charge: "Provider charge", profit: "Profit", profit_percent: "Margin %", pdd_in_avg: "PDD in (ms)",
  pdd_out_avg: "PDD out (ms)", short_calls: "Short calls", short_calls_percent: "Short calls %", dtmf: "DTMF digits",
  dtmf_calls: "DTMF calls", dtmf_percent: "DTMF %", provider_cost_per_digit: "Provider cost / digit",
  customer_charge_per_digit: "Customer charge / digit", dtmf_customer_charge: "Customer charge of DTMF calls",
  dtmf_provider_charge: "Provider charge of DTMF calls", dtmf_provider_cost_per_digit: "Provider cost / digit (DTMF calls)",
  dtmf_customer_charge_per_digit: "Customer charge / digit (DTMF calls)", ner: "NER %",
};
const MAX_CHART_SERIES = 8;
const MICRO = 1000000n;

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value != null) node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

// What a grid cell shows: always a text node, so a value from the data is never read as markup
// (Tabulator puts a formatter's string into the page as HTML).
const text = (value) => document.createTextNode(value ?? "");

const inMinutes = (seconds) => seconds === null || seconds === undefined || seconds === "" ? null
  : (Number(seconds) / 60).toFixed(2);

// The footer says what the page is doing; an error is also shown beside the filters, where the
// eye is, until the next refresh succeeds.
function status(text, isError = false) {
  const box = $("#status");
  box.textContent = text;
  box.classList.toggle("error", isError);
  if (isError) notice(text);
}

function notice(text) {
  const box = $("#notice");
  box.textContent = text;
  box.hidden = !text;
}

// ---- dates in a time zone --------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

function offsetMinutes(utcMs, tz) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(utcMs));
  const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+v.year, +v.month - 1, +v.day, +v.hour, +v.minute, +v.second);
  return Math.round((asUtc - Math.floor(utcMs / 1000) * 1000) / 60000);
}

// The RFC 3339 moment a local date begins in `tz` (midnight, or the first moment after a DST gap).
function startOfDay(date, tz) {
  const [y, m, d] = date.split("-").map(Number);
  const naive = Date.UTC(y, m - 1, d);
  let offset = offsetMinutes(naive, tz);
  offset = offsetMinutes(naive - offset * 60000, tz);
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${date}T00:00:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function addDays(date, days) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

const todayIn = (tz) => new Intl.DateTimeFormat("en-CA", { timeZone: tz }).format(new Date());

function quickRange(name, tz) {
  const today = todayIn(tz);
  return {
    today: [today, today],
    yesterday: [addDays(today, -1), addDays(today, -1)],
    last7: [addDays(today, -6), today],
    month: [today.slice(0, 8) + "01", today],
  }[name];
}

// ---- exact sums --------------------------------------------------------------------------------

function millionths(text) {
  const negative = text.startsWith("-");
  const [whole, fraction = ""] = text.replace("-", "").split(".");
  const value = BigInt(whole) * MICRO + BigInt((fraction + "000000").slice(0, 6));
  return negative ? -value : value;
}

function decimalText(value) {
  const sign = value < 0n ? "-" : "";
  const abs = value < 0n ? -value : value;
  return `${sign}${abs / MICRO}.${String(abs % MICRO).padStart(6, "0")}`;
}

// numerator / denominator rounded half away from zero (denominator > 0).
function halfUp(numerator, denominator) {
  const sign = numerator < 0n ? -1n : 1n;
  return sign * ((2n * sign * numerator + denominator) / (2n * denominator));
}

const ratio = (numerator, denominator, scale = 1) =>
  denominator ? Math.round((scale * numerator / denominator) * 100) / 100 : null;

// Totals of the rows a column filter left: sums exact, ratios from the sums; averages of
// present values (pdd) cannot be rebuilt from rows, so they stay empty.
function totalsOf(rows) {
  const sums = {};
  for (const row of rows) {
    for (const [name, value] of Object.entries(row)) {
      if (DECIMAL_SUMS.has(name)) sums[name] = (sums[name] ?? 0n) + millionths(String(value));
      else if (INTEGER_SUMS.has(name)) sums[name] = (sums[name] ?? 0) + value;
    }
  }
  const money = (name) => Number(sums[name] ?? 0n) / 1e6;
  const totals = {};
  for (const [name, value] of Object.entries(sums)) totals[name] = typeof value === "bigint" ? decimalText(value) : value;
  totals.profit_percent = ratio(money("profit"), money("customer_charge"), 100);
  totals.asr = ratio(sums.connected, sums.attempts, 100);
  totals.acd = ratio(money("duration"), sums.connected);
  totals.dtmf_percent = ratio(sums.dtmf_calls, sums.connected, 100);
  const perDigit = (name) => sums.dtmf ? decimalText(halfUp(sums[name] ?? 0n, BigInt(sums.dtmf))) : null;
  totals.provider_cost_per_digit = perDigit("provider_charge");
  totals.customer_charge_per_digit = perDigit("customer_charge");
  totals.dtmf_provider_cost_per_digit = perDigit("dtmf_provider_charge");
  totals.dtmf_customer_charge_per_digit = perDigit("dtmf_customer_charge");
  return totals;
}

// ---- the API -----------------------------------------------------------------------------------

let tokenAsked = null;

function askToken() {
  tokenAsked ??= new Promise((resolve) => {
    const dialog = $("#token-dialog");
    dialog.addEventListener("close", () => {
      sessionStorage.setItem("cdrflow-token", $("input", dialog).value);
      tokenAsked = null;
      resolve();
    }, { once: true });
    dialog.showModal();
  });
  return tokenAsked;
}

async function request(path, { params = {}, method = "GET", body } = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of [value].flat()) query.append(name, one);
  }
  const url = query.size ? `${path}?${query}` : path;
  for (;;) {
    const token = sessionStorage.getItem("cdrflow-token");
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    // The API takes no POST that is not JSON: a form on another site cannot send one.
    if (method !== "GET") headers["Content-Type"] = "application/json";
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401) {
      await askToken();
      continue;
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { message = (await response.json()).error ?? message; } catch { /* not JSON */ }
      throw new Error(message);
    }
    return response;
  }
}

const api = async (path, options) => (await request(path, options)).json();

async function download(path, params, filename, body) {
  const blob = await (await request(path, { params, body, method: body === undefined ? "GET" : "POST" })).blob();
  const link = element("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// ---- filters and the URL -----------------------------------------------------------------------

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

const filters = {
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

function fillTimeZones(select, chosen) {
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

function readUrl() {
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

function writeUrl() {
  const url = new URLSearchParams({ tab: currentTab, ...filters.range });
  for (const c of filters.customers.selected) url.append("customer", c);
  for (const p of filters.providers.selected) url.append("provider", p);
  for (const view of Object.values(views)) view.saveTo?.(url);
  history.replaceState(null, "", `?${url}`);
}

async function fillDimensions() {
  const { from, to, tz } = filters.params;
  const names = async (group) => (await api("/api/reports/breakout", {
    params: { from, to, tz, group, columns: "attempts" },
  })).map((row) => row[group]);
  const [customers, providers] = await Promise.all([names("customer"), names("provider")]);
  filters.customers.fill(customers);
  filters.providers.fill(providers);
}

// ---- grids -------------------------------------------------------------------------------------

function numberFilterEditor(cell, onRendered, success) {
  const operator = element("select", { "aria-label": "comparison" });
  for (const [value, text] of OPERATORS) operator.append(new Option(text, value));
  const first = element("input", { type: "number", step: "any", placeholder: "value", "aria-label": "value" });
  const second = element("input", { type: "number", step: "any", placeholder: "and", "aria-label": "upper value" });
  second.hidden = true;
  const send = () => {
    second.hidden = operator.value !== "between";
    success({ operator: operator.value, first: first.value, second: second.value });
  };
  operator.addEventListener("change", send);
  first.addEventListener("input", send);
  second.addEventListener("input", send);
  const box = element("span", { class: "number-filter" }, operator, first, second);
  box.addEventListener("click", (event) => event.stopPropagation());
  return box;
}

function numberFilter(wanted, value) {
  if (value === null || value === undefined || value === "") return false;
  const v = Number(value);
  const a = Number(wanted.first);
  switch (wanted.operator) {
    case "=": return v === a;
    case "!=": return v !== a;
    case "<": return v < a;
    case "<=": return v <= a;
    case ">": return v > a;
    case ">=": return v >= a;
    default: return wanted.second === "" ? v >= a : v >= a && v <= Number(wanted.second);
  }
}

// A metric column; with `totals` (rows -> totals by column) it has a totals row. Durations are
// shown, filtered and totalled in minutes; they sort by the exact seconds.
function metricColumn(field, totals = null) {
  const minutes = MINUTE_COLUMNS.has(field);
  const shown = (value) => (minutes ? inMinutes(value) : value) ?? "—";
  const column = {
    title: `${TITLES[field] ?? field}${minutes ? " (min)" : CURRENCY && MONEY_COLUMNS.has(field) ? ` (${CURRENCY})` : ""}`,
    headerTooltip: field, field, hozAlign: "right", headerHozAlign: "right", sorter: "number",
    minWidth: 120, headerFilter: numberFilterEditor, headerFilterLiveFilter: false,
    headerFilterFunc: (wanted, value) => numberFilter(wanted, minutes ? inMinutes(value) : value),
    headerFilterEmptyCheck: (value) => !value || value.first === "",
    formatter: (cell) => text(shown(cell.getValue())),
  };
  if (totals) {
    column.bottomCalc = (values, rows) => totals(rows)[field] ?? "";
    column.bottomCalcFormatter = (cell) => text(cell.getValue() === "" ? "" : shown(cell.getValue()));
  }
  return column;
}

function textColumn(title, field, extra = {}) {
  return {
    title, field, headerFilter: "input", headerFilterPlaceholder: "contains",
    formatter: (cell) => text(cell.getValue() === "" ? "(none)" : cell.getValue()), ...extra,
  };
}

// A Tabulator grid in `node` (replacing the one there) and a promise of it, settled once built.
function grid(node, options) {
  node.tabulator?.destroy();
  const table = new Tabulator(node, {
    layout: "fitDataFill", maxHeight: "460px", placeholder: "No rows for these filters",
    columnDefaults: { headerTooltip: true }, ...options,
  });
  node.tabulator = table;
  return new Promise((resolve) => table.on("tableBuilt", () => resolve(table)));
}

// ---- Breakout and DTMF: grouped reports with pivot ---------------------------------------------

class GroupedReport {
  constructor(section) {
    this.section = section;
    section.prepend($("#report-toolbar").content.cloneNode(true));
    this.kind = section.dataset.kind;
    this.defaults = section.dataset.groups.split(",");
    this.groups = [...this.defaults];
    this.hidden = new Set();
    this.columns = [];
    this.chart = $(".chart-box", section) ? new TrendChart(section, this) : null;
    $(".add-group", section).addEventListener("change", (event) => {
      if (event.target.value) this.setGroups([...this.groups, event.target.value]);
    });
    for (const button of $$(".export", section)) {
      button.addEventListener("click", () => this.export(button.dataset.format).catch((e) => status(e.message, true)));
    }
  }

  loadFrom(url) {
    const groups = url.get(`${this.kind}_group`);
    if (groups !== null) this.groups = groups.split(",").filter((g) => GROUPS.includes(g));
    const hidden = url.get(`${this.kind}_hide`);
    if (hidden) this.hidden = new Set(hidden.split(","));
    this.chart?.loadFrom(url);
    this.renderGroups();
  }

  saveTo(url) {
    if (this.groups.join(",") !== this.defaults.join(",")) url.set(`${this.kind}_group`, this.groups.join(","));
    if (this.hidden.size) url.set(`${this.kind}_hide`, [...this.hidden].join(","));
    this.chart?.saveTo(url);
  }

  setGroups(groups) {
    this.groups = groups;
    this.renderGroups();
    refresh();
  }

  renderGroups() {
    const chips = this.groups.map((group, i) => {
      const move = (to) => {
        const groups = [...this.groups];
        groups.splice(to, 0, groups.splice(i, 1)[0]);
        this.setGroups(groups);
      };
      const left = element("button", { type: "button", title: "earlier", disabled: i === 0, text: "◀" });
      const right = element("button", { type: "button", title: "later", disabled: i === this.groups.length - 1, text: "▶" });
      const remove = element("button", { type: "button", title: `remove ${group}`, text: "✕" });
      left.addEventListener("click", () => move(i - 1));
      right.addEventListener("click", () => move(i + 1));
      remove.addEventListener("click", () => this.setGroups(this.groups.filter((g) => g !== group)));
      return element("li", { class: "chip", "data-group": group }, left, element("span", { text: group }), right, remove);
    });
    $(".groups", this.section).replaceChildren(...chips);
    const free = GROUPS.filter((g) => !this.groups.includes(g));
    $(".add-group", this.section).replaceChildren(new Option("+ add row group", ""), ...free.map((g) => new Option(g, g)));
  }

  baseParams() {
    return {
      ...filters.params, customer: filters.customers.selected, provider: filters.providers.selected,
    };
  }

  // One query per pivot level (groups[0..k]) and one for the totals: ClickHouse does all grouping.
  async refresh() {
    const base = this.baseParams();
    const levels = this.groups.map((_, k) => this.groups.slice(0, k + 1));
    const [totals, ...rowsByLevel] = await Promise.all([
      api(`/api/reports/${this.kind}`, { params: { ...base, group: "" } }),
      ...levels.map((groups) => api(`/api/reports/${this.kind}`, { params: { ...base, group: groups.join(",") } })),
    ]);
    this.totals = totals[0] ?? {};
    this.columns = Object.keys(this.totals);
    await this.renderGrid(this.tree(rowsByLevel));
    this.renderChooser();
    await this.chart?.refresh();
    return `${rowsByLevel.at(-1)?.length ?? 1} rows`;
  }

  tree(rowsByLevel) {
    const nodes = new Map();
    const top = [];
    rowsByLevel.forEach((rows, k) => {
      for (const row of rows) {
        const path = this.groups.slice(0, k + 1).map((g) => row[g]);
        const node = { ...row, _label: row[this.groups[k]], _level: k, _path: path };
        nodes.set(JSON.stringify(path), node);
        if (k === 0) top.push(node);
        else (nodes.get(JSON.stringify(path.slice(0, -1)))._children ??= []).push(node);
      }
    });
    return top;
  }

  async renderGrid(rows) {
    const filtered = () => Boolean(this.table?.initialized && this.table.getHeaderFilters().length);
    const totals = (rows) => filtered() ? totalsOf(rows) : this.totals;
    const rowColumn = this.groups.length
      ? [textColumn(this.groups.join(" › "), "_label", {
        frozen: true, bottomCalc: () => filtered() ? "Total (filtered)" : "Total",
        formatter: (cell) => text(this.labelOf(cell.getRow().getData())),
      })]
      : [];
    const columns = [...rowColumn, ...this.columns.map((field) => ({
      ...metricColumn(field, totals), visible: !this.hidden.has(field),
    }))];
    this.table = null; // the old grid is gone: while the new one builds, its totals are the query's
    this.table = await grid($(".grid", this.section), {
      data: rows, columns, dataTree: true, dataTreeStartExpanded: false, dataTreeChildIndent: 18,
      selectableRows: this.chart ? true : false,
    });
    if (this.chart) this.table.on("rowSelectionChanged", () => this.chart.refresh().catch((e) => status(e.message, true)));
  }

  labelOf(row) {
    const group = this.groups[row._level];
    const value = row._label;
    if (value === "") return "(none)";
    return TIME_GROUPS.has(group) ? value.slice(0, group === "hour" ? 16 : 10).replace("T", " ") : value;
  }

  renderChooser() {
    const boxes = this.columns.map((field) => {
      const box = element("input", { type: "checkbox", value: field, checked: !this.hidden.has(field) });
      box.addEventListener("change", () => {
        if (box.checked) { this.hidden.delete(field); this.table.showColumn(field); }
        else { this.hidden.add(field); this.table.hideColumn(field); }
        writeUrl();
      });
      return element("label", {}, box, " ", field);
    });
    $(".chooser .choices", this.section).replaceChildren(...boxes);
  }

  // What the grid shows: the visible columns and, with a column filter, the rows it left (with
  // every row grouped under them) and their total.
  async export(format) {
    const visible = this.columns.filter((c) => !this.hidden.has(c));
    const params = { ...this.baseParams(), group: this.groups.join(","), columns: visible.join(","), format };
    const filtered = this.groups.length && this.table?.getHeaderFilters().length;
    const shown = () => this.table.getRows("active").map((row) => row.getData()).filter((row) => row._level === 0);
    const body = filtered ? { keep: shown().map((row) => row._path[0]) } : undefined;
    await download(`/api/reports/${this.kind}`, params, `${this.kind}-${filters.range.from}-${filters.range.to}.${format}`, body);
  }
}

// ASR and ACD per time bucket for the selected rows (or all the filters select when no row is).
class TrendChart {
  constructor(section, report) {
    this.report = report;
    this.bucketSelect = $(".bucket", section);
    this.note = $(".chart-note", section);
    this.chart = new Chart($("canvas", section), {
      type: "line",
      data: { labels: [], datasets: [] },
      options: {
        animation: false, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
        scales: {
          asr: { type: "linear", position: "left", title: { display: true, text: "ASR %" }, min: 0, max: 100 },
          acd: { type: "linear", position: "right", title: { display: true, text: "ACD min" }, min: 0, grid: { drawOnChartArea: false } },
        },
      },
    });
    this.bucketSelect.addEventListener("change", () => { writeUrl(); this.refresh().catch((e) => status(e.message, true)); });
  }

  loadFrom(url) {
    this.bucketSelect.value = url.get("bucket") || "auto";
  }

  saveTo(url) {
    if (this.bucketSelect.value !== "auto") url.set("bucket", this.bucketSelect.value);
  }

  get bucket() {
    const chosen = this.bucketSelect.value;
    return chosen === "auto" ? (filters.days <= 3 ? "hour" : "day") : chosen;
  }

  async refresh() {
    const report = this.report;
    const bucket = this.bucket;
    const selected = (report.table?.getSelectedData() ?? []).slice(0, MAX_CHART_SERIES);
    const base = { ...report.baseParams(), columns: "asr,acd" };
    const series = [];
    if (!selected.length) {
      const rows = await api("/api/reports/breakout", { params: { ...base, group: bucket } });
      series.push({ label: "all rows", points: rows });
    } else {
      const levels = [...new Set(selected.map((row) => row._level))];
      const byLevel = new Map(await Promise.all(levels.map(async (level) => {
        const groups = report.groups.slice(0, level + 1);
        const group = [...groups.filter((g) => g !== bucket), bucket].join(",");
        return [level, { groups, rows: await api("/api/reports/breakout", { params: { ...base, group } }) }];
      })));
      for (const row of selected) {
        const { groups, rows } = byLevel.get(row._level);
        const points = rows.filter((point) => groups.every((g, i) => g === bucket || point[g] === row._path[i]));
        series.push({ label: row._path.map((v) => v === "" ? "(none)" : v).join(" › "), points });
      }
    }
    const labels = [...new Set(series.flatMap((s) => s.points.map((p) => p[bucket])))].sort();
    const datasets = series.flatMap((s, i) => {
      const color = `hsl(${(i * 137) % 360} 65% 42%)`;
      const at = (metric) => labels.map((l) => s.points.find((p) => p[bucket] === l)?.[metric] ?? null);
      return [
        { label: `${s.label} ASR %`, data: at("asr"), yAxisID: "asr", borderColor: color, backgroundColor: color, spanGaps: true },
        { label: `${s.label} ACD min`, data: at("acd").map(inMinutes), yAxisID: "acd", borderColor: color, backgroundColor: color, borderDash: [6, 4], spanGaps: true },
      ];
    });
    this.chart.data.labels = labels.map((l) => l.slice(0, bucket === "hour" ? 16 : 10).replace("T", " "));
    this.chart.data.datasets = datasets;
    this.chart.update();
    this.note.textContent = selected.length ? `${selected.length} selected row(s), by ${bucket}` : `all rows, by ${bucket}; select rows to compare them`;
  }
}

// ---- Per Number ----------------------------------------------------------------------------------

class PerNumberView {
  constructor(section) {
    this.section = section;
    $(".numbers-form", section).addEventListener("submit", (event) => {
      event.preventDefault();
      refresh();
    });
  }

  get numbers() {
    return $("#numbers").value.split(/[\s,;]+/).map((n) => n.trim()).filter(Boolean);
  }

  get by() {
    return $("input[name=by]:checked", this.section).value;
  }

  loadFrom(url) {
    $("#numbers").value = url.getAll("number").join("\n");
    const by = url.get("by") === "cli" ? "cli" : "dest";
    $(`input[name=by][value=${by}]`, this.section).checked = true;
  }

  saveTo(url) {
    for (const n of this.numbers) url.append("number", n);
    if (this.by !== "dest") url.set("by", this.by);
  }

  async refresh() {
    if (!this.numbers.length) {
      await grid($(".summary", this.section), { data: [], columns: [], placeholder: "Enter one or more numbers and search" });
      await grid($(".calls", this.section), { data: [], columns: [], placeholder: "" });
      return "enter numbers to search";
    }
    const { from, to, tz } = filters.params;
    const params = { from, to, tz, number: this.numbers, by: this.by, customer: filters.customers.selected,
      provider: filters.providers.selected };
    const [summary, calls] = await Promise.all([
      api("/api/reports/per-number", { params }),
      api("/api/reports/per-number", { params: { ...params, calls: "true" } }),
    ]);
    const columnsOf = (rows, text) => Object.keys(rows[0] ?? {}).map((field) =>
      text.has(field) ? textColumn(field, field) : metricColumn(field));
    await grid($(".summary", this.section), {
      data: summary, columns: columnsOf(summary, new Set(["number", "sip_code"])),
      groupBy: "number", placeholder: "No calls to or from these numbers in the range",
      groupHeader: (value, count) => text(`${value} (${count} SIP ${count === 1 ? "code" : "codes"})`),
    });
    await grid($(".calls", this.section), {
      data: calls, placeholder: "No calls",
      columns: columnsOf(calls, new Set(["id", "start_time", "customer", "provider", "customer_destination",
        "provider_destination", "dest_number", "cli", "switch", "sip_code"])),
    });
    return `${this.numbers.length} number(s), ${calls.length} calls`;
  }
}

// ---- Live statistics and alerts ------------------------------------------------------------------

const LIVE_METRICS = ["attempts", "connected", "asr", "acd", "ner", "pdd_in_avg", "pdd_out_avg", "short_calls",
  "short_calls_percent", "customer_charge", "provider_charge", "profit", "dtmf"];
const LIVE_REFRESH_MS = 5000;
const sameKey = (key, row) => Object.entries(key).every(([dimension, value]) => row[dimension] === value);

class LiveView {
  constructor(section) {
    this.section = section;
    this.form = $(".live-form", section);
    this.ruleForm = $(".rule-form", section);
    this.ruleError = $(".rule-error", section);
    const metric = this.ruleForm.elements.metric;
    metric.replaceChildren(...LIVE_METRICS.map((m) => new Option(m, m, false, m === "asr")));
    this.form.addEventListener("change", () => refresh());
    this.form.addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
    this.ruleForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.addRule().catch((e) => status(e.message, true));
    });
    // While the tab is shown the table follows the live clock; a refresh already under way is let be.
    setInterval(() => {
      if (currentTab === "live" && !document.body.classList.contains("busy")) refresh();
    }, LIVE_REFRESH_MS);
  }

  get group() { return this.form.elements.group.value; }
  get window() { return this.form.elements.window.value; }

  loadFrom(url) {
    if (url.get("live_group")) this.form.elements.group.value = url.get("live_group");
    if (url.get("live_window")) this.form.elements.window.value = url.get("live_window");
  }

  saveTo(url) {
    if (this.group !== "provider") url.set("live_group", this.group);
    if (this.window !== "15") url.set("live_window", this.window);
  }

  async addRule() {
    const f = new FormData(this.ruleForm);
    const number = (name) => f.get(name) === "" ? null : Number(f.get(name));
    const rule = {
      name: f.get("name").trim(), scope: listOf(f.get("scope")), metric: f.get("metric"), op: f.get("op"),
      threshold: number("threshold"), reset: number("reset"), window: number("window"),
      min_attempts: number("min_attempts"), customers: listOf(f.get("customers")), providers: listOf(f.get("providers")),
      email: listOf(f.get("email")), webhook: f.get("webhook").trim(),
    };
    try {
      await api("/api/alert-rules", { method: "POST", body: rule });
    } catch (error) {
      this.ruleError.textContent = error.message;
      this.ruleError.hidden = false;
      throw error;
    }
    this.ruleError.hidden = true;
    this.ruleForm.reset();
    await refresh();
    status(`rule ${rule.name} added`);
  }

  async removeRule(name) {
    if (!confirm(`Delete the alert rule ${name}?`)) return;
    await api(`/api/alert-rules/${encodeURIComponent(name)}`, { method: "DELETE" });
    await refresh();
    status(`rule ${name} deleted`);
  }

  async refresh() {
    const group = this.group.split(",");
    const params = { group: this.group, window: this.window, customer: filters.customers.selected,
      provider: filters.providers.selected };
    if (this.group === "dest_number") { params.top = "20"; delete params.customer; delete params.provider; }
    const [live, firing, rules, history] = await Promise.all([
      api("/api/live", { params }), api("/api/alerts"), api("/api/alert-rules"), api("/api/alerts/history"),
    ]);
    const firingHere = firing.filter((alert) => Object.keys(alert.key).join(",") === this.group);
    $(".live-clock", this.section).textContent = live.clock
      ? `live clock ${live.clock.slice(0, 19).replace("T", " ")} UTC · last ${live.window} min` : "no traffic yet";
    await grid($(".live-table", this.section), {
      data: live.rows, placeholder: "No traffic in the window",
      columns: [...group.map((g) => textColumn(g, g)), ...LIVE_METRICS.map((m) => metricColumn(m))],
      rowFormatter: (row) => row.getElement().classList.toggle("firing",
        firingHere.some((alert) => sameKey(alert.key, row.getData()))),
    });
    const keyText = (cell) => text(Object.entries(cell.getValue()).map(([d, v]) => `${d}=${v}`).join(", ") || "all traffic");
    const time = (cell) => text((cell.getValue() ?? "").slice(0, 16).replace("T", " "));
    const alertColumns = [
      { title: "rule", field: "rule", formatter: (cell) => text(cell.getValue()) },
      { title: "key", field: "key", formatter: keyText, widthGrow: 2 },
      { title: "transition", field: "transition" }, { title: "metric", field: "metric" },
      { title: "value", field: "value", hozAlign: "right" }, { title: "threshold", field: "threshold", hozAlign: "right" },
      { title: "reset", field: "reset", hozAlign: "right" }, { title: "window", field: "window", hozAlign: "right" },
      { title: "attempts", field: "attempts", hozAlign: "right" },
      { title: "at (UTC)", field: "at", formatter: time, minWidth: 140 },
    ];
    await grid($(".firing-alerts", this.section), { layout: "fitColumns", data: firing, columns: alertColumns,
      placeholder: "Nothing is firing", rowFormatter: (row) => row.getElement().classList.add("firing") });
    const list = (cell) => text((cell.getValue() ?? []).join(", ") || "all");
    const remove = (cell) => {
      const button = element("button", { type: "button", class: "danger", text: "Delete" });
      button.addEventListener("click", () => this.removeRule(cell.getValue()).catch((e) => status(e.message, true)));
      return button;
    };
    await grid($(".rules", this.section), {
      layout: "fitColumns", data: rules, placeholder: "No rules yet: add one above",
      columns: [
        { title: "name", field: "name", formatter: (cell) => text(cell.getValue()) },
        { title: "scope", field: "scope", formatter: (cell) => text(cell.getValue().join(", ") || "all traffic") },
        { title: "fires when", field: "metric", formatter: (cell) => {
          const r = cell.getRow().getData();
          return text(`${r.metric} ${r.op} ${r.threshold} over ${r.window} min (reset ${r.reset ?? r.threshold}, at least ${r.min_attempts} attempts)`);
        }, widthGrow: 3 },
        { title: "customers", field: "customers", formatter: list }, { title: "providers", field: "providers", formatter: list },
        { title: "email", field: "email", formatter: list },
        { title: "webhook", field: "webhook", formatter: (cell) => text(cell.getValue()) },
        { title: "", field: "name", formatter: remove, headerSort: false, minWidth: 90 },
      ],
    });
    await grid($(".history", this.section), { layout: "fitColumns", data: history, columns: alertColumns,
      placeholder: "No transitions yet", maxHeight: "300px" });
    return `${live.rows.length} keys, ${firing.length} firing`;
  }
}

// ---- Custom reports ------------------------------------------------------------------------------

const isNumeric = (value) => typeof value === "number" || (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value));

// A result column of a custom report: numbers right-aligned with a number filter, the rest as text.
function resultColumn(field, rows) {
  const values = rows.map((row) => row[field]).filter((v) => v !== null && v !== undefined && v !== "");
  if (!values.length || !values.every(isNumeric)) {
    return { ...textColumn(field, field), formatter: (cell) => text(cell.getValue()) };
  }
  return {
    title: field, field, hozAlign: "right", headerHozAlign: "right", sorter: "number", minWidth: 100,
    headerFilter: numberFilterEditor, headerFilterLiveFilter: false, headerFilterFunc: numberFilter,
    headerFilterEmptyCheck: (value) => !value || value.first === "", formatter: (cell) => text(cell.getValue()),
  };
}

class CustomReportsView {
  constructor(section) {
    this.section = section;
    this.form = $(".custom-form", section);
    this.error = $(".report-error", section);
    this.schemaShown = false;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save().catch((e) => status(e.message, true));
    });
    $(".run", this.form).addEventListener("click", () => refresh());
    $(".new", this.form).addEventListener("click", () => { this.form.reset(); this.showError(""); writeUrl(); });
    for (const button of $$(".export", this.form)) {
      button.addEventListener("click", () => this.export(button.dataset.format).catch((e) => this.showError(e.message)));
    }
  }

  get fields() {
    const f = new FormData(this.form);
    return { name: f.get("name").trim(), title: f.get("title").trim(), description: f.get("description").trim(), sql: f.get("sql") };
  }

  loadFrom(url) {
    this.wanted = url.get("report");
  }

  saveTo(url) {
    const name = this.fields.name;
    if (name) url.set("report", name);
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  runParams(format = "json") {
    return { ...filters.params, customer: filters.customers.selected, provider: filters.providers.selected, format };
  }

  edit(report) {
    for (const name of ["name", "title", "description", "sql"]) this.form.elements[name].value = report[name];
    this.showError("");
  }

  async save() {
    const fields = this.fields;
    try {
      await api("/api/custom-reports", { method: "POST", body: fields });
    } catch (error) {
      this.showError(error.message);
      throw error;
    }
    this.showError("");
    await refresh();
    status(`report ${fields.name} saved`);
  }

  async remove(name) {
    if (!confirm(`Delete the custom report ${name}?`)) return;
    await api(`/api/custom-reports/${encodeURIComponent(name)}`, { method: "DELETE" });
    if (this.fields.name === name) this.form.reset();
    await refresh();
    status(`report ${name} deleted`);
  }

  async export(format) {
    const { name, sql } = this.fields;
    await download("/api/reports/custom", this.runParams(format), `${name || "report"}-${filters.range.from}-${filters.range.to}.${format}`, { sql });
  }

  async showSchema() {
    const tables = await api("/api/schema");
    const list = Object.entries(tables).map(([table, columns], i) => element("details", { open: i === 0 },
      element("summary", { text: table }),
      element("ul", {}, ...columns.map((c) => element("li", {}, element("code", { text: c.name }), " ",
        element("span", { class: "type", text: c.type }))))));
    $(".schema .tables", this.section).replaceChildren(...list);
    this.schemaShown = true;
  }

  async refresh() {
    const reports = await api("/api/custom-reports");
    if (!this.schemaShown) await this.showSchema();
    if (this.wanted) {
      const report = reports.find((r) => r.name === this.wanted);
      if (report) this.edit(report);
      this.wanted = null;
    }
    const actions = (cell) => {
      const report = cell.getRow().getData();
      const open = element("button", { type: "button", text: "Open" });
      const remove = element("button", { type: "button", class: "danger", text: "Delete" });
      open.addEventListener("click", () => { this.edit(report); refresh(); });
      remove.addEventListener("click", () => this.remove(report.name).catch((e) => status(e.message, true)));
      return element("span", { class: "actions" }, open, remove);
    };
    await grid($(".custom-list", this.section), {
      layout: "fitColumns", data: reports, maxHeight: "220px", placeholder: "No custom reports yet: write one below",
      columns: [
        { title: "name", field: "name", headerFilter: "input", formatter: (cell) => text(cell.getValue()) },
        { title: "title", field: "title", formatter: (cell) => text(cell.getValue()) },
        { title: "description", field: "description", formatter: (cell) => text(cell.getValue()), widthGrow: 2 },
        { title: "", field: "name", formatter: actions, headerSort: false, minWidth: 150 },
      ],
    });
    return `${reports.length} custom report(s)${await this.run()}`;
  }

  // The SQL in the editor, saved or not, run with the filter bar; its error shown beside it.
  async run() {
    const { name, title, sql } = this.fields;
    $(".result-title", this.section).textContent = title || name || "Result";
    if (!sql.trim()) {
      await grid($(".custom-result", this.section), { data: [], columns: [], placeholder: "Write a SELECT and Run it" });
      return "";
    }
    let rows;
    try {
      rows = await api("/api/reports/custom", { method: "POST", params: this.runParams(), body: { sql } });
    } catch (error) {
      this.showError(error.message);
      await grid($(".custom-result", this.section), { data: [], columns: [], placeholder: "The query failed: see the error above" });
      return " · the query failed";
    }
    this.showError("");
    const columns = Object.keys(rows[0] ?? {}).map((field) => resultColumn(field, rows));
    await grid($(".custom-result", this.section), { data: rows, columns, placeholder: "No rows for these filters" });
    return ` · ${rows.length} rows`;
  }
}

// ---- Schedules -----------------------------------------------------------------------------------

const listOf = (text) => text.split(",").map((v) => v.trim()).filter(Boolean);

class SchedulesView {
  constructor(section) {
    this.section = section;
    this.form = $(".schedule-form", section);
    fillTimeZones($("select[name=tz]", this.form), "UTC");
    // A custom report has its own rows and columns: no row groups or columns to choose.
    $("select[name=report]", this.form).addEventListener("change", () => this.showReportFields());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.add().catch((e) => status(e.message, true));
    });
  }

  async add() {
    const f = new FormData(this.form);
    const fields = {
      name: f.get("name").trim(), email: listOf(f.get("email")), report: f.get("report"), every: f.get("every").trim(),
      tz: f.get("tz"), group: listOf(f.get("group") ?? ""), customers: listOf(f.get("customers")),
      providers: listOf(f.get("providers")), columns: listOf(f.get("columns") ?? ""), format: f.get("format"),
      skip_empty: f.get("skip_empty") === "on",
    };
    const saved = await api("/api/schedules", { method: "POST", body: fields });
    this.form.reset();
    this.showReportFields();
    await this.refresh();
    status(`schedule ${fields.name} added`);
    if (saved.warnings) notice(`Schedule ${fields.name} added, but: ${saved.warnings.join("; ")}`);
  }

  async act(name, action) {
    let done;
    if (action === "delete") {
      if (!confirm(`Delete the schedule ${name}?`)) return;
      await api(`/api/schedules/${encodeURIComponent(name)}`, { method: "DELETE" });
      done = `schedule ${name} deleted`;
    } else {
      const run = await api(`/api/schedules/${encodeURIComponent(name)}/run`, { method: "POST" });
      done = `schedule ${name}, period ${run.period_start} .. ${run.period_end}: ${run.outcome}`;
    }
    await this.refresh();
    status(done);
  }

  showReportFields() {
    const custom = $("select[name=report]", this.form).value.startsWith("custom:");
    for (const name of ["group", "columns"]) this.form.elements[name].disabled = custom;
  }

  fillReports(customReports) {
    const select = $("select[name=report]", this.form);
    const chosen = select.value;
    const names = ["breakout", "dtmf", ...customReports.map((r) => `custom:${r.name}`)];
    select.replaceChildren(...names.map((name) => new Option(name, name, false, name === chosen)));
    this.showReportFields();
  }

  async refresh() {
    const [schedules, runs, customReports] = await Promise.all([
      api("/api/schedules"), api("/api/schedule-runs"), api("/api/custom-reports"),
    ]);
    this.fillReports(customReports);
    const list = (cell) => text(cell.getValue().join(", ") || "all");
    const actions = (cell) => {
      const name = cell.getRow().getData().name;
      const run = element("button", { type: "button", text: "Run now" });
      const remove = element("button", { type: "button", class: "danger", text: "Delete" });
      run.addEventListener("click", () => this.act(name, "run").catch((e) => status(e.message, true)));
      remove.addEventListener("click", () => this.act(name, "delete").catch((e) => status(e.message, true)));
      return element("span", { class: "actions" }, run, remove);
    };
    await grid($(".schedules", this.section), {
      layout: "fitColumns", data: schedules, placeholder: "No schedules yet: add one above",
      columns: [
        { title: "name", field: "name", headerFilter: "input" },
        { title: "email", field: "email", formatter: list },
        { title: "report", field: "report" }, { title: "every", field: "every" }, { title: "tz", field: "tz" },
        {
          title: "next run (UTC)", field: "next_run", minWidth: 140,
          formatter: (cell) => text((cell.getValue() ?? "").slice(0, 16).replace("T", " ")),
        },
        { title: "row groups", field: "group", formatter: list },
        { title: "customers", field: "customers", formatter: list },
        { title: "providers", field: "providers", formatter: list },
        { title: "columns", field: "columns", formatter: list },
        { title: "format", field: "format" },
        { title: "skip empty", field: "skip_empty", formatter: "tickCross", hozAlign: "center" },
        { title: "", field: "name", formatter: actions, headerSort: false, frozen: true, minWidth: 150 },
      ],
    });
    const time = (cell) => text((cell.getValue() ?? "").slice(0, 19).replace("T", " "));
    await grid($(".runs", this.section), {
      layout: "fitColumns", data: runs, placeholder: "No runs yet",
      rowFormatter: (row) => row.getElement().classList.toggle("failed", row.getData().status === "failed"),
      columns: [
        { title: "schedule", field: "schedule", headerFilter: "input" },
        { title: "period start", field: "period_start", formatter: time },
        { title: "period end", field: "period_end", formatter: time },
        { title: "attempt", field: "attempt", hozAlign: "right" },
        { title: "started", field: "started", formatter: time },
        { title: "finished", field: "finished", formatter: time },
        { title: "rows", field: "rows", hozAlign: "right" },
        { title: "status", field: "status", headerFilter: "list",
          headerFilterParams: { values: ["", "running", "sending", "sent", "failed", "skipped"] } },
        { title: "error", field: "error", formatter: "textarea", widthGrow: 3 },
      ],
    });
    return `${schedules.length} schedule(s), ${runs.length} run(s) in the log`;
  }
}

// ---- the page ------------------------------------------------------------------------------------

const views = {
  breakout: new GroupedReport($("#tab-breakout")),
  dtmf: new GroupedReport($("#tab-dtmf")),
  "per-number": new PerNumberView($("#tab-per-number")),
  live: new LiveView($("#tab-live")),
  reports: new CustomReportsView($("#tab-reports")),
  schedules: new SchedulesView($("#tab-schedules")),
};
let currentTab = "breakout";

function showTab(tab) {
  currentTab = tab in views ? tab : "breakout";
  for (const button of $$(".tabs button")) button.setAttribute("aria-selected", button.dataset.tab === currentTab);
  for (const section of $$(".tab")) section.hidden = section.id !== `tab-${currentTab}`;
}

let refreshing = 0;

async function refresh() {
  const ticket = ++refreshing;
  const started = performance.now();
  writeUrl();
  status("loading…");
  document.body.classList.add("busy");
  try {
    const [summary] = await Promise.all([views[currentTab].refresh(), fillDimensions()]);
    if (ticket === refreshing) {
      if (!$("#notice").dataset.sticky) notice("");
      const { from, to, tz } = filters.range;
      status(`${summary} · ${from} to ${to} (${tz}) · ${Math.round(performance.now() - started)} ms`);
    }
  } catch (error) {
    if (ticket === refreshing) status(error.message, true);
  } finally {
    if (ticket === refreshing) document.body.classList.remove("busy");
  }
}

function start() {
  const url = readUrl();
  for (const view of Object.values(views)) view.loadFrom?.(url);
  showTab(url.get("tab") || "breakout");
  for (const button of $$(".tabs button")) {
    button.addEventListener("click", () => { showTab(button.dataset.tab); refresh(); });
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
