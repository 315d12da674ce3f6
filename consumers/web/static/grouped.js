// Breakout and DTMF: grouped reports with pivot, and their trend chart.
import { api, download } from "./api.js";
import { filters } from "./filters.js";
import { $, $$, GROUPS, MAX_CHART_SERIES, TIME_GROUPS, element, inMinutes, status, text, totalsOf } from "./format.js";
import { grid, metricColumn, textColumn } from "./grid.js";
import { page } from "./page.js";

export class GroupedReport {
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
    page.refresh();
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
        page.writeUrl();
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
    this.bucketSelect.addEventListener("change", () => { page.writeUrl(); this.refresh().catch((e) => status(e.message, true)); });
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
