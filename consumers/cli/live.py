"""`cdrflow live`: the last minutes of traffic, from the worker that keeps them."""

from __future__ import annotations

import argparse
import sys
import time

import orjson

from consumers.cli.common import EXIT_UNAVAILABLE, EXIT_USAGE, positive
from pipeline.settings import Settings


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


def add_commands(commands: argparse._SubParsersAction) -> None:
    live = commands.add_parser(
        "live",
        help="live statistics: the last minutes of traffic, as the worker keeps them",
        description="Metrics over the last --window minutes of the live clock (CDR end times), per key of "
        "--group, most attempts first, from the running worker. --watch refreshes every 5 s.",
    )
    live.add_argument("--group", default="provider", help="comma list of customer, provider, customer_destination, "
                      "provider_destination, switch; or dest_number (default provider)")  # fmt: skip
    live.add_argument("--window", type=positive, default=15, help="minutes, 1 to 60 (default 15)")
    live.add_argument("--customer", action="append", default=[], help="repeat for many")
    live.add_argument("--provider", action="append", default=[], help="repeat for many")
    live.add_argument("--top", type=positive, help="at most this many rows")
    live.add_argument("--format", choices=["table", "json"], default="table")
    live.add_argument("--watch", action="store_true", help="refresh every 5 s until interrupted")
    live.set_defaults(run=cmd_live)
