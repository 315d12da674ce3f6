// Grids (Tabulator): metric and text columns, number filters, totals rows.
import { CURRENCY, MINUTE_COLUMNS, MONEY_COLUMNS, OPERATORS, TITLES, element, inMinutes, text } from "./format.js";

export function numberFilterEditor(cell, onRendered, success) {
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

export function numberFilter(wanted, value) {
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
export function metricColumn(field, totals = null) {
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

export function textColumn(title, field, extra = {}) {
  return {
    title, field, headerFilter: "input", headerFilterPlaceholder: "contains",
    formatter: (cell) => text(cell.getValue() === "" ? "(none)" : cell.getValue()), ...extra,
  };
}

// A Tabulator grid in `node` (replacing the one there) and a promise of it, settled once built.
export function grid(node, options) {
  node.tabulator?.destroy();
  const table = new Tabulator(node, {
    layout: "fitDataFill", maxHeight: "460px", placeholder: "No rows for these filters",
    columnDefaults: { headerTooltip: true }, ...options,
  });
  node.tabulator = table;
  return new Promise((resolve) => table.on("tableBuilt", () => resolve(table)));
}
