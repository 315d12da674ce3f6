// Per Number: a number's summary and its calls, a page of 1000 at a time; without numbers, the top numbers.
import { api, apiPage, download } from "./api.js";
import { filters } from "./filters.js";
import { $, text } from "./format.js";
import { grid, metricColumn, textColumn } from "./grid.js";
import { page } from "./page.js";

export class PerNumberView {
  constructor(section) {
    this.section = section;
    $(".numbers-form", section).addEventListener("submit", (event) => {
      event.preventDefault();
      page.refresh();
    });
    $(".more-calls", section).addEventListener("click", () => this.moreCalls());
    $(".export-calls", section).addEventListener("click", () => this.exportCalls());
  }

  async showCalls(calls, next) {
    this.calls = calls;
    this.next = next;
    $(".more-calls", this.section).hidden = !next;
    const text = new Set(["id", "start_time", "customer", "provider", "customer_destination", "provider_destination",
      "dest_number", "cli", "switch", "sip_code"]);
    const { tz } = filters.range;
    // a call's start as people read it, in the chosen zone: 2026-11-01 13:45:02.123
    const startTime = textColumn(`start_time (${tz})`, "start_time", {
      formatter: (cell) => document.createTextNode(String(cell.getValue()).replace("T", " ").slice(0, 23)),
    });
    await grid($(".calls", this.section), {
      data: calls, placeholder: "No calls",
      columns: Object.keys(calls[0] ?? {}).map((f) => (f === "start_time" ? startTime : text.has(f) ? textColumn(f, f) : metricColumn(f))),
    });
    $(".export-calls", this.section).hidden = !calls.length;
  }

  async moreCalls() {
    const { rows, next } = await apiPage("/api/reports/per-number", { params: { ...this.callParams, after: this.next } });
    await this.showCalls([...this.calls, ...rows], next);
  }

  // The call list as CSV, a file of up to 100000 calls (the API's largest page).
  async exportCalls() {
    const { from, to } = filters.range;
    await download("/api/reports/per-number", { ...this.callParams, format: "csv", limit: 100000 },
      `calls-${this.numbers.slice(0, 3).join("-")}-${from}-${to}.csv`);
  }

  get numbers() {
    return $("#numbers").value.split(/[\s,;]+/).map((n) => n.trim()).filter(Boolean);
  }

  get by() {
    return $("input[name=by]:checked", this.section).value;
  }

  loadFrom(url) {
    $("#numbers").value = url.getAll("number").join("\n");
    const topBy = $("select[name=top_by]", this.section);
    topBy.value = url.get("top_by") ?? "attempts";
    if (!topBy.value) topBy.value = "attempts";
    const by = url.get("by") === "cli" ? "cli" : "dest";
    $(`input[name=by][value=${by}]`, this.section).checked = true;
  }

  saveTo(url) {
    for (const n of this.numbers) url.append("number", n);
    if (this.by !== "dest") url.set("by", this.by);
    if (this.topBy !== "attempts") url.set("top_by", this.topBy);
  }

  get topBy() {
    return $("select[name=top_by]", this.section).value;
  }

  // The busiest dialled numbers of the range; a click on one opens it.
  async showTopNumbers() {
    const { from, to, tz } = filters.params;
    const top = await api("/api/reports/top-numbers", {
      params: { from, to, tz, by: this.topBy, customer: filters.customers.selected },
    });
    $(".summary-title", this.section).textContent = `Top numbers by ${this.topBy.replace("_", " ")}: click one to open it`;
    const table = await grid($(".summary", this.section), {
      data: top, placeholder: "No calls in the range",
      columns: [textColumn("number", "number"), ...Object.keys(top[0] ?? {}).filter((f) => f !== "number").map((f) => metricColumn(f))],
    });
    table.on("rowClick", (event, row) => {
      $("#numbers").value = row.getData().number;
      page.refresh();
    });
    await this.showCalls([], null);
    return `the top ${top.length} numbers by ${this.topBy.replace("_", " ")}`;
  }

  async refresh() {
    if (!this.numbers.length) return this.showTopNumbers();
    $(".summary-title", this.section).textContent = "Summary by SIP code";
    const { from, to, tz } = filters.params;
    const params = { from, to, tz, number: this.numbers, by: this.by, customer: filters.customers.selected,
      provider: filters.providers.selected };
    this.callParams = { ...params, calls: "true" };
    const [summary, calls] = await Promise.all([
      api("/api/reports/per-number", { params }),
      apiPage("/api/reports/per-number", { params: this.callParams }),
    ]);
    const columnsOf = (rows, text) => Object.keys(rows[0] ?? {}).map((field) =>
      text.has(field) ? textColumn(field, field) : metricColumn(field));
    await grid($(".summary", this.section), {
      data: summary, columns: columnsOf(summary, new Set(["number", "sip_code"])),
      groupBy: "number", placeholder: "No calls to or from these numbers in the range",
      groupHeader: (value, count) => text(`${value} (${count} SIP ${count === 1 ? "code" : "codes"})`),
    });
    await this.showCalls(calls.rows, calls.next);
    const shown = calls.next ? `the first ${calls.rows.length} calls` : `${calls.rows.length} calls`;
    return `${this.numbers.length} number(s), ${shown}`;
  }
}
