"""`cdrflow`: the command line, one module per command group.

Exit codes: 0 success, 2 bad usage, 69 a service (Kafka, ClickHouse) unavailable,
78 bad settings (the message names the variable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import version

from aiokafka.errors import KafkaError
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from consumers.cli import alert, custom, feed, live, report, schedule, sql, worker
from consumers.cli.common import EXIT_CONFIG, EXIT_UNAVAILABLE
from consumers.worker import WarehouseNotReady
from pipeline.settings import Settings, SettingsError, get_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdrflow",
        description="Real-time, billing-accurate reports over rated CDRs. Settings come from CDRFLOW_* "
        "variables and ./.env (see README).",
    )
    parser.add_argument("--version", action="version", version=f"cdrflow {version('cdrflow')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (worker, feed, sql, report, custom, live, alert, schedule):
        group.add_commands(commands)
    return parser


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
