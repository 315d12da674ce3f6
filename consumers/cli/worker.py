"""`cdrflow worker`, `migrate`, `topics`: the pipeline itself."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pipeline.settings import Settings


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.warehouse.client import connect
    from pipeline.warehouse.migrations import migrate

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


def add_commands(commands: argparse._SubParsersAction) -> None:
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
