"""`cdrflow report breakout|dtmf|per-number|top-numbers|custom`: one report, through the worker or on the folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from consumers.cli.common import EXIT_USAGE
from pipeline.settings import Settings
from queries.top_numbers import MAX_TOP_LIMIT, ORDERS, TOP_LIMIT


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.reports.client import answer_custom, answer_every_call, answer_report
    from consumers.reports.dates import resolve_range
    from queries.errors import ReportError

    try:
        start, end = resolve_range(args.start, args.end, args.tz)
        options = {"from": [start], "to": [end], "customer": args.customer, "format": [args.format], "tz": [args.tz]}
        if args.report == "custom":
            options["provider"] = args.provider
            body = answer_custom(settings, args.name, {name: values for name, values in options.items() if values})
        else:
            options["columns"] = [args.columns] if args.columns else []
            options["provider"] = getattr(args, "provider", [])
            if args.report == "per-number":
                options |= {"number": args.number, "by": [args.by], "calls": ["true"] if args.calls else []}
            elif args.report == "top-numbers":
                options |= {"by": [args.by], "limit": [str(args.limit)]}
            else:
                options["group"] = [args.group] if args.group else []
            asked = {name: values for name, values in options.items() if values}
            every_call = args.report == "per-number" and args.calls
            body = answer_every_call(settings, asked) if every_call else answer_report(settings, args.report, asked)
    except ReportError as error:
        print(f"cdrflow: report: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.output is None:
        sys.stdout.buffer.write(body)
    else:
        args.output.write_bytes(body)
    return 0


DATES_HELP = (
    "Dates: --from and --to take an RFC 3339 time (2026-11-01T00:00:00Z), a local date in --tz (2026-11-25) "
    "or today, yesterday, this-week, last-week (ISO weeks, from Monday), this-month, last-month. A date or word "
    "is the whole local period: --to includes it, and without --to the report covers the --from period."
)


def report_options(parser: argparse.ArgumentParser, columns: bool = True) -> None:
    parser.add_argument("--from", dest="start", required=True, help="RFC 3339 time (inclusive), date or word")
    parser.add_argument("--to", dest="end", help="RFC 3339 time (exclusive), or a date or word (included)")
    parser.add_argument("--tz", default="UTC", help="IANA time zone of dates, words and day/hour/week/month groups")
    parser.add_argument("--customer", action="append", default=[], help="repeat for many")
    if columns:
        parser.add_argument("--columns", help="comma list of columns (default all)")
    parser.add_argument("--format", default="table", choices=["json", "csv", "xlsx", "html", "table"])
    parser.add_argument("--output", type=Path, help="write to this file instead of standard output")
    parser.set_defaults(run=cmd_report)


def add_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="answer a report: breakout, dtmf, per-number, top-numbers, custom NAME",
        description="Through the running worker's API when one answers on CDRFLOW_WEB_PORT, else from the warehouse.",
    )
    reports = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    for name, text, default_group in (
        ("breakout", "metrics grouped by customer, provider, destinations, switch and time", "customer,provider"),
        ("dtmf", "DTMF digits, calls and cost per digit", "day,provider"),
    ):
        grouped = reports.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}. {DATES_HELP}")
        report_options(grouped)
        grouped.add_argument("--provider", action="append", default=[], help="repeat for many")
        grouped.add_argument("--group", help=f"comma list of groups in pivot order (default {default_group})")
    per_number = reports.add_parser(
        "per-number",
        help="summary per number and SIP code, or the call list, over at most 6 months",
        description=f"Numbers matched on the dialled number (dest) or the calling number (cli). {DATES_HELP}",
    )
    report_options(per_number)
    per_number.add_argument("--number", action="append", required=True, help="repeat for many")
    per_number.add_argument("--by", default="dest", choices=["dest", "cli"])
    per_number.add_argument("--calls", action="store_true", help="list every call instead of the summary "
                            "(--columns then chooses among the call's fields)")  # fmt: skip
    per_number.add_argument("--provider", action="append", default=[], help="repeat for many")

    top = reports.add_parser(
        "top-numbers",
        help="the busiest dialled numbers of a range",
        description=f"The busiest dialled numbers, from the per-number sums. {DATES_HELP}",
    )
    report_options(top)
    top.add_argument("--by", default="attempts", choices=list(ORDERS), help="what busiest means (default attempts)")
    top.add_argument("--limit", type=int, default=TOP_LIMIT, help=f"how many numbers, at most {MAX_TOP_LIMIT}")

    custom = reports.add_parser(
        "custom",
        help="a custom report: a saved read-only query (see `cdrflow custom`)",
        description=f"Run the custom report NAME with the range and filters it binds as {{from}}, {{to}}, {{tz}}, "
        f"{{customers}} and {{providers}}. {DATES_HELP}",
    )
    custom.add_argument("name", metavar="NAME")
    report_options(custom, columns=False)
    custom.add_argument("--provider", action="append", default=[], help="repeat for many")
