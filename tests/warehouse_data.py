"""A warehouse loaded with known CDRs the way the pipeline sinks them, for report tests."""

import asyncio
import uuid

import orjson
import pytest

from pipeline.events import parse_message
from pipeline.migrations import migrate
from pipeline.settings import parse_warehouse_url
from pipeline.sink import ClickHouseSink
from pipeline.state import CdrState
from pipeline.warehouse import connect
from tests.cdr_factory import BASE_MS, make_cdrs, newest_revisions

NOW_MS = BASE_MS + 60 * 86_400_000


class NoChangelog:
    async def __call__(self, partition, entries) -> None:
        pass


@pytest.fixture(scope="module")
def loaded(clickhouse, tmp_path_factory):
    """A warehouse holding make_cdrs(4000) as the pipeline sinks them, in batches of 500."""
    url = parse_warehouse_url("CDRFLOW_CLICKHOUSE", clickhouse.url(f"loaded_{uuid.uuid4().hex[:10]}"))
    client = connect(url)
    migrate(client)
    events = make_cdrs(4000, seed=5, rerate_share=0.2)
    state, sink = CdrState({}, NoChangelog()), ClickHouseSink(lambda: connect(url))

    async def load() -> None:
        for offset, start in enumerate(range(0, len(events), 500)):
            rows = [list(c) for e in events[start : start + 500] for c in parse_message(orjson.dumps(e), NOW_MS)[0]]
            changes = state.plan(0, offset, rows, day=20_700)
            await sink.write(changes)
            await state.record(changes)

    asyncio.run(load())
    return client, newest_revisions(events), url
