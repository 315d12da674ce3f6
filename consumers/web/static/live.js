// Live statistics and alerts: the live windows, rules and what fires.
import { api } from "./api.js";
import { filters } from "./filters.js";
import { $, element, listOf, status, text } from "./format.js";
import { grid, metricColumn, textColumn } from "./grid.js";
import { page } from "./page.js";

const LIVE_METRICS = ["attempts", "connected", "asr", "acd", "ner", "pdd_in_avg", "pdd_out_avg", "short_calls",
  "short_calls_percent", "customer_charge", "provider_charge", "profit", "dtmf"];
const LIVE_REFRESH_MS = 5000;
// How far the live clock trails or leads the wall clock (less the grace), when by more than the grace.
function clockApart(behind, grace) {
  if (behind == null || Math.abs(behind) <= grace) return "";
  const seconds = Math.abs(behind);
  const parts = [[86400, "d"], [3600, "h"], [60, "min"]].reduce(([left, text], [size, unit]) =>
    left >= size ? [left % size, [...text, `${Math.floor(left / size)} ${unit}`]] : [left, text], [seconds, []])[1];
  return behind > 0
    ? `The live clock trails the wall clock by ${parts.join(" ")}: CDRs are being replayed or caught up, and alerts come at their own time.`
    : `The live clock leads the wall clock by ${parts.join(" ")}: this worker's clock may be behind.`;
}
const sameKey = (key, row) => Object.entries(key).every(([dimension, value]) => row[dimension] === value);

export class LiveView {
  constructor(section) {
    this.section = section;
    this.form = $(".live-form", section);
    this.ruleForm = $(".rule-form", section);
    this.ruleError = $(".rule-error", section);
    const metric = this.ruleForm.elements.metric;
    metric.replaceChildren(...LIVE_METRICS.map((m) => new Option(m, m, false, m === "asr")));
    this.form.addEventListener("change", () => page.refresh());
    this.form.addEventListener("submit", (event) => { event.preventDefault(); page.refresh(); });
    this.ruleForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.addRule().catch((e) => status(e.message, true));
    });
    // While the tab is shown the table follows the live clock; a refresh already under way is let be.
    setInterval(() => {
      if (page.tab === "live" && !document.body.classList.contains("busy")) page.refresh();
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
    await page.refresh();
    status(`rule ${rule.name} added`);
  }

  async removeRule(name) {
    if (!confirm(`Delete the alert rule ${name}?`)) return;
    await api(`/api/alert-rules/${encodeURIComponent(name)}`, { method: "DELETE" });
    await page.refresh();
    status(`rule ${name} deleted`);
  }

  // A sample transition to the rule's e-mail and webhook; what each receiver answered, shown below the rules.
  async sendTest(name) {
    const shown = $(".rule-test", this.section);
    shown.textContent = `sending a test of ${name}…`;
    shown.hidden = false;
    const answer = await api(`/api/alert-rules/${encodeURIComponent(name)}/test`, { method: "POST", body: {} });
    const said = [];
    if (answer.email) said.push(`e-mail to ${answer.email.to.join(", ")}: ${answer.email.answer ?? `failed: ${answer.email.error}`}`);
    if (answer.webhook) said.push(`webhook ${answer.webhook.url}: ${answer.webhook.status ?? `failed: ${answer.webhook.error}`}`);
    shown.textContent = `Test of ${name} (${answer.alert_id}): ${said.join("; ")}`;
    shown.classList.toggle("failed", Boolean(answer.email?.error || answer.webhook?.error));
  }

  async silence(alert) {
    const reason = prompt(`Silence ${alert.rule} for 2 hours (${Object.entries(alert.key).map(([d, v]) => `${d}=${v}`).join(", ") || "all traffic"}). Why?`);
    if (!reason) return;
    await api("/api/silences", { method: "POST", body: { rule: alert.rule, key: alert.key, for: "2h", reason } });
    await page.refresh();
    status(`${alert.rule} silenced for 2 hours`);
  }

  async unsilence(id) {
    await api(`/api/silences/${encodeURIComponent(id)}`, { method: "DELETE" });
    await page.refresh();
    status(`silence ${id} ended`);
  }

  async refresh() {
    const group = this.group.split(",");
    const params = { group: this.group, window: this.window, customer: filters.customers.selected,
      provider: filters.providers.selected };
    if (this.group === "dest_number") { params.top = "20"; delete params.customer; delete params.provider; }
    const [live, firing, rules, history, silences] = await Promise.all([
      api("/api/live", { params }), api("/api/alerts"), api("/api/alert-rules"), api("/api/alerts/history"),
      api("/api/silences"),
    ]);
    const firingHere = firing.filter((alert) => Object.keys(alert.key).join(",") === this.group);
    $(".live-clock", this.section).textContent = live.clock
      ? `live clock ${live.clock.slice(0, 19).replace("T", " ")} UTC · last ${live.window} min` : "no traffic yet";
    const apart = live.clock ? clockApart(live.behind_seconds, live.grace_seconds) : "";
    const warning = $(".live-clock-apart", this.section);
    warning.textContent = apart;
    warning.hidden = !apart;
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
      { title: "reason", field: "reason", formatter: (cell) => text(cell.getValue()), widthGrow: 2 },
      { title: "silenced", field: "silenced", formatter: (cell) => text(cell.getValue() ? "silenced" : "") },
    ];
    const silenceButton = (cell) => {
      const button = element("button", { type: "button", text: "Silence 2 h" });
      button.addEventListener("click", () => this.silence(cell.getRow().getData()).catch((e) => status(e.message, true)));
      return button;
    };
    await grid($(".firing-alerts", this.section), { layout: "fitColumns", data: firing,
      columns: [...alertColumns, { title: "", field: "alert_id", formatter: silenceButton, headerSort: false, minWidth: 110 }],
      placeholder: "Nothing is firing", rowFormatter: (row) => row.getElement().classList.add("firing") });
    const endButton = (cell) => {
      const button = element("button", { type: "button", class: "danger", text: "End" });
      button.addEventListener("click", () => this.unsilence(cell.getValue()).catch((e) => status(e.message, true)));
      return button;
    };
    await grid($(".silences", this.section), {
      layout: "fitColumns", data: silences, placeholder: "No silence under way",
      columns: [
        { title: "id", field: "id" }, { title: "rule", field: "rule", formatter: (cell) => text(cell.getValue()) },
        { title: "key", field: "key", formatter: keyText, widthGrow: 2 },
        { title: "from (UTC)", field: "starts", formatter: time }, { title: "until (UTC)", field: "ends", formatter: time },
        { title: "reason", field: "reason", formatter: (cell) => text(cell.getValue()), widthGrow: 2 },
        { title: "", field: "id", formatter: endButton, headerSort: false, minWidth: 80 },
      ],
    });
    const list = (cell) => text((cell.getValue() ?? []).join(", ") || "all");
    const remove = (cell) => {
      const test = element("button", { type: "button", class: "send-test", text: "Send test" });
      test.addEventListener("click", () => this.sendTest(cell.getValue()).catch((e) => status(e.message, true)));
      const button = element("button", { type: "button", class: "danger", text: "Delete" });
      button.addEventListener("click", () => this.removeRule(cell.getValue()).catch((e) => status(e.message, true)));
      return element("span", {}, test, button);
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
        { title: "", field: "name", formatter: remove, headerSort: false, minWidth: 190 },
      ],
    });
    await grid($(".history", this.section), { layout: "fitColumns", data: history, columns: alertColumns,
      placeholder: "No transitions yet", maxHeight: "300px" });
    return `${live.rows.length} keys, ${firing.length} firing`;
  }
}
