"""`cdrflow custom add|list|show|remove`: saved read-only queries."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from consumers.cli.common import EXIT_USAGE, read_sql
from pipeline.settings import Settings


def cmd_custom(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.reports.client import custom_command
    from consumers.reports.table import to_text_table
    from queries.errors import ReportError

    fields = None
    if args.action == "add":
        sql = args.sql if args.sql_file is None else read_sql(args.sql_file)
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


def add_commands(commands: argparse._SubParsersAction) -> None:
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
