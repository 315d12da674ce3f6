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


@pytest.mark.skipif(DOCKER, reason="ReadOnlySql opens the embedded chDB folder")
@pytest.mark.parametrize("fmt", ["RowBinaryWithNamesAndTypes", "TabSeparatedWithNames", "CSVWithNames", "JSON",
                                 "Native", "TabSeparated", "JSONEachRow"])  # fmt: skip
def test_a_large_answer_is_the_whole_answer_in_every_format(loaded, clickhouse, fmt):
    """Streamed block by block, formats with a header would repeat it per block, which a client
    reads as rows (the JDBC driver, on RowBinaryWithNamesAndTypes, lost or misread rows)."""
    _, _, url = loaded
    engine = ReadOnlySql(clickhouse.url_base.removeprefix("chdb://"), url.database, SqlLimits(), threads=1)
    sql = "SELECT number, toString(number) AS text FROM system.numbers LIMIT 300000"
    try:
        streamed = b"".join(engine.executor.submit(lambda: list(engine.chunks(sql, fmt))).result())
        whole = engine.executor.submit(lambda: engine._session().query(sql, fmt).bytes()).result()
    finally:
        engine.close()
    assert len(streamed) > 1_000_000
    if fmt == "JSON":  # its statistics (elapsed time) differ between runs
        streamed, whole = streamed.split(b'"statistics"')[0], whole.split(b'"statistics"')[0]
    assert streamed == whole
