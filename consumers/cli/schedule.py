"""`cdrflow schedule add|list|remove|run|log`: scheduled e-mail reports."""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson

from consumers.cli.common import EXIT_UNAVAILABLE, EXIT_USAGE
from pipeline.settings import Settings


def cmd_schedule(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.reports.table import to_text_table
    from consumers.schedules.client import schedule_command
    from queries.errors import ReportError

    fields = None
    if args.action == "add":
        fields = {
            "name": args.name, "email": [a.strip() for text in args.email for a in text.split(",") if a.strip()],
            "report": args.report, "every": args.every, "tz": args.tz,
            "group": args.group.split(",") if args.group else [], "customers": args.customer,
            "providers": args.provider, "columns": args.columns.split(",") if args.columns else [],
            "format": args.format, "skip_empty": args.skip_empty,
        }  # fmt: skip
    run = {"period_start": args.period_start, "resend": args.resend} if args.action == "run" else {}
    try:
        answer = asyncio.run(schedule_command(settings, args.action, getattr(args, "schedule", None), fields, **run))
    except ReportError as error:
        print(f"cdrflow: schedule {args.action}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(answer, list) and answer:
        columns = list(answer[0])
        print(to_text_table(columns, [{c: shown(row[c]) for c in columns} for row in answer]))
    elif isinstance(answer, list):
        print("no schedules yet" if args.action == "list" else "no runs yet")
    elif isinstance(answer, dict):
        for warning in answer.pop("warnings", []):
            print(f"cdrflow: schedule {args.action}: warning: {warning}", file=sys.stderr)
        print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    if args.action == "run" and answer["outcome"] in RUN_REFUSED:
        code, why = RUN_REFUSED[answer["outcome"]]
        print(f"cdrflow: schedule run: {answer['period_start']} .. {answer['period_end']}: {why}", file=sys.stderr)
        return code
    return 0


# What `schedule run` exits with when the period was not mailed, and why.
RUN_REFUSED = {
    "done": (EXIT_USAGE, "mailed already; --resend mails it again"),
    "busy": (EXIT_UNAVAILABLE, "another run is mailing this period now"),
    "superseded": (EXIT_UNAVAILABLE, "another run claimed this period at the same moment"),
    "failed": (EXIT_UNAVAILABLE, "the attempt failed (see `cdrflow schedule log`); it is retried"),
}


def shown(value: object) -> object:
    return ",".join(value) if isinstance(value, list) else value


def add_commands(commands: argparse._SubParsersAction) -> None:
    schedule = commands.add_parser(
        "schedule",
        help="scheduled email reports: add, list, remove, run, log",
        description="Through the running worker's API when one answers on CDRFLOW_WEB_PORT, else on the warehouse.",
    )
    actions = schedule.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="add or replace a schedule", description="Add a schedule, or replace one of the same name."
    )
    add.add_argument("--name", required=True)
    add.add_argument("--email", action="append", required=True, help="repeat, or separate by commas, for many")
    add.add_argument("--every", default="daily", help="hourly, daily, weekly, monthly or a 5-field cron expression")
    add.add_argument("--report", default="breakout", help="breakout, dtmf or custom:NAME (a custom report)")
    add.add_argument("--tz", default="UTC", help="IANA time zone of the periods and day groups")
    add.add_argument("--group", help="comma list of groups (default: the report's)")
    add.add_argument("--customer", action="append", default=[], help="repeat for many (default all)")
    add.add_argument("--provider", action="append", default=[], help="repeat for many (default all)")
    add.add_argument("--columns", help="comma list of columns (default all)")
    add.add_argument("--format", default="csv", choices=["csv", "xlsx", "html"], help="the attachment")
    add.add_argument("--skip-empty", action="store_true", help="send nothing for a period without rows")
    actions.add_parser("list", help="every schedule", description="Every schedule.")
    remove = actions.add_parser("remove", help="remove a schedule", description="Remove a schedule.")
    remove.add_argument("schedule", metavar="NAME")
    run = actions.add_parser(
        "run",
        help="mail a period now: the one that just closed, or --period-start's",
        description="Mail the period that just closed, or the past period beginning at --period-start, now. A "
        "period mailed already goes again only with --resend; every attempt is in the run log. Exits 0 when "
        "mailed or skipped as empty, 2 when mailed already, 69 when the attempt failed or another run holds it.",
    )
    run.add_argument("schedule", metavar="NAME")
    run.add_argument(
        "--period-start",
        help="RFC 3339 time, or a date or word (yesterday) in the schedule's zone, where a period begins",
    )
    run.add_argument("--resend", action="store_true", help="mail it even if it was mailed already")
    log = actions.add_parser("log", help="the run log, newest first", description="The run log, newest first.")
    log.add_argument("schedule", metavar="NAME", nargs="?")
    schedule.set_defaults(run=cmd_schedule)
