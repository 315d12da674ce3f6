"""The report console in headless Chromium against a worker on real data: the page at `/` asks
for the API token once, filters by customer, pivots, searches numbers and manages schedules.
Each test saves a screenshot of its tab under var/screenshots/ for a person to look at."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from consumers.feed.switch import FeedShape, SwitchFeed
from consumers.mail.catcher import MailCatcher
from consumers.worker import WorkerProcess, free_port
from pipeline.settings import Settings
from tests.cdr_factory import newest_revisions, publish
from tests.services import DOCKER, RunningBroker, pipeline_settings

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")

# `make test` names the browser, so there a missing one fails instead of skipping.
CHROMIUM = os.environ.get("CDRFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
TOKEN = "console-s3cret"
NOV_1_MS = 1_793_491_200_000  # 2026-11-01T00:00:00Z
DAYS = "from=2026-11-01&to=2026-11-07&tz=UTC"  # every CDR below starts in these seven days
HOSTILE = "<svg/onload=window.pwned=1>"  # what a switch may put in any text field of a CDR
HOSTILE_NUMBER = "447700900999"


@pytest.fixture(scope="module")
def events() -> list[dict]:
    feed = SwitchFeed(FeedShape(customers=8, providers=4, numbers=300, seed=3))
    hostile = {"id": "hostile-1", "start_time": NOV_1_MS + 3_600_000, "customer": HOSTILE, "provider": "carrier-a",
               "customer_destination": HOSTILE, "cli": HOSTILE, "dest_number": HOSTILE_NUMBER, "sip_code": 200,
               "duration": 30, "customer_charge": "1.000000"}  # fmt: skip
    return [*feed.events(NOV_1_MS, 6000, 7 * 86_400_000), hostile]


@pytest.fixture(scope="module")
def worker(kafka: RunningBroker, events, tmp_path_factory) -> Iterator[WorkerProcess]:
    folder = tmp_path_factory.mktemp("console")
    settings = pipeline_settings(kafka.url, f"t{uuid.uuid4().hex[:10]}", folder)
    publish(settings, events)
    worker = WorkerProcess.on_folder(settings, folder)
    worker.env["CDRFLOW_API_TOKEN"] = TOKEN
    worker.env["CDRFLOW_CURRENCY"] = "EUR"
    worker.env["CDRFLOW_SMTP"] = f"smtp://127.0.0.1:{free_port()}"  # nobody listens: a run now fails
    worker.start()
    try:
        worker.wait_until_caught_up(len(events))
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        if "CDRFLOW_TEST_CHROMIUM" in os.environ:
            pytest.fail(f"no Chromium at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (make test installs it)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(worker, browser):  # the worker first: its setup runs asyncio, which Playwright's loop would refuse
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    page.base = f"http://127.0.0.1:{worker.port}"
    yield page
    context.close()
    assert not errors, errors


def open_console(page, query: str) -> None:
    """Opens the console and answers its one question for the API token."""
    page.goto(f"{page.base}/?{query}")
    page.fill("#token-dialog input[name=token]", TOKEN)
    page.click("#token-dialog button[type=submit]")
    settled(page)


def wait_until(page, expression: str, timeout: float = 60.0) -> None:
    """Until `expression` is true in the page. (Playwright's wait_for_function evaluates its
    predicate with eval, which the console's Content-Security-Policy forbids, as it should.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true after {timeout} s: {expression}"
        page.wait_for_timeout(100)


def settled(page) -> None:
    page.wait_for_selector("body:not(.busy)", timeout=60_000)
    assert "error" not in (page.get_attribute("#status", "class") or ""), page.inner_text("#status")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def total_cell(page, tab: str, field: str) -> str:
    return page.inner_text(f"#tab-{tab} .tabulator-calcs-bottom .tabulator-cell[tabulator-field={field}]").strip()


def grid_data(page, selector: str) -> list[dict]:
    return page.evaluate(f"document.querySelector({selector!r}).tabulator.getData('active')")


def test_filtering_by_a_customer_shows_its_totals(page, events):
    newest = [e for e in newest_revisions(events).values() if e["customer"] == "cust-002"]
    open_console(page, DAYS)
    page.click("#customers summary")
    page.check("#customers input[value=cust-002]")
    page.click("#refresh")
    settled(page)

    assert {row["_label"] for row in grid_data(page, "#tab-breakout .grid")} == {"cust-002"}
    assert total_cell(page, "breakout", "attempts") == str(len(newest))
    assert total_cell(page, "breakout", "connected") == str(sum(200 <= e["sip_code"] < 300 for e in newest))
    charge = sum(Decimal(e.get("customer_charge", "0")) for e in newest)
    assert total_cell(page, "breakout", "customer_charge") == f"{charge:.6f}"
    seconds = sum(Decimal(str(e.get("duration", 0))) for e in newest)
    assert total_cell(page, "breakout", "duration") == f"{seconds / 60:.2f}"  # minutes, two decimals
    duration_title = "#tab-breakout .tabulator-col[tabulator-field=duration] .tabulator-col-title"
    assert page.inner_text(duration_title).strip() == "Duration (min)"
    charge_title = "#tab-breakout .tabulator-col[tabulator-field=customer_charge] .tabulator-col-title"
    assert page.inner_text(charge_title).strip() == "Customer charge (EUR)"  # CDRFLOW_CURRENCY
    assert "customer=cust-002" in page.url  # the view can be shared
    page.click("#customers summary")
    screenshot(page, "breakout")


def test_a_column_filter_narrows_the_rows_their_totals_and_the_export(page, events):
    open_console(page, f"{DAYS}&breakout_group=customer")
    attempts = {row["_label"]: row["attempts"] for row in grid_data(page, "#tab-breakout .grid")}
    header = page.locator("#tab-breakout .tabulator-col[tabulator-field=attempts] .number-filter")
    header.locator("select").select_option(">=")
    header.locator("input").first.fill("1000")
    kept = sorted(c for c, n in attempts.items() if n >= 1000)
    wait_until(
        page, f"document.querySelector('#tab-breakout .grid').tabulator.getData('active').length === {len(kept)}"
    )

    shown = grid_data(page, "#tab-breakout .grid")
    assert sorted(r["_label"] for r in shown) == kept
    assert total_cell(page, "breakout", "attempts") == str(sum(n for n in attempts.values() if n >= 1000))
    assert total_cell(page, "breakout", "_label") == "Total (filtered)"

    with page.expect_download() as download:  # the export holds what is shown
        page.click("#tab-breakout .export[data-format=csv]")
    lines = Path(download.value.path()).read_text().splitlines()
    header = lines[0].split(",")
    exported = {cells[0]: int(cells[header.index("attempts")]) for cells in (line.split(",") for line in lines[1:])}
    assert exported == {c: attempts[c] for c in kept} | {"Total": sum(attempts[c] for c in kept)}
    assert 0 < len(kept) < len(attempts)


def test_hidden_columns_stay_out_of_the_export(page, events):
    open_console(page, f"{DAYS}&breakout_group=customer")
    page.click("#tab-breakout .chooser summary")
    page.uncheck("#tab-breakout .chooser input[value=dtmf]")
    assert not page.is_visible("#tab-breakout .tabulator-col[tabulator-field=dtmf]")
    assert "breakout_hide=dtmf" in page.url
    page.click("#tab-breakout .chooser summary")
    with page.expect_download() as download:
        page.click("#tab-breakout .export[data-format=csv]")
    lines = Path(download.value.path()).read_text().splitlines()
    header = lines[0].split(",")
    assert header[:6] == ["customer", "attempts", "connected", "asr", "acd", "duration"] and "dtmf" not in header
    newest = newest_revisions(events).values()
    exported = {cells[0]: cells[header.index("duration")] for cells in (line.split(",") for line in lines[1:])}
    seconds = {
        customer: sum(Decimal(str(e.get("duration", 0))) for e in newest if e["customer"] == customer)
        for customer in {e["customer"] for e in newest}
    }
    # the exact seconds of the API, not the minutes on screen, and the totals row last
    assert exported == {c: f"{s:.6f}" for c, s in seconds.items()} | {"Total": f"{sum(seconds.values()):.6f}"}
    assert lines[-1].startswith("Total,")


def test_a_second_row_group_pivots_with_drill_down(page, events):
    newest = newest_revisions(events).values()
    routes = sorted({e["provider_destination"] for e in newest if e["provider"] == "carrier-b"})
    open_console(page, f"{DAYS}&breakout_group=provider")
    page.select_option("#tab-breakout .add-group", "provider_destination")
    settled(page)

    assert [c.strip() for c in page.locator("#tab-breakout .chip span").all_inner_texts()] == [
        "provider", "provider_destination"
    ]  # fmt: skip
    providers = grid_data(page, "#tab-breakout .grid")
    assert sorted(p["_label"] for p in providers) == sorted({e["provider"] for e in newest})
    row = page.locator("#tab-breakout .tabulator-row", has_text="carrier-b").first
    row.locator(".tabulator-data-tree-control").click()
    for route in routes:
        assert page.locator("#tab-breakout .tabulator-row", has_text=route).count() >= 1
    carrier_b = next(p for p in providers if p["_label"] == "carrier-b")
    assert sorted(child["_label"] for child in carrier_b["_children"]) == routes
    assert sum(child["attempts"] for child in carrier_b["_children"]) == carrier_b["attempts"]

    row.locator(".tabulator-cell[tabulator-field=attempts]").click()  # select the row: the chart follows it
    wait_until(page, "document.querySelector('#tab-breakout .chart-note').textContent.startsWith('1 selected')")
    assert "breakout_group=provider%2Cprovider_destination" in page.url
    screenshot(page, "breakout-pivot")

    page.reload()  # the URL brings the same view back, and the token is not asked again
    settled(page)
    assert not page.is_visible("#token-dialog")
    assert len(page.locator("#tab-breakout .chip").all()) == 2


def test_dtmf_tab_counts_digits_per_day_and_provider(page, events):
    newest = newest_revisions(events).values()
    open_console(page, f"{DAYS}&tab=dtmf")
    assert total_cell(page, "dtmf", "dtmf") == str(sum(e.get("dtmf", 0) for e in newest))
    assert page.locator("#tab-dtmf .chip span").all_inner_texts() == ["day", "provider"]
    screenshot(page, "dtmf")


def test_per_number_searches_two_numbers(page, events):
    newest = newest_revisions(events).values()
    numbers = sorted({e["dest_number"] for e in newest if e["sip_code"] == 200})[:2]
    open_console(page, f"{DAYS}&tab=per-number")
    page.fill("#numbers", "\n".join(numbers))
    page.click("#tab-per-number button[type=submit]")
    settled(page)

    summary = grid_data(page, "#tab-per-number .summary")
    assert {r["number"] for r in summary} == set(numbers)
    calls = grid_data(page, "#tab-per-number .calls")
    assert sorted(c["id"] for c in calls) == sorted(e["id"] for e in newest if e["dest_number"] in numbers)
    assert sum(r["attempts"] for r in summary) == len(calls)
    assert "6 months" in page.inner_text("#tab-per-number .hint")
    first_start = page.inner_text("#tab-per-number .calls .tabulator-row >> nth=0 >> [tabulator-field=start_time]")
    assert first_start.startswith("2026-11-0") and "T" not in first_start and "+" not in first_start
    with page.expect_download() as download:
        page.click("#tab-per-number .export-calls")
    exported = Path(download.value.path()).read_text().splitlines()
    assert exported[0].startswith("id,rev,start_time,") and len(exported) == 1 + len(calls)
    screenshot(page, "per-number")


def test_per_number_without_numbers_lists_the_top_numbers_and_a_click_opens_one(page, events):
    newest = newest_revisions(events).values()
    busiest = Counter(e["dest_number"].removeprefix("+") for e in newest).most_common()
    open_console(page, f"{DAYS}&tab=per-number")
    assert page.inner_text("#tab-per-number .summary-title").startswith("Top numbers by attempts")
    top = grid_data(page, "#tab-per-number .summary")
    assert len(top) == min(50, len(busiest)) and top[0]["attempts"] == busiest[0][1]
    assert [r["attempts"] for r in top] == sorted((r["attempts"] for r in top), reverse=True)
    screenshot(page, "per-number-top-numbers")
    page.click("#tab-per-number .summary .tabulator-row >> nth=0")
    settled(page)
    assert page.input_value("#numbers") == top[0]["number"]
    assert {r["number"] for r in grid_data(page, "#tab-per-number .summary")} == {top[0]["number"]}
    assert page.inner_text("#tab-per-number .summary-title") == "Summary by SIP code"


def test_per_number_pages_its_calls_a_thousand_at_a_time(page, events):
    newest = list(newest_revisions(events).values())
    numbers: list[str] = []
    for number, _ in Counter(e["dest_number"] for e in newest if e["dest_number"] != HOSTILE_NUMBER).most_common():
        numbers.append(number)
        expected = sorted(e["id"] for e in newest if e["dest_number"] in numbers)
        if len(expected) > 1000:
            break
    assert 1000 < len(expected) < 2000 and len(numbers) < 200
    open_console(page, f"{DAYS}&tab=per-number")
    page.fill("#numbers", "\n".join(numbers))
    page.click("#tab-per-number button[type=submit]")
    settled(page)
    assert len(grid_data(page, "#tab-per-number .calls")) == 1000
    page.click("#tab-per-number .more-calls")
    page.wait_for_selector("#tab-per-number .more-calls", state="hidden")  # the last page came
    assert sorted(c["id"] for c in grid_data(page, "#tab-per-number .calls")) == expected


def test_a_schedule_made_in_the_form_is_listed_run_and_deleted(page):
    open_console(page, "tab=schedules")
    form = page.locator("#tab-schedules .schedule-form")
    form.locator("input[name=name]").fill("daily-cust-001")
    form.locator("input[name=email]").fill("noc@example.com, billing@example.com")
    form.locator("input[name=customers]").fill("cust-001")
    form.locator("select[name=format]").select_option("xlsx")
    form.locator("button[type=submit]").click()
    wait_until(page, "document.querySelector('#status').textContent.includes('added')")
    settled(page)

    listed = grid_data(page, "#tab-schedules .schedules")
    assert [(s["name"], s["email"], s["customers"], s["format"]) for s in listed] == [
        ("daily-cust-001", ["noc@example.com", "billing@example.com"], ["cust-001"], "xlsx")
    ]  # fmt: skip
    assert "next run (UTC)" in page.inner_text("#tab-schedules .schedules .tabulator-header")
    assert listed[0]["next_run"][:16].replace("T", " ") in page.inner_text("#tab-schedules .schedules")
    page.locator("#tab-schedules .schedules button", has_text="Run now").click()
    page.wait_for_selector("#tab-schedules .runs .tabulator-row.failed", timeout=60_000)
    runs = grid_data(page, "#tab-schedules .runs")
    assert runs[0]["schedule"] == "daily-cust-001" and runs[0]["status"] == "failed" and runs[0]["error"]
    screenshot(page, "schedules")

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#tab-schedules .schedules button", has_text="Delete").click()
    wait_until(page, "document.querySelector('#status').textContent.includes('deleted')")
    settled(page)
    assert grid_data(page, "#tab-schedules .schedules") == []


def test_text_from_cdrs_is_shown_as_text_and_never_runs(page, events):
    open_console(page, f"{DAYS}&breakout_group=customer,customer_destination")
    response = page.request.get(f"{page.base}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    cell = page.locator("#tab-breakout .tabulator-cell[tabulator-field=_label]", has_text=HOSTILE)
    assert cell.inner_text().strip() == HOSTILE
    cell.locator(".tabulator-data-tree-control").click()  # open the row: its destination is hostile too
    page.wait_for_selector(f"#tab-breakout .tabulator-tree-level-1 >> text={HOSTILE}")
    page.click("#customers summary")
    assert page.locator("#customers label", has_text=HOSTILE).count() == 1
    page.click("#customers summary")

    page.click("[data-tab=per-number]")
    page.fill("#numbers", HOSTILE_NUMBER)
    page.click("#tab-per-number button[type=submit]")
    settled(page)
    assert page.locator("#tab-per-number .calls .tabulator-cell[tabulator-field=cli]").inner_text().strip() == HOSTILE
    page.check("#tab-per-number input[value=cli]")  # by caller: the hostile text heads its group
    page.fill("#numbers", HOSTILE)
    page.click("#tab-per-number button[type=submit]")
    settled(page)
    assert page.locator("#tab-per-number .summary .tabulator-group").inner_text().strip().startswith(HOSTILE)
    assert page.locator(".tabulator-cell svg, .tabulator-group svg").count() == 0  # no markup made of it
    assert page.evaluate("window.pwned") is None
    screenshot(page, "hostile-text")


def test_a_time_zone_typo_in_the_link_falls_back_to_utc_and_says_so(page):
    open_console(page, "from=2026-11-01&to=2026-11-07&tz=Mars/Olympus")
    assert page.input_value("#tz") == "UTC"
    assert 'Unknown time zone "Mars/Olympus"' in page.inner_text("#notice")
    assert [s.get_attribute("id") for s in page.locator("section.tab:visible").all()] == ["tab-breakout"]
    assert "tz=UTC" in page.url


def test_per_number_lists_calls_in_the_chosen_zone_and_errors_show_beside_the_form(page, events):
    number = next(e["dest_number"] for e in events if e["sip_code"] == 200)
    open_console(page, "from=2026-11-01&to=2026-11-07&tz=Asia/Kolkata&tab=per-number")
    page.fill("#numbers", number)
    page.click("#tab-per-number button[type=submit]")
    settled(page)
    starts = [c["start_time"] for c in grid_data(page, "#tab-per-number .calls")]
    assert starts and all(s.endswith("+05:30") for s in starts)
    page.fill("#numbers", "12a")
    page.click("#tab-per-number button[type=submit]")
    wait_until(page, "!document.querySelector('#notice').hidden")
    assert "number: not a dialled number: '12a'" in page.inner_text("#notice")
    screenshot(page, "per-number-error")


@pytest.mark.parametrize(
    "day,zone,start",
    [
        ("2026-11-01", "Asia/Kathmandu", "2026-11-01T00:00:00+05:45"),
        ("2026-11-01", "Asia/Kolkata", "2026-11-01T00:00:00+05:30"),
        ("2026-03-08", "America/New_York", "2026-03-08T00:00:00-05:00"),  # the day clocks go forward
        ("2026-03-09", "America/New_York", "2026-03-09T00:00:00-04:00"),
        ("2026-11-01", "America/St_Johns", "2026-11-01T00:00:00-02:30"),
    ],
)
def test_a_chosen_day_begins_at_local_midnight_in_the_chosen_zone(page, day, zone, start):
    open_console(page, DAYS)
    begins = f"import('/console/format.js').then((format) => format.startOfDay({day!r}, {zone!r}))"
    assert page.evaluate(begins) == start


def test_a_tab_in_the_link_opens_with_either_spelling_and_an_unknown_one_is_said(page):
    open_console(page, f"{DAYS}&tab=per_number")
    assert page.is_visible("#tab-per-number") and not page.is_visible("#tab-breakout")
    page.click(".tabs button[data-tab=live]")
    settled(page)
    assert not page.is_visible("#from") and not page.is_visible(".quick")  # the live tab has no date range
    assert "2026-11-01 to" not in page.inner_text("#status")
    page.goto(f"{page.base}/?{DAYS}&tab=nope")
    settled(page)
    assert page.is_visible("#tab-breakout") and 'Unknown tab "nope"' in page.inner_text("#notice")


def test_the_week_buttons_choose_iso_weeks_from_monday(page):
    open_console(page, DAYS)
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    page.click("button[data-range=week]")
    assert (page.input_value("#from"), page.input_value("#to")) == (monday.isoformat(), today.isoformat())
    page.click("button[data-range=lastweek]")
    last_sunday = monday - timedelta(days=1)
    assert (page.input_value("#from"), page.input_value("#to")) == (
        (monday - timedelta(days=7)).isoformat(), last_sunday.isoformat(),
    )  # fmt: skip


def test_a_custom_report_is_written_run_saved_and_offered_to_schedules_in_the_reports_tab(page, events):
    open_console(page, f"tab=reports&{DAYS}&customer=cust-002&customer=cust-003")
    assert "cdr" in page.inner_text("#tab-reports .schema")
    form = page.locator("#tab-reports .custom-form")
    form.locator("textarea[name=sql]").fill("SELECT customer, count() AS calls FROM cdr FINAL WHERE no_such_column = 1")
    form.locator("button.run").click()
    page.wait_for_selector("#tab-reports .report-error:not([hidden])", timeout=60_000)
    assert "no_such_column" in page.inner_text("#tab-reports .report-error")

    form.locator("input[name=name]").fill("calls-by-customer")
    form.locator("input[name=title]").fill("Calls by customer")
    form.locator("textarea[name=sql]").fill(
        "SELECT customer, count() AS calls, sum(customer_charge) AS charged FROM cdr FINAL\n"
        "WHERE start_time >= {from:DateTime64(3)} AND start_time < {to:DateTime64(3)}\n"
        "  AND (empty({customers:Array(String)}) OR has({customers:Array(String)}, customer))\n"
        "GROUP BY customer ORDER BY customer"
    )
    form.locator("button.run").click()
    wait_until(page, "document.querySelector('#tab-reports .report-error').hidden")
    settled(page)
    newest = [e for e in newest_revisions(events).values() if e["customer"] in ("cust-002", "cust-003")]
    expected = {
        c: (
            sum(1 for e in newest if e["customer"] == c),
            sum(Decimal(str(e.get("customer_charge", 0))) for e in newest if e["customer"] == c),
        )
        for c in ("cust-002", "cust-003")
    }
    shown = grid_data(page, "#tab-reports .custom-result")
    assert {r["customer"]: (r["calls"], Decimal(r["charged"])) for r in shown} == expected

    form.locator("button.save").click()
    wait_until(page, "document.querySelector('#status').textContent.includes('saved')")
    settled(page)
    assert [r["name"] for r in grid_data(page, "#tab-reports .custom-list")] == ["calls-by-customer"]
    assert "report=calls-by-customer" in page.url
    with page.expect_download() as download:
        form.locator(".export[data-format=csv]").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "customer,calls,charged" and len(lines) == 3
    screenshot(page, "reports")

    form.locator("textarea[name=sql]").fill("INSERT INTO cdr (id) VALUES ('x')")
    form.locator("button.save").click()
    wait_until(page, "!document.querySelector('#tab-reports .report-error').hidden")
    assert "a custom report is one read-only SELECT" in page.inner_text("#tab-reports .report-error")

    page.click("[data-tab=schedules]")
    settled(page)
    options = page.eval_on_selector_all("#tab-schedules select[name=report] option", "os => os.map(o => o.value)")
    assert options == ["breakout", "dtmf", "custom:calls-by-customer"]
    page.select_option("#tab-schedules select[name=report]", "custom:calls-by-customer")
    assert page.is_disabled("#tab-schedules input[name=group]")


def test_the_live_tab_shows_the_windows_marks_firing_keys_and_manages_rules(page, worker, kafka, tmp_path):
    open_console(page, "tab=live&live_window=60")
    form = page.locator("#tab-live .rule-form")
    form.locator("input[name=name]").fill("bad-asr")
    form.locator("input[name=scope]").fill("provider")
    form.locator("input[name=threshold]").fill("30")
    form.locator("input[name=reset]").fill("20")  # on the wrong side: refused beside the form
    form.locator("input[name=window]").fill("5")
    form.locator("input[name=min_attempts]").fill("10")
    form.locator("input[name=email]").fill("noc@example.com")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#tab-live .rule-error:not([hidden])", timeout=60_000)
    assert "reset: at or above the threshold 30" in page.inner_text("#tab-live .rule-error")
    form.locator("input[name=reset]").fill("45")
    form.locator("button[type=submit]").click()
    wait_until(page, "document.querySelector('#tab-live .rules').tabulator.getData().length === 1")
    assert [r["name"] for r in grid_data(page, "#tab-live .rules")] == ["bad-asr"]
    assert page.is_hidden("#tab-live .rule-error")

    smtp_port = int(worker.env["CDRFLOW_SMTP"].rsplit(":", 1)[1])
    with MailCatcher(tmp_path / "outbox", port=smtp_port) as catcher:  # a mail server, for the test alone
        page.locator("#tab-live .rules button", has_text="Send test").click()
        wait_until(page, "document.querySelector('#tab-live .rule-test').textContent.includes('250')")
    said = page.inner_text("#tab-live .rule-test")
    assert said.startswith("Test of bad-asr (test-") and "e-mail to noc@example.com: 250 Message accepted" in said
    assert [p.read_bytes().split(b"Subject: ")[1].split(b"\n")[0].strip() for p in catcher.handler.saved] == [
        b"[cdrflow] TEST bad-asr: provider=test asr 30"]  # fmt: skip
    screenshot(page, "live-send-test")
    assert grid_data(page, "#tab-live .history") == [], "a test is no transition"

    nov_8 = NOV_1_MS + 7 * 86_400_000
    bad = [{"id": f"bad-{m}-{n}", "start_time": nov_8 + m * 60_000 + n * 2_000, "customer": "cust-001",
            "provider": "carrier-bad", "dest_number": "442071234567", "sip_code": 503, "duration": 0}
           for m in range(20) for n in range(20)]  # fmt: skip
    settings = Settings.from_env({k: v for k, v in worker.env.items() if k.startswith("CDRFLOW_")}, env_file=None)
    sending = threading.Thread(target=publish, args=(settings, bad))  # Playwright holds this thread's event loop
    sending.start()
    sending.join()
    page.wait_for_selector("#tab-live .live-table .tabulator-row.firing", timeout=60_000)
    marked = page.locator("#tab-live .live-table .tabulator-row.firing .tabulator-cell[tabulator-field=provider]")
    assert marked.inner_text().strip() == "carrier-bad"
    rows = {r["provider"]: r for r in grid_data(page, "#tab-live .live-table")}
    assert rows["carrier-bad"]["asr"] == 0 and rows["carrier-bad"]["attempts"] > 0
    assert [a["key"] for a in grid_data(page, "#tab-live .firing-alerts")] == [{"provider": "carrier-bad"}]
    assert "live clock 2026-11-08 00:1" in page.inner_text("#tab-live .live-clock")
    assert "The live clock trails the wall clock by" in page.inner_text("#tab-live .live-clock-apart")
    screenshot(page, "live")

    page.once("dialog", lambda dialog: dialog.accept("carrier maintenance"))
    page.locator("#tab-live .firing-alerts button", has_text="Silence 2 h").click()
    wait_until(page, "document.querySelector('#tab-live .silences').tabulator.getData().length === 1")
    (silence,) = grid_data(page, "#tab-live .silences")
    assert (silence["rule"], silence["key"], silence["reason"]) == ("bad-asr", {"provider": "carrier-bad"},
                                                                    "carrier maintenance")  # fmt: skip
    screenshot(page, "live-silenced")
    page.locator("#tab-live .silences button", has_text="End").click()
    wait_until(page, "document.querySelector('#tab-live .silences').tabulator.getData().length === 0")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#tab-live .rules button", has_text="Delete").click()
    wait_until(page, "document.querySelector('#status').textContent.includes('bad-asr deleted')")
    assert grid_data(page, "#tab-live .firing-alerts") == []
    history = grid_data(page, "#tab-live .history")
    assert [(h["transition"], h["reason"]) for h in history][:2] == [("resolved", "rule removed"),
                                                                     ("fired", "asr 0 < 30")]  # fmt: skip
