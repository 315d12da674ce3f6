"""The limits of read-only queries, on the engine itself: a query past the memory cap stops with
ClickHouse's reason, and the warehouse is as it was."""

from __future__ import annotations

import pytest

from consumers.sql.engine import ReadOnlyRows, ReadOnlySql, SqlError, SqlLimits
from tests.services import DOCKER

HUNGRY = "SELECT groupArray(number) FROM numbers(50000000)"  # about 400 MB of array
SMALL = SqlLimits(max_memory_bytes=64 << 20)


@pytest.mark.skipif(DOCKER, reason="ReadOnlySql opens the embedded chDB folder")
def test_a_query_past_the_memory_cap_is_stopped(loaded, clickhouse):
    client, _, url = loaded
    before = client.query("SELECT count() FROM cdr").result_rows
    engine = ReadOnlySql(clickhouse.url_base.removeprefix("chdb://"), url.database, SMALL, threads=1)
    try:
        with pytest.raises(SqlError, match="MEMORY_LIMIT_EXCEEDED") as refused:
            engine.executor.submit(engine.run, HUNGRY, "TabSeparated").result()
        assert refused.value.code == 241
        assert engine.executor.submit(engine.run, "SELECT 1", "TabSeparated").result() == b"1\n"  # the session lives on
    finally:
        engine.close()
    assert client.query("SELECT count() FROM cdr").result_rows == before


def test_rows_past_the_memory_cap_are_stopped_too(loaded):
    _, _, url = loaded
    reader = ReadOnlyRows(url, SMALL, threads=1)
    try:
        with pytest.raises(SqlError, match="MEMORY_LIMIT_EXCEEDED"):
            reader.rows(HUNGRY)
        assert reader.rows("SELECT 1 AS one") == (["one"], [(1,)])
    finally:
        reader.close()
