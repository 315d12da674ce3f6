"""Running scheduled reports: each schedule's period, complete, emailed at most once.

A period is mailed by the timer once the pipeline has caught up past the period's end plus the
grace (CDRFLOW_SCHEDULE_GRACE_MINUTES): a call still running at the end of the period reaches
Kafka only at hang-up, and the ingest may lag. The mail says up to when its data is complete.

Every attempt is written to the run log before anything is sent: 'running' (its claim), then
'sending' once the SMTP server has greeted us and just before the message goes out, then
'sent', 'failed', 'skipped' or 'superseded'. An attempt whose latest status is 'sending',
'sent' or 'skipped' makes its period done: an attempt cut off by a crash while the message was
on its way stays 'sending' and is not repeated (at most once). Runs of one schedule take turns
in a process (a lock per schedule); runs in other processes (a second worker, the command line
on the warehouse) meet in the log: each reads it back after logging its claim, and of the
attempts in flight only the first claim goes on, the others are 'superseded'.

Whatever goes wrong (SMTP unreachable, login or message refused, the connection dropped before
the server accepted the message, ClickHouse, a schedule that no longer makes a valid report)
fails the attempt: it is logged with its error and retried with exponential backoff, and the
timer goes on with the next schedule.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from consumers.mail.smtp import Attachment, SmtpUnavailable, open_smtp, report_message
from consumers.reports.custom import CustomReports, CustomRun
from consumers.reports.request import FORMATS, RunQuery, render_rows, report_rows, report_totals
from consumers.reports.table import to_html
from consumers.schedules.schedule import Cadence, Schedule
from consumers.schedules.store import DONE, BrokenSchedule, ScheduleStore
from consumers.store import Warehouse
from pipeline.settings import SmtpUrl
from pipeline.warehouse.progress import Progress, read_progress
from queries.metrics import MONEY_COLUMNS

log = logging.getLogger(__name__)
HEADLINE = ("attempts", "connected", "asr", "acd", "dtmf", "customer_charge", "provider_charge", "profit")
HEADLINE_AT_MOST = len(HEADLINE)
STATUS_ORDER = {"running": 1, "sending": 2}  # an attempt's later statuses outrank these
IN_FLIGHT = ("running", "sending")
MISSED_PERIODS = 31  # periods a schedule catches up after the workers were stopped over them
CLAIM_HELD = timedelta(minutes=10)  # a claim older than this without an outcome was cut off by a crash


def age_text(age: timedelta) -> str:
    """`4 s`, `3 min`, `2 h 5 min`, `3 d 4 h`."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    days, hours, minutes = seconds // 86400, seconds // 3600 % 24, seconds // 60 % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def complete_text(progress: Progress, tz: str, now: datetime) -> str:
    """How far the data is complete, and how old the workers' newest report of it is."""
    if progress.newest_report is None:
        return "completeness unknown: no worker has reported how far it has caught up"
    age = age_text(now - progress.newest_report)
    if progress.through is None:
        return f"completeness unknown: the newest report of how far the workers have caught up is {age} old"
    return f"complete up to {progress.through.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} ({tz}), as reported {age} ago"


def period_text(schedule: Schedule, start: datetime, end: datetime) -> str:
    """A period as people say it: whole days by their dates, the last one included ("2026-11-16 to
    2026-11-22", one day alone), shorter periods by their times; in the schedule's zone."""
    zone = ZoneInfo(schedule.tz)
    start, end = start.astimezone(zone), end.astimezone(zone)
    if schedule.every in ("daily", "weekly", "monthly"):
        last_day = (end - timedelta(microseconds=1)).date()
        days = f"{start:%Y-%m-%d}" if last_day == start.date() else f"{start:%Y-%m-%d} to {last_day:%Y-%m-%d}"
        return f"{days} ({schedule.tz})"
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({schedule.tz})"


@dataclass(frozen=True)
class PeriodReport:
    """A schedule's report for one period, ready to mail: its rows and, for a built-in report, totals."""

    heading: str  # "Breakout report", or a custom report's title
    header: list[str]
    rows: list[dict]
    totals: dict | None
    title: str
    sheet: str  # the XLSX sheet's name


def summed_columns(header: list[str], rows: list[dict]) -> dict:
    """The sums of a custom report's columns that hold numbers alone and are no ratio or average
    (`asr`, `acd`, `*_percent`, `*_avg`: a sum of those means nothing), as its mail's summary gives them."""
    sums = {}
    for column in header:
        if column in ("asr", "acd") or column.endswith(("_percent", "_avg", "_per_digit")):
            continue
        values = [row[column] for row in rows if row[column] is not None]
        if all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in values):
            sums[column] = sum(values, Decimal(0) if any(isinstance(v, Decimal) for v in values) else 0)
    return sums


def report_email(
    schedule: Schedule, start: datetime, end: datetime, report: PeriodReport, sender: str,
    progress: Progress, currency: str = "", now: datetime | None = None,
) -> EmailMessage:  # fmt: skip
    """The report mail: a summary of the totals in the chosen columns (money with the currency's
    code), the rows attached."""
    period = period_text(schedule, start, end)
    if report.totals is not None:
        totals, named = report.totals, [c for c in HEADLINE if c in report.header]
    else:  # a custom report: the sums of its own columns
        totals = summed_columns(report.header, report.rows)
        named = list(totals)[:HEADLINE_AT_MOST]

    def shown(column: str) -> str:
        value = totals.get(column)
        if value is None:
            return "—"
        return f"{value} {currency}" if currency and column in MONEY_COLUMNS else str(value)

    headline = [f"{c} {shown(c)}" for c in named]
    complete = f"Data {complete_text(progress, schedule.tz, now or datetime.now(timezone.utc))}."
    if report.rows:
        summary = (
            f"{report.heading} {period}: {len(report.rows)} rows"
            + "".join(f"; {item}" if n == 0 else f", {item}" for n, item in enumerate(headline))
            + f". {complete}"
        )
    else:
        summary = f"{report.heading}: 0 rows for {period}. {complete}"
    maintype, subtype = FORMATS[schedule.format].split("/")
    attachment = Attachment(
        f"{schedule.custom_name or schedule.report}-{start:%Y%m%d%H%M}.{schedule.format}",
        render_rows(report.header, report.rows, schedule.format, report.title, report.totals, report.sheet, currency),
        maintype,
        subtype,
    )
    html = to_html(report.header, report.rows[:50], f"{schedule.name}: {period}", intro=summary)
    return report_message(sender, list(schedule.email), f"{schedule.name}: {period}", summary, html, attachment)


def attempt_states(rows: list[dict]) -> list[dict]:
    """One row per attempt at a period (its number and claim): the attempt's latest status, and
    `claimed_at`, when the warehouse stored its first row (rows come in that order)."""
    latest: dict[tuple, dict] = {}
    for row in rows:
        key = (row["attempt"], row["claim"])
        rank = STATUS_ORDER.get(row["status"], 3)
        if key not in latest or rank >= STATUS_ORDER.get(latest[key]["status"], 3):
            latest[key] = {**row, "claimed_at": latest[key]["claimed_at"] if key in latest else row["claimed_at"]}
    return list(latest.values())


def new_run(name: str, start: datetime, end: datetime, states: list[dict], complete_until: datetime | None) -> dict:
    """The run-log fields of a new attempt at a period, after the attempts `states` logged for it."""
    return {"schedule": name, "period_start": start, "period_end": end, "rows": 0, "error": "", "message_id": "",
            "attempt": max((s["attempt"] for s in states), default=0) + 1, "claim": uuid.uuid4().hex,
            "complete_until": complete_until, "started": datetime.now(timezone.utc), "finished": None}  # fmt: skip


def is_done(states: list[dict]) -> bool:
    return any(s["status"] in DONE for s in states)


def in_flight(states: list[dict]) -> list[tuple[datetime, str]]:
    """(claimed_at, claim) of the attempts under way: claimed lately, no outcome yet."""
    held_since = datetime.now(timezone.utc) - CLAIM_HELD
    return [
        (s["claimed_at"], s["claim"])
        for s in states
        if s["status"] in IN_FLIGHT and s["started"].replace(tzinfo=timezone.utc) >= held_since
    ]


def due_periods(cadence: Cadence, cutoff: datetime, first_saved: datetime | None) -> list[tuple[datetime, datetime]]:
    """The periods a schedule mails at `cutoff`, oldest first: the latest closed one, and before it
    those that closed after the schedule was first saved, MISSED_PERIODS in all at most."""
    periods = [cadence.period_before(cutoff)]
    while len(periods) < MISSED_PERIODS and first_saved is not None:
        earlier = cadence.period_before(periods[-1][0])
        if earlier[1] <= first_saved or earlier == periods[-1]:
            break
        periods.append(earlier)
    return periods[::-1]


@dataclass
class ScheduleRunner:
    store: ScheduleStore
    warehouse: Warehouse
    run_query: RunQuery
    smtp: SmtpUrl
    sender: str
    custom: CustomReports
    grace: timedelta = timedelta(minutes=60)
    currency: str = ""  # CDRFLOW_CURRENCY, beside money in the mails
    retry_after: float = 30.0  # seconds before the first retry; doubles per failed attempt
    retry_at_most: float = 3600.0
    locks: dict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))

    async def progress(self) -> Progress:
        """How far the pipeline has caught up (every CDR that reached Kafka before it is counted)."""
        return await self.warehouse.read(lambda: read_progress(self.store.client))

    async def run(self, schedule: Schedule, start: datetime, end: datetime, resend: bool = False) -> str:
        """One attempt at one period now: 'sent', 'skipped' or 'failed'; 'done' when it was mailed
        already (unless `resend`), 'busy' while another attempt is under way, 'superseded' when
        another run claimed the period at the same moment."""
        caught_up = await self.progress()
        async with self.locks[schedule.name]:
            states = attempt_states(await self.warehouse.read(lambda: self.store.attempts(schedule.name, start)))
            if is_done(states) and not resend:
                return "done"
            if in_flight(states):
                return "busy"
            return await self._attempt(schedule, start, end, states, caught_up, resend)

    async def tick(self, now: datetime) -> dict[str, str]:
        """Mail every schedule's periods that are complete (caught up past their end plus the grace)
        and not done or waiting for a retry, oldest first: the latest closed one, and those that
        closed while no worker ran since the schedule was saved (at most MISSED_PERIODS)."""
        caught_up = await self.progress()
        if caught_up.through is None:
            return {}
        cutoff = min(now, caught_up.through - self.grace)
        schedules, broken = await self.warehouse.read(self.store.read_all)
        first_saved = await self.warehouse.read(self.store.first_saved)
        outcomes = {}
        for schedule in [*schedules, *broken]:
            try:
                periods = due_periods(Cadence(schedule.every, schedule.tz), cutoff, first_saved.get(schedule.name))
                logged = await self.warehouse.read(lambda: self.store.attempts_since(schedule.name, periods[0][0]))
                for start, end in periods:
                    async with self.locks[schedule.name]:
                        states = attempt_states(logged.get(start.astimezone(timezone.utc), []))
                        if is_done(states) or in_flight(states) or not self.retry_due(states):
                            continue
                        if isinstance(schedule, BrokenSchedule):
                            outcomes[schedule.name] = await self._refuse(schedule, start, end, states)
                        else:
                            outcomes[schedule.name] = await self._attempt(schedule, start, end, states, caught_up)
            except Exception as error:  # the warehouse failed, or a stored cadence is broken too: tried next tick
                log.warning("scheduled report %r could not be run: %s", schedule.name, error)
                outcomes[schedule.name] = "failed"
        return outcomes

    async def _refuse(self, schedule: BrokenSchedule, start: datetime, end: datetime, states: list[dict]) -> str:
        """A failed attempt in the run log for a stored schedule that makes no valid report."""
        run = new_run(schedule.name, start, end, states, None)
        run["error"] = f"the stored schedule makes no valid report: {schedule.error}"
        log.error("scheduled report %r: %s", schedule.name, run["error"])
        await self.log(run, "failed", finished=True)
        return "failed"

    async def _attempt(
        self, schedule: Schedule, start: datetime, end: datetime, states: list[dict],
        caught_up: Progress, resend: bool = False,
    ) -> str:  # fmt: skip
        """A new attempt at a period after the attempts `states` already logged for it."""
        run = new_run(schedule.name, start, end, states, caught_up.through)
        await self.log(run, "running")
        if not await self._claimed(run, resend):
            await self.log(run, "superseded", finished=True)
            return "superseded"
        try:
            report = await self.period_report(schedule, start, end)
            run["rows"] = len(report.rows)
            if not report.rows and schedule.skip_empty:
                await self.log(run, "skipped", finished=True)
                return "skipped"
            message = await asyncio.to_thread(
                report_email, schedule, start, end, report, self.sender, caught_up, self.currency
            )
            run["message_id"] = message["Message-ID"]
            client = await asyncio.to_thread(open_smtp, self.smtp)
            try:
                await self.log(run, "sending")
                await asyncio.to_thread(client.send_message, message)
            finally:
                await asyncio.to_thread(client.close)
        except Exception as error:  # not accepted by the SMTP server: logged, retried later
            log.warning("scheduled report %r for %s failed: %s", schedule.name, start.isoformat(), error)
            reason = str(error) if isinstance(error, SmtpUnavailable) else f"{type(error).__name__}: {error}"
            await self.log({**run, "error": reason[:2000]}, "failed", finished=True)
            return "failed"
        await self.log(run, "sent", finished=True)
        return "sent"

    async def period_report(self, schedule: Schedule, start: datetime, end: datetime) -> PeriodReport:
        if schedule.custom_name is not None:
            custom = await self.custom.get(schedule.custom_name)
            run = CustomRun(custom, start, end, schedule.tz, schedule.customers, schedule.providers, schedule.format)
            header, rows = await self.custom.run(run)
            return PeriodReport(custom.heading, header, rows, None, run.title, custom.heading)
        request = schedule.request(start, end)

        def rows_and_totals() -> tuple[list[dict], dict | None]:
            # mailed in formats people read
            return request.shown(report_rows(request, self.run_query)), report_totals(request, self.run_query)

        rows, totals = await self.warehouse.report(rows_and_totals)
        return PeriodReport(f"{request.heading} report", request.header, rows, totals, request.title, request.heading)

    async def _claimed(self, run: dict, resend: bool) -> bool:
        """Whether this attempt's claim was stored first, read back from the log after writing it.

        A run that reads the log before a rival's claim is stored sees only its own and goes on;
        the rival, stored later by the warehouse's clock, then sees an earlier claim and stands
        down. Runs that both read after both claims were stored agree on the earlier one."""
        states = attempt_states(
            await self.warehouse.read(lambda: self.store.attempts(run["schedule"], run["period_start"]))
        )
        if is_done(states) and not resend:
            return False
        claims = in_flight(states)
        return bool(claims) and min(claims)[1] == run["claim"]

    async def log(self, run: dict, status: str, finished: bool = False) -> None:
        entry = {**run, "status": status, "finished": datetime.now(timezone.utc) if finished else None}
        await self.warehouse.write(lambda: self.store.insert_run(entry))

    def retry_due(self, states: list[dict]) -> bool:
        failed = [s for s in states if s["status"] == "failed"]
        if not failed:
            return True
        wait = min(self.retry_after * 2 ** (len(failed) - 1), self.retry_at_most)
        last = max(s["finished"] for s in failed).replace(tzinfo=timezone.utc)
        return datetime.now(timezone.utc) >= last + timedelta(seconds=wait)
