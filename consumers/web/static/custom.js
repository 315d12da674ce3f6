// Custom reports: saved read-only queries, run with the filter bar.
import { api, download } from "./api.js";
import { filters } from "./filters.js";
import { $, $$, element, status, text } from "./format.js";
import { grid, numberFilter, numberFilterEditor, textColumn } from "./grid.js";
import { page } from "./page.js";

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

export class CustomReportsView {
  constructor(section) {
    this.section = section;
    this.form = $(".custom-form", section);
    this.error = $(".report-error", section);
    this.schemaShown = false;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save().catch((e) => status(e.message, true));
    });
    $(".run", this.form).addEventListener("click", () => page.refresh());
    $(".new", this.form).addEventListener("click", () => { this.form.reset(); this.showError(""); page.writeUrl(); });
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
    await page.refresh();
    status(`report ${fields.name} saved`);
  }

  async remove(name) {
    if (!confirm(`Delete the custom report ${name}?`)) return;
    await api(`/api/custom-reports/${encodeURIComponent(name)}`, { method: "DELETE" });
    if (this.fields.name === name) this.form.reset();
    await page.refresh();
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
      open.addEventListener("click", () => { this.edit(report); page.refresh(); });
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
