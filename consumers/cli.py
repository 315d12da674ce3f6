"""`cdrflow`: the command line.

Exit codes: 0 success, 2 bad usage, 69 a service (Kafka, ClickHouse) unavailable,
78 bad settings (the message names the variable).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

from aiokafka.errors import KafkaError
from clickhouse_connect.driver.exceptions import OperationalError

from pipeline.settings import Settings, SettingsError, get_settings

EXIT_UNAVAILABLE = 69
EXIT_CONFIG = 78


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.migrations import migrate
    from pipeline.warehouse import connect

    applied = migrate(connect(settings.clickhouse))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.topics import ensure_topics

    created = asyncio.run(ensure_topics(settings))
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.app import app

    sys.argv = ["cdrflow", "worker", "--loglevel", args.loglevel]
    app.main()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdrflow",
        description="Real-time, billing-accurate reports over rated CDRs. Settings come from CDRFLOW_* "
        "variables and ./.env (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "migrate", help="apply the ClickHouse schema (idempotent)", description="Apply deploy/clickhouse/*.sql not yet applied."
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
    worker.set_defaults(run=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as error:
        print(f"cdrflow: bad setting: {error}", file=sys.stderr)
        return EXIT_CONFIG
    run: Callable[[Settings, argparse.Namespace], int] = args.run
    try:
        return run(settings, args)
    except (OSError, KafkaError, OperationalError) as error:
        print(f"cdrflow: service unavailable: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
