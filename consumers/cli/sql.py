"""`cdrflow sql`: one read-only query, through the worker's SQL port or on the folder."""

from __future__ import annotations

import argparse
import sys

from consumers.cli.common import EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_USAGE
from pipeline.settings import Settings


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


def add_commands(commands: argparse._SubParsersAction) -> None:
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
