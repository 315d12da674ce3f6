"""`cdrflow`: the command line.

Exit codes: 0 success, 2 bad usage, 69 a service (Kafka, ClickHouse) unavailable,
78 bad settings (the message names the variable).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import orjson
from aiokafka.errors import KafkaError
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from consumers.worker import WarehouseNotReady
from pipeline.settings import Settings, SettingsError, get_settings

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_CONFIG = 78


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.warehouse.migrations import migrate
    from pipeline.warehouse.client import connect

    applied = migrate(connect(settings.clickhouse))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.topics import ensure_topics

    created = asyncio.run(ensure_topics(settings))
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline import app as worker_app
    from pipeline.app import app

    worker_app.recovery.skip_lost = args.skip_lost_batches
    sys.argv = ["cdrflow", "worker", "--loglevel", args.loglevel]
    app.main()
    return 0


class _ProgressLines:
    """Progress without a terminal (a log, a pipe): a line at every tenth of the way."""

    def __init__(self, total: int, unit: str) -> None:
        self.total, self.unit, self.done, self.shown = total, unit, 0, 0

    def __enter__(self) -> "_ProgressLines":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: int) -> None:
        self.done += n
        tenths = 10 * self.done // max(self.total, 1)
        if tenths > self.shown:
            self.shown = tenths
            print(f"{self.done}/{self.total} {self.unit} ({100 * self.done // max(self.total, 1)}%)", file=sys.stderr)


def _progress_bar(total: int, unit: str):
    """A progress bar on a terminal, progress lines otherwise."""
    if not sys.stderr.isatty():
        return _ProgressLines(total, unit)
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, file=sys.stderr)


def cmd_generate(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.feed.producer import send_paced
    from consumers.feed.switch import FeedShape, SwitchFeed

    feed = SwitchFeed(FeedShape(customers=args.customers, providers=args.providers, seed=args.seed))
    with _progress_bar(args.rate * args.seconds, "CDR") as bar:
        if args.out is None:
            asyncio.run(send_paced(settings, feed, args.rate, args.seconds, bar.update))
            return 0
        start_ms = int(time.time() * 1000)
        with args.out.open("wb") as out:
            for second in range(args.seconds):
                for event in feed.events(start_ms + second * 1000, args.rate, 1000):
                    out.write(orjson.dumps(event) + b"\n")
                bar.update(args.rate)
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.feed.files import count_records, file_messages
    from consumers.feed.producer import send_messages
    from pipeline.events import parse_message

    if not args.file.is_file():
        print(f"cdrflow: replay: no such file: {args.file}", file=sys.stderr)
        return EXIT_USAGE
    invalid = 0

    def checked(messages: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal invalid
        for message in messages:
            invalid += len(parse_message(message)[1])
            yield message

    with _progress_bar(count_records(args.file), "msg") as bar:
        sent = asyncio.run(send_messages(settings, checked(file_messages(args.file)), bar.update))
    print(f"replayed {sent} message(s) from {args.file} into {settings.topic}")
    if invalid:
        print(
            f"{invalid} event(s) in them are invalid: the worker puts them in {settings.dlq_topic} (`cdrflow dlq` lists them)"
        )
    return 0


def cmd_dlq(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.feed.dead_letters import newest_dead_letters
    from consumers.reports.table import to_text_table

    letters = asyncio.run(newest_dead_letters(settings, args.limit))
    if args.format == "json":
        sys.stdout.buffer.write(
            orjson.dumps([{**letter.as_row(), "event": letter.event.decode(errors="replace")} for letter in letters])
            + b"\n"
        )
        return 0
    if not letters:
        print(f"no dead letters in {settings.dlq_topic}")
        return 0
    rows = [
        letter.as_row() | {"time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(letter.time_ms / 1000))}
        for letter in letters
    ]
    print(to_text_table(["time", "source", "reason", "event"], rows))
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.reports.client import answer_custom, answer_report
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
            options["provider"] = args.provider
            if args.report == "per-number":
                options |= {"number": args.number, "by": [args.by], "calls": ["true"] if args.calls else []}
            else:
                options["group"] = [args.group] if args.group else []
            body = answer_report(settings, args.report, {name: values for name, values in options.items() if values})
    except ReportError as error:
        print(f"cdrflow: report: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.output is None:
        sys.stdout.buffer.write(body)
    else:
        args.output.write_bytes(body)
    return 0


def cmd_sql(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.reports.table import csv_from_typed_rows
    from consumers.sql.client import WorkerSqlPortClosed, run_sql
    from consumers.sql.engine import SqlError

    params = {}
    for pair in args.param:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            print(f"cdrflow: sql: --param wants name=value, got {pair!r}", file=sys.stderr)
            return EXIT_USAGE
        params[name] = value
    try:
        answer = run_sql(settings, args.query, params, args.format)
        sys.stdout.buffer.write(csv_from_typed_rows(answer) if args.format == "csv" else answer)
    except SqlError as error:
        print(f"cdrflow: sql: {error.text}", file=sys.stderr)
        return EXIT_CONFIG if error.code in (194, 516) else EXIT_USAGE if error.status < 500 else EXIT_UNAVAILABLE
    except WorkerSqlPortClosed as error:
        print(f"cdrflow: sql: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


def cmd_custom(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.reports.client import custom_command
    from consumers.reports.table import to_text_table
    from queries.errors import ReportError

    fields = None
    if args.action == "add":
        sql = args.sql if args.sql_file is None else _read_sql(args.sql_file)
        if sql is None:
            print("cdrflow: custom add: give the query with --sql or --sql-file", file=sys.stderr)
            return EXIT_USAGE
        fields = {"name": args.name, "title": args.title, "description": args.description, "sql": sql}
    try:
        answer = custom_command(settings, args.action, getattr(args, "report", None), fields)
    except ReportError as error:
        print(f"cdrflow: custom {args.action}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "list":
        rows = [{**row, "sql": " ".join(row["sql"].split())[:60]} for row in answer]  # type: ignore[union-attr]
        print(to_text_table(["name", "title", "sql"], rows) if rows else "no custom reports yet")
    elif args.action == "show":
        print("\n".join(f"{field}: {value}" for field, value in answer.items() if field != "sql"))  # type: ignore[union-attr]
        print(answer["sql"].strip())  # type: ignore[index]
    else:
        print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    return 0


def cmd_live(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.alerts.client import NoLiveWorker, live_statistics
    from consumers.reports.table import to_text_table
    from queries.errors import ReportError
    from queries.live import LIVE_COLUMNS

    params = {"group": [args.group], "window": [str(args.window)], "customer": args.customer, "provider": args.provider}
    if args.top:
        params["top"] = [str(args.top)]
    while True:
        try:
            answer = live_statistics(settings, {k: v for k, v in params.items() if v})
        except ReportError as error:
            print(f"cdrflow: live: {error}", file=sys.stderr)
            return EXIT_USAGE
        except NoLiveWorker as error:
            print(f"cdrflow: live: {error}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        if args.format == "json":
            print(orjson.dumps(answer).decode(), flush=True)
        else:
            if args.watch and sys.stdout.isatty():
                print("\x1b[2J\x1b[H", end="")
            header = [*args.group.split(","), *LIVE_COLUMNS]
            rows = [{c: "" if row.get(c) is None else row[c] for c in header} for row in answer["rows"]]
            print(f"live clock {answer['clock']} (UTC), last {answer['window']} min, {len(rows)} rows")
            print(to_text_table(header, rows) if rows else "no traffic in the window", flush=True)
        if not args.watch:
            return 0
        time.sleep(5)


def cmd_alert(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.alerts.client import alert_command
    from consumers.reports.table import to_text_table
    from queries.errors import ReportError

    fields, history = None, None
    if args.action == "add":
        fields = {
            "name": args.name, "scope": [d for d in (args.scope or "").split(",") if d], "customers": args.customer,
            "providers": args.provider, "metric": args.metric, "op": args.op, "threshold": args.threshold,
            "reset": args.reset, "window": args.window, "min_attempts": args.min_attempts,
            "email": [a.strip() for text in args.email for a in text.split(",") if a.strip()],
            "webhook": args.webhook or "",
        }  # fmt: skip
    elif args.action == "history":
        history = {k: [v] for k, v in (("rule", args.rule), ("from", args.start), ("to", args.end)) if v}
    try:
        answer = alert_command(settings, args.action, getattr(args, "rule_name", None), fields, history)
    except ReportError as error:
        print(f"cdrflow: alert {args.action}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(answer, list):
        if not answer:
            print({"list": "no alert rules yet", "history": "no transitions", "firing": "nothing firing"}[args.action])
            return 0
        columns = list(answer[0])
        shown = [
            {c: orjson.dumps(v).decode() if isinstance(v, (dict, list)) else v for c, v in row.items()}
            for row in answer
        ]
        print(to_text_table(columns, shown))
    else:
        print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    return 0


def _read_sql(path: Path) -> str:
    return sys.stdin.read() if str(path) == "-" else path.read_text()


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
        print(to_text_table(columns, [{c: _shown(row[c]) for c in columns} for row in answer]))
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


def _shown(value: object) -> object:
    return ",".join(value) if isinstance(value, list) else value


DATES_HELP = (
    "Dates: --from and --to take an RFC 3339 time (2026-11-01T00:00:00Z), a local date in --tz (2026-11-25) "
    "or today, yesterday, this-month, last-month. A date or word is the whole local period: --to includes it, "
    "and without --to the report covers the --from period."
)


def _report_options(parser: argparse.ArgumentParser, columns: bool = True) -> None:
    parser.add_argument("--from", dest="start", required=True, help="RFC 3339 time (inclusive), date or word")
    parser.add_argument("--to", dest="end", help="RFC 3339 time (exclusive), or a date or word (included)")
    parser.add_argument("--tz", default="UTC", help="IANA time zone of dates, words and day/hour/week/month groups")
    parser.add_argument("--customer", action="append", default=[], help="repeat for many")
    if columns:
        parser.add_argument("--columns", help="comma list of columns (default all)")
    parser.add_argument("--format", default="table", choices=["json", "csv", "xlsx", "html", "table"])
    parser.add_argument("--output", type=Path, help="write to this file instead of standard output")
    parser.set_defaults(run=cmd_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdrflow",
        description="Real-time, billing-accurate reports over rated CDRs. Settings come from CDRFLOW_* "
        "variables and ./.env (see README).",
    )
    parser.add_argument("--version", action="version", version=f"cdrflow {version('cdrflow')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "migrate",
        help="apply the ClickHouse schema (idempotent)",
        description="Apply deploy/clickhouse/*.sql not yet applied.",
    ).set_defaults(run=cmd_migrate)
    commands.add_parser(
        "topics",
        help="create the Kafka topics cdrflow needs (idempotent)",
        description="Create the input, dead-letter and internal topics with their partitions and cleanup policies.",
    ).set_defaults(run=cmd_topics)
    worker = commands.add_parser(
        "worker",
        help="run one pipeline worker (same as `faust -A pipeline.app worker`)",
        description="Consume the input topic, keep the aggregates, sink to ClickHouse, serve the HTTP API and metrics.",
    )
    worker.add_argument("--loglevel", "-l", default="info", choices=["crit", "error", "warn", "info", "debug"])
    worker.add_argument(
        "--skip-lost-batches",
        action="store_true",
        help="go on past CDR batches deleted from Kafka before they were applied (logged and counted); "
        "without it the worker stops (exit 69) when it finds them",
    )
    worker.set_defaults(run=cmd_worker)

    dlq = commands.add_parser(
        "dlq",
        help="list the newest dead letters: refused events with their reason and source",
        description="List the newest events the ingest refused (the dead-letter topic, <topic>.dlq): when, the "
        "input topic, partition and offset they came from, why, and the event as sent (times in UTC).",
    )
    dlq.add_argument("--limit", type=_positive, default=50, help="how many, newest last (default 50)")
    dlq.add_argument("--format", choices=["table", "json"], default="table")
    dlq.set_defaults(run=cmd_dlq)

    sql = commands.add_parser(
        "sql",
        help="run one read-only ClickHouse SQL query on the warehouse",
        description="Run one read-only SELECT through the worker's SQL port (CDRFLOW_SQL_PORT), or on the chDB "
        "folder when no worker runs. Bind {name:Type} placeholders with --param name=value. Exits 0, 2 when "
        "ClickHouse refuses the query, 69 when it fails or nothing answers, 78 for a wrong CDRFLOW_API_TOKEN.",
    )
    sql.add_argument("query", help='the SELECT, e.g. "SELECT customer, count() FROM cdr FINAL GROUP BY customer"')
    sql.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a query parameter")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.set_defaults(run=cmd_sql)

    generate = commands.add_parser(
        "generate",
        help="feed the input topic with a realistic synthetic switch feed",
        description="Send RATE CDRs per second for SECONDS seconds (start times now): heavy-tailed customers and "
        "numbers, each customer calling mostly one or two home markets, every number in its destination's range, "
        "ASR 40-60 % per route, 486/487/503/404 failures, DTMF on IVR numbers, rerates and resends.",
    )
    generate.add_argument("--rate", type=_positive, default=1000, help="CDRs per second (default 1000)")
    generate.add_argument("--seconds", type=_positive, default=10, help="how long (default 10)")
    generate.add_argument("--customers", type=_positive, default=20)
    generate.add_argument("--providers", type=_positive, default=6)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--out", type=Path, help="write JSON Lines to this file instead of Kafka (not paced)")
    generate.set_defaults(run=cmd_generate)

    replay = commands.add_parser(
        "replay",
        help="load a CDR file (JSON Lines or CSV) into the input topic",
        description="Send every record of FILE to the input topic: .jsonl lines as they are, .csv rows (header "
        "names the fields) as JSON objects. Invalid records reach the dead-letter topic through the worker.",
    )
    replay.add_argument("file", type=Path, metavar="FILE")
    replay.set_defaults(run=cmd_replay)

    report = commands.add_parser(
        "report",
        help="answer a report: breakout, dtmf, per-number, custom NAME",
        description="Through the running worker's API when one answers on CDRFLOW_WEB_PORT, else from the warehouse.",
    )
    reports = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    for name, text, default_group in (
        ("breakout", "metrics grouped by customer, provider, destinations, switch and time", "customer,provider"),
        ("dtmf", "DTMF digits, calls and cost per digit", "day,provider"),
    ):
        grouped = reports.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}. {DATES_HELP}")
        _report_options(grouped)
        grouped.add_argument("--provider", action="append", default=[], help="repeat for many")
        grouped.add_argument("--group", help=f"comma list of groups in pivot order (default {default_group})")
    per_number = reports.add_parser(
        "per-number",
        help="summary per number and SIP code, or the call list, over at most 6 months",
        description=f"Numbers matched on the dialled number (dest) or the calling number (cli). {DATES_HELP}",
    )
    _report_options(per_number)
    per_number.add_argument("--number", action="append", required=True, help="repeat for many")
    per_number.add_argument("--by", default="dest", choices=["dest", "cli"])
    per_number.add_argument("--calls", action="store_true", help="list every call instead of the summary "
                            "(--columns then chooses among the call's fields)")  # fmt: skip
    per_number.add_argument("--provider", action="append", default=[], help="repeat for many")

    custom = reports.add_parser(
        "custom",
        help="a custom report: a saved read-only query (see `cdrflow custom`)",
        description=f"Run the custom report NAME with the range and filters it binds as {{from}}, {{to}}, {{tz}}, "
        f"{{customers}} and {{providers}}. {DATES_HELP}",
    )
    custom.add_argument("name", metavar="NAME")
    _report_options(custom, columns=False)
    custom.add_argument("--provider", action="append", default=[], help="repeat for many")

    customs = commands.add_parser(
        "custom",
        help="custom reports: add, list, show, remove",
        description="Saved read-only queries everyone can run (`cdrflow report custom NAME`) and schedule "
        "(--report custom:NAME). The SQL is one SELECT that may use {from:DateTime64(3)}, {to:DateTime64(3)}, "
        "{tz:String}, {customers:Array(String)} and {providers:Array(String)} (empty = all); the tables are in "
        "docs/schema.md. Through the running worker's API, else on the warehouse.",
    )
    custom_actions = customs.add_subparsers(dest="action", required=True, metavar="ACTION")
    custom_add = custom_actions.add_parser(
        "add",
        help="save a custom report (or replace one of the same name)",
        description="Save a custom report once its query runs on an empty range; refused (exit 2) with the reason "
        "otherwise, and nothing is saved.",
    )
    custom_add.add_argument("--name", required=True, help="1-64 characters of a-z, 0-9, _ and -")
    custom_add.add_argument("--sql", help="the SELECT")
    custom_add.add_argument("--sql-file", type=Path, help="read the SELECT from this file (- for standard input)")
    custom_add.add_argument("--title", default="", help="shown in the console and in e-mails")
    custom_add.add_argument("--description", default="")
    custom_actions.add_parser("list", help="every custom report", description="Every custom report.")
    for action, text in (("show", "one custom report, its SQL whole"), ("remove", "remove a custom report")):
        one = custom_actions.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        one.add_argument("report", metavar="NAME")
    customs.set_defaults(run=cmd_custom)

    live = commands.add_parser(
        "live",
        help="live statistics: the last minutes of traffic, as the worker keeps them",
        description="Metrics over the last --window minutes of the live clock (CDR end times), per key of "
        "--group, most attempts first, from the running worker. --watch refreshes every 5 s.",
    )
    live.add_argument("--group", default="provider", help="comma list of customer, provider, customer_destination, "
                      "provider_destination, switch; or dest_number (default provider)")  # fmt: skip
    live.add_argument("--window", type=_positive, default=15, help="minutes, 1 to 60 (default 15)")
    live.add_argument("--customer", action="append", default=[], help="repeat for many")
    live.add_argument("--provider", action="append", default=[], help="repeat for many")
    live.add_argument("--top", type=_positive, help="at most this many rows")
    live.add_argument("--format", choices=["table", "json"], default="table")
    live.add_argument("--watch", action="store_true", help="refresh every 5 s until interrupted")
    live.set_defaults(run=cmd_live)

    alert = commands.add_parser(
        "alert",
        help="alert rules on the live statistics: add, list, remove, history, firing",
        description="Rules watch one live metric over a window for every key of their scope and notify by e-mail "
        "and webhook when a key fires and when it resolves. Through the running worker's API, else on the warehouse.",
    )
    alert_actions = alert.add_subparsers(dest="action", required=True, metavar="ACTION")
    alert_add = alert_actions.add_parser(
        "add", help="add or replace a rule", description="Add a rule, or replace one of the same name."
    )
    alert_add.add_argument("--name", required=True)
    alert_add.add_argument("--scope", help="comma list of dimensions (e.g. provider,provider_destination), or "
                           "dest_number; empty = all traffic")  # fmt: skip
    alert_add.add_argument("--metric", required=True, help="a live metric: asr, acd, ner, attempts, ...")
    alert_add.add_argument("--op", required=True, choices=["<", ">"])
    alert_add.add_argument("--threshold", required=True, type=float)
    alert_add.add_argument("--reset", type=float, help="resolve only back past this (default the threshold)")
    alert_add.add_argument("--window", required=True, type=int, help="minutes, 1 to 60")
    alert_add.add_argument("--min-attempts", type=int, default=1, help="attempts the window needs to fire or resolve")
    alert_add.add_argument("--customer", action="append", default=[], help="repeat for many (default all)")
    alert_add.add_argument("--provider", action="append", default=[], help="repeat for many (default all)")
    alert_add.add_argument("--email", action="append", default=[], help="repeat, or separate by commas, for many")
    alert_add.add_argument("--webhook", help="http(s) URL that receives a JSON POST per transition")
    alert_actions.add_parser("list", help="every rule", description="Every rule.")
    alert_remove = alert_actions.add_parser("remove", help="remove a rule", description="Remove a rule.")
    alert_remove.add_argument("rule_name", metavar="NAME")
    alert_history = alert_actions.add_parser(
        "history", help="transitions, newest first", description="Transitions, newest first (times of the live clock)."
    )
    alert_history.add_argument("--rule")
    alert_history.add_argument("--from", dest="start", help="RFC 3339 time")
    alert_history.add_argument("--to", dest="end", help="RFC 3339 time")
    alert_actions.add_parser("firing", help="the keys firing now", description="The keys firing now.")
    alert.set_defaults(run=cmd_alert)

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
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer: {text}")
    return value


def _mark_commands(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand's arguments `command_parser`, itself: its errors show its own usage."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                command.set_defaults(command_parser=command)
                _mark_commands(command)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    _mark_commands(parser)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would print the top-level usage for these
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        settings = get_settings()
    except SettingsError as error:
        print(f"cdrflow: bad setting: {error}", file=sys.stderr)
        return EXIT_CONFIG
    run: Callable[[Settings, argparse.Namespace], int] = args.run
    try:
        return run(settings, args)
    except WarehouseNotReady as error:
        print(f"cdrflow: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (OSError, KafkaError, OperationalError) as error:
        print(f"cdrflow: service unavailable: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except DatabaseError as error:
        print(f"cdrflow: the warehouse refused: {_first_line(error)}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _first_line(error: Exception) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)


if __name__ == "__main__":
    sys.exit(main())
