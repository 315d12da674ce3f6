"""`cdrflow alert add|list|remove|test|history|firing|silence|silences|unsilence`: alert rules, their
transitions and silences."""

from __future__ import annotations

import argparse
import sys

import orjson

from consumers.cli.common import EXIT_UNAVAILABLE, EXIT_USAGE
from pipeline.settings import Settings


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
    elif args.action == "silence":
        key = dict(pair.partition("=")[::2] for pair in args.key)
        if any(not d or not v for d, v in key.items()) or any("=" not in pair for pair in args.key):
            print("cdrflow: alert silence: --key: dimension=value, e.g. --key provider=carrier-a", file=sys.stderr)
            return EXIT_USAGE
        until = {"for": args.duration} if args.duration else {"until": args.until}
        fields = {"rule": args.rule, "key": key, **until, "reason": args.reason}
    try:
        name = getattr(args, "rule_name", None) or getattr(args, "silence_id", None)
        answer = alert_command(settings, args.action, name, fields, history)
    except ReportError as error:
        print(f"cdrflow: alert {args.action}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "test":
        print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
        failed = [channel for channel in ("email", "webhook") if "error" in answer.get(channel, {})]
        return EXIT_UNAVAILABLE if failed else 0
    if isinstance(answer, list):
        if not answer:
            print({"list": "no alert rules yet", "history": "no transitions", "firing": "nothing firing",
                   "silences": "no silence under way"}[args.action])  # fmt: skip
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    alert = commands.add_parser(
        "alert",
        help="alert rules on the live statistics: add, list, remove, test, history, firing, silence, silences, "
        "unsilence",
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
    alert_test = alert_actions.add_parser(
        "test", help="send a sample transition to a rule's e-mail and webhook",
        description="Send a sample transition (\"transition\": \"test\", signed like the others) to the rule's "
        "e-mail and webhook now, and print what each answered (the SMTP reply, the HTTP status). Not stored in the "
        "history. Exits 69 when a receiver did not take it.",
    )  # fmt: skip
    alert_test.add_argument("rule_name", metavar="NAME")
    alert_history = alert_actions.add_parser(
        "history", help="transitions, newest first", description="Transitions, newest first (times of the live clock)."
    )
    alert_history.add_argument("--rule")
    alert_history.add_argument("--from", dest="start", help="RFC 3339 time")
    alert_history.add_argument("--to", dest="end", help="RFC 3339 time")
    alert_actions.add_parser("firing", help="the keys firing now", description="The keys firing now.")
    alert_silence = alert_actions.add_parser(
        "silence", help="hold back a rule's notifications for a while (a maintenance window)",
        description="Transitions of the rule (or of its keys matching every --key) inside the silence are kept in "
        "the history, marked silenced, and not notified; a key still firing when the silence ends is notified then.",
    )  # fmt: skip
    alert_silence.add_argument("--rule", required=True, help="the rule's name")
    alert_silence.add_argument("--key", action="append", default=[], metavar="DIM=VALUE",
                               help="only keys with this value of a dimension of the rule's scope; repeat for more")  # fmt: skip
    how_long = alert_silence.add_mutually_exclusive_group(required=True)
    how_long.add_argument("--for", dest="duration", metavar="DURATION", help="from now: 30m, 2h, 1d")
    how_long.add_argument("--until", help="RFC 3339 time")
    alert_silence.add_argument("--reason", required=True, help="why, for whoever reads the list")
    alert_actions.add_parser("silences", help="the silences under way", description="The silences under way.")
    alert_unsilence = alert_actions.add_parser("unsilence", help="end a silence now", description="End a silence now.")
    alert_unsilence.add_argument("silence_id", metavar="ID")
    alert.set_defaults(run=cmd_alert)
