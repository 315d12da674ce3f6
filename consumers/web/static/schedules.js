// Schedules: e-mailed reports and their run log.
import { api } from "./api.js";
import { fillTimeZones } from "./filters.js";
import { $, element, listOf, notice, status, text } from "./format.js";
import { grid } from "./grid.js";
import { page } from "./page.js";


export class SchedulesView {
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
    status(`schedule ${fields.name} added: first mail ${saved.first_period}, ${saved.first_mail}`);
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
