// What every tab shares: column names and titles, DOM helpers, the status line, dates in a time
// zone, exact sums of decimal strings.

export const GROUPS = ["customer", "provider", "customer_destination", "provider_destination", "switch", "sip_code",
  "month", "week", "day", "hour"];
export const TIME_GROUPS = new Set(["month", "week", "day", "hour"]);
// Decimal sums arrive as strings with 6 places; they are summed exactly, in millionths.
const DECIMAL_SUMS = new Set(["duration", "customer_duration", "provider_duration", "customer_charge",
  "provider_charge", "profit", "dtmf_customer_charge", "dtmf_provider_charge"]);
const INTEGER_SUMS = new Set(["attempts", "connected", "dtmf", "dtmf_calls", "short_calls"]);
// Durations arrive as exact seconds; people read minutes. Exports keep the API's seconds.
export const MINUTE_COLUMNS = new Set(["duration", "customer_duration", "provider_duration", "acd"]);
export const OPERATORS = [["=", "="], ["!=", "≠"], ["<", "<"], ["<=", "≤"], [">", ">"], [">=", "≥"],
  ["between", "between"]];
// Money columns: their titles name the currency (CDRFLOW_CURRENCY) when one is set.
export const MONEY_COLUMNS = new Set(["customer_charge", "provider_charge", "profit", "provider_cost_per_digit",
  "customer_charge_per_digit", "dtmf_customer_charge", "dtmf_provider_charge", "dtmf_provider_cost_per_digit",
  "dtmf_customer_charge_per_digit"]);
export const CURRENCY = document.querySelector("meta[name=cdrflow-currency]")?.content ?? "";
// Column titles as people read them; the tooltip and the column chooser give the API's name.
export const TITLES = {
  attempts: "Attempts", connected: "Connected", asr: "ASR %", acd: "ACD", duration: "Duration",
  customer_duration: "Customer duration", provider_duration: "Provider duration", customer_charge: "Customer charge",
  provider_charge: "Provider charge", profit: "Profit", profit_percent: "Margin %", pdd_in_avg: "PDD in (ms)",
  pdd_out_avg: "PDD out (ms)", short_calls: "Short calls", short_calls_percent: "Short calls %", dtmf: "DTMF digits",
  dtmf_calls: "DTMF calls", dtmf_percent: "DTMF %", provider_cost_per_digit: "Provider cost / digit",
  customer_charge_per_digit: "Customer charge / digit", dtmf_customer_charge: "Customer charge of DTMF calls",
  dtmf_provider_charge: "Provider charge of DTMF calls", dtmf_provider_cost_per_digit: "Provider cost / digit (DTMF calls)",
  dtmf_customer_charge_per_digit: "Customer charge / digit (DTMF calls)", ner: "NER %",
};
export const MAX_CHART_SERIES = 8;
const MICRO = 1000000n;

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function element(tag, attributes = {}, ...children) {
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
export const text = (value) => document.createTextNode(value ?? "");

export const inMinutes = (seconds) => seconds === null || seconds === undefined || seconds === "" ? null
  : (Number(seconds) / 60).toFixed(2);

// The footer says what the page is doing; an error is also shown beside the filters, where the
// eye is, until the next refresh succeeds.
export function status(text, isError = false) {
  const box = $("#status");
  box.textContent = text;
  box.classList.toggle("error", isError);
  if (isError) notice(text);
}

export function notice(text) {
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
export function startOfDay(date, tz) {
  const [y, m, d] = date.split("-").map(Number);
  const naive = Date.UTC(y, m - 1, d);
  let offset = offsetMinutes(naive, tz);
  offset = offsetMinutes(naive - offset * 60000, tz);
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${date}T00:00:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

export function addDays(date, days) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

const todayIn = (tz) => new Intl.DateTimeFormat("en-CA", { timeZone: tz }).format(new Date());

// The ISO weekday of a YYYY-MM-DD date: 1 (Monday) to 7 (Sunday).
function isoWeekday(date) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).getUTCDay() || 7;
}

// [first, last] days of a quick range in `tz`; the weeks are ISO weeks, from Monday.
export function quickRange(name, tz) {
  const today = todayIn(tz);
  const monday = addDays(today, 1 - isoWeekday(today));
  return {
    today: [today, today],
    yesterday: [addDays(today, -1), addDays(today, -1)],
    week: [monday, today],
    lastweek: [addDays(monday, -7), addDays(monday, -1)],
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
export function totalsOf(rows) {
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

// A comma list as typed in a form field: its values, trimmed, empty ones left out.
export const listOf = (text) => text.split(",").map((v) => v.trim()).filter(Boolean);
