"""`cdrflow generate`, `replay`, `dlq`: CDRs into the input topic, and the ones it refused."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from consumers.cli.common import EXIT_USAGE, positive, progress_bar
from pipeline.settings import Settings


def cmd_generate(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.feed.producer import send_paced
    from consumers.feed.switch import FeedShape, SwitchFeed

    feed = SwitchFeed(FeedShape(customers=args.customers, providers=args.providers, seed=args.seed))
    with progress_bar(args.rate * args.seconds, "CDR") as bar:
        if args.out is None:
            asyncio.run(send_paced(settings, feed, args.rate, args.seconds, bar.update))
            return 0
        start_ms = int(time.time() * 1000) - args.seconds * 1000  # calls that ended in the last `seconds`
        with args.out.open("wb") as out:
            for second in range(args.seconds):
                for event in feed.events(start_ms + second * 1000, args.rate, 1000, ending=True):
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

    with progress_bar(count_records(args.file), "msg") as bar:
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser(
        "generate",
        help="feed the input topic with a realistic synthetic switch feed",
        description="Send RATE CDRs per second for SECONDS seconds (start times now): heavy-tailed customers and "
        "numbers, each customer calling mostly one or two home markets, every number in its destination's range, "
        "ASR 40-60 % per route, 486/487/503/404 failures, DTMF on IVR numbers, rerates and resends.",
    )
    generate.add_argument("--rate", type=positive, default=1000, help="CDRs per second (default 1000)")
    generate.add_argument("--seconds", type=positive, default=10, help="how long (default 10)")
    generate.add_argument("--customers", type=positive, default=20)
    generate.add_argument("--providers", type=positive, default=6)
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

    dlq = commands.add_parser(
        "dlq",
        help="list the newest dead letters: refused events with their reason and source",
        description="List the newest events the ingest refused (the dead-letter topic, <topic>.dlq): when, the "
        "input topic, partition and offset they came from, why, and the event as sent (times in UTC).",
    )
    dlq.add_argument("--limit", type=positive, default=50, help="how many, newest last (default 50)")
    dlq.add_argument("--format", choices=["table", "json"], default="table")
    dlq.set_defaults(run=cmd_dlq)
