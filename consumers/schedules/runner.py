"""Running scheduled reports: each schedule's period that just closed, emailed at most once.

Every attempt is written to the run log before anything is sent: 'running', then 'sending'
once the SMTP server has greeted us and just before the message goes out, then 'sent',
'failed' or 'skipped'. A period with a 'sending', 'sent' or 'skipped' row is done, so a restart
(or a second scheduler) never mails a period twice: an attempt cut off while the message was
on its way stays 'sending' and is not repeated. An SMTP server that cannot be reached, refuses
the login or answers the message with an error code fails the attempt, which is retried with
exponential backoff.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

from consumers.mail.smtp import Attachment, open_smtp, report_message
from consumers.reports.request import FORMATS, ReportRequest, RunQuery, render, report_rows
from consumers.reports.table import to_html
from consumers.schedules.schedule import Schedule
from consumers.schedules.store import DONE, ScheduleStore
from pipeline.settings import SmtpUrl

Warehouse = Callable[[Callable[[], Any]], Awaitable[Any]]  # runs blocking warehouse work
HEADLINE = ("attempts", "connected", "dtmf", "customer_charge", "provider_charge", "profit")


def report_email(schedule: Schedule, request: ReportRequest, rows: list[dict], sender: str) -> EmailMessage:
    start, end = request.query.start, request.query.end
    period = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({schedule.tz})"
    totals = {c: sum((r[c] for r in rows), Decimal(0)) for c in HEADLINE if c in request.header}
    summary = f"{schedule.report.title()} report {period}: {len(rows)} rows; " + ", ".join(
        f"{c} {v}" for c, v in totals.items()
    )
    maintype, subtype = FORMATS[schedule.format].split("/")
    attachment = Attachment(
        f"{schedule.report}-{start:%Y%m%d%H%M}.{schedule.format}", render(request, rows), maintype, subtype
    )
    html = to_html(request.header, rows[:50], f"{schedule.name}: {period}", intro=summary)
    return report_message(sender, list(schedule.email), f"{schedule.name}: {period}", summary, html, attachment)


@dataclass
class ScheduleRunner:
    store: ScheduleStore
    warehouse: Warehouse
    run_query: RunQuery
    smtp: SmtpUrl
    sender: str
    retry_after: float = 30.0  # seconds before the first retry; doubles per failed attempt
    retry_at_most: float = 3600.0

    async def run(self, schedule: Schedule, start: datetime, end: datetime) -> str:
        """One attempt at one period unless it is done; returns 'done', 'sent', 'skipped' or 'failed'."""
        attempts = await self.warehouse(lambda: self.store.attempts(schedule.name, start))
        if any(a["status"] in DONE for a in attempts):
            return "done"
        return await self._attempt(schedule, start, end, attempts)

    async def _attempt(self, schedule: Schedule, start: datetime, end: datetime, attempts: list[dict]) -> str:
        """A new attempt at a period that is not done, after the `attempts` already logged for it."""
        run = {"schedule": schedule.name, "period_start": start, "period_end": end, "rows": 0, "error": "",
               "message_id": "", "attempt": max((a["attempt"] for a in attempts), default=0) + 1,
               "started": datetime.now(timezone.utc), "finished": None}  # fmt: skip
        await self.log(run, "running")
        try:
            request = schedule.request(start, end)
            rows = await self.warehouse(lambda: report_rows(request, self.run_query))
            run["rows"] = len(rows)
            if not rows and schedule.skip_empty:
                await self.log(run, "skipped", finished=True)
                return "skipped"
            message = report_email(schedule, request, rows, self.sender)
            run["message_id"] = message["Message-ID"]
            client = await asyncio.to_thread(open_smtp, self.smtp)
        except Exception as error:  # nothing was sent: log it, retry later
            await self.log({**run, "error": f"{type(error).__name__}: {error}"[:2000]}, "failed", finished=True)
            return "failed"
        try:
            await self.log(run, "sending")
            await asyncio.to_thread(client.send_message, message)
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as refused:  # answered no: nothing sent
            await self.log({**run, "error": f"{type(refused).__name__}: {refused}"[:2000]}, "failed", finished=True)
            return "failed"
        finally:
            await asyncio.to_thread(client.close)
        await self.log(run, "sent", finished=True)
        return "sent"

    async def log(self, run: dict, status: str, finished: bool = False) -> None:
        entry = {**run, "status": status, "finished": datetime.now(timezone.utc) if finished else None}
        await self.warehouse(lambda: self.store.record(entry))

    def retry_due(self, attempts: list[dict]) -> bool:
        failed = [a for a in attempts if a["status"] == "failed"]
        if not failed:
            return True
        wait = min(self.retry_after * 2 ** (len(failed) - 1), self.retry_at_most)
        last = max(a["finished"] for a in failed).replace(tzinfo=timezone.utc)
        return datetime.now(timezone.utc) >= last + timedelta(seconds=wait)

    async def tick(self, now: datetime) -> dict[str, str]:
        """Run every schedule whose period closed by `now` is not done and not waiting for a retry."""
        outcomes = {}
        for schedule in await self.warehouse(self.store.all):
            start, end = schedule.period_before(now)
            attempts = await self.warehouse(lambda name=schedule.name, since=start: self.store.attempts(name, since))
            if any(a["status"] in DONE for a in attempts) or not self.retry_due(attempts):
                continue
            outcomes[schedule.name] = await self._attempt(schedule, start, end, attempts)
        return outcomes
