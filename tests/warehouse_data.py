"""A warehouse loaded with known CDRs the way the pipeline sinks them, for report tests."""

import asyncio
import dataclasses
import uuid
from pathlib import Path

import orjson
import pytest

from pipeline.events import parse_message
from pipeline.settings import parse_warehouse_url
from pipeline.state.cdr_state import CdrState
from pipeline.state.store import MemoryStates
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import SCHEMA_DIR, migrate
from pipeline.warehouse.sink import ClickHouseSink
from tests.cdr_factory import BASE_MS, make_cdrs, newest_revisions

NOW_MS = BASE_MS + 90 * 86_400_000


class NoChangelog:
    async def __call__(self, partition, entries) -> int:
        return 0


def load_events(url, events: list[dict], rows_per_batch: int = 500, schema_dir: Path = SCHEMA_DIR, states=None) -> None:
    """Sink `events` into the warehouse at `url` as the pipeline does: dedup state (`states`, kept
    between calls when given), signed batches; the schema of `schema_dir` applied first."""
    migrate(connect(url), schema_dir)
    states = {} if states is None else states
    state, sink = CdrState(MemoryStates(states, lambda cdr_id: 0), NoChangelog()), ClickHouseSink(lambda: connect(url))
    first = int(states.get(b"m|0", b"-1")) + 1

    async def load() -> None:
        for offset, start in enumerate(range(0, len(events), rows_per_batch), start=first):
            chunk = events[start : start + rows_per_batch]
            rows = [list(c) for e in chunk for c in parse_message(orjson.dumps(e), NOW_MS)[0]]
            changes = state.plan(0, offset, rows, day=20_700)
            await sink.insert_batch(changes, uuid.uuid4().hex)  # a batch message of its own
            await state.mark_applied(changes)

    asyncio.run(load())


def fresh_url(clickhouse, name: str):
    """A database of its own in the session's ClickHouse."""
    database = f"{name}_{uuid.uuid4().hex[:10]}"
    return dataclasses.replace(parse_warehouse_url("CDRFLOW_CLICKHOUSE", clickhouse.url(database)), database=database)


@pytest.fixture(scope="module")
def loaded(clickhouse, tmp_path_factory):
    """A warehouse holding make_cdrs(4000) as the pipeline sinks them, in batches of 500."""
    url = fresh_url(clickhouse, "loaded")
    events = make_cdrs(4000, seed=5, rerate_share=0.2)
    load_events(url, events)
    return connect(url), newest_revisions(events), url
