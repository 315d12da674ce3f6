"""The one guarded read path, on the engine itself: what ClickHouse's parser says a statement is
decides whether it runs; nothing is written on the host's disk; the private tables are refused by
every path; typos answer ClickHouse's own errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from consumers.sql.engine import ReadOnlyRows, ReadOnlySql, SqlError, SqlLimits
from tests.hostile import OUTFILE_FORMS, PRIVATE, PRIVATE_PATHS, SECRET
from tests.services import DOCKER


@pytest.fixture(scope="module")
def guarded(loaded, clickhouse, tmp_path_factory):
    """(run a query on the SQL port's engine, run one as a custom report does, a folder queries aim at, client)."""
    if DOCKER:
        pytest.skip("ReadOnlySql opens the embedded chDB folder")
    client, _, url = loaded
    client.command(f"INSERT INTO custom_reports (name, sql) VALUES ('leak', '{SECRET}')")
    engine = ReadOnlySql(clickhouse.url_base.removeprefix("chdb://"), url.database, SqlLimits(), threads=1)
    rows = ReadOnlyRows(url, SqlLimits(), threads=1)
    target = tmp_path_factory.mktemp("outfile-target")
    yield (
        (lambda sql, **kw: engine.executor.submit(engine.run, sql, "TabSeparated", **kw).result()),
        rows.rows,
        target,
        client,
    )
    engine.close()
    rows.close()


def files_under(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*"))


@pytest.mark.parametrize("form", OUTFILE_FORMS)
def test_into_outfile_in_any_form_is_refused_and_writes_nothing(guarded, form):
    run, rows, target, _ = guarded
    sql = form.format(f=target / "probe.pth")
    with pytest.raises(SqlError) as refused:
        run(sql)
    assert refused.value.status in (400, 403), refused.value.text
    with pytest.raises(SqlError):
        rows(sql)
    assert files_under(target) == []
    assert not any(name.startswith("probe") for name in os.listdir("."))


@pytest.mark.parametrize("table", PRIVATE)
@pytest.mark.parametrize("path", PRIVATE_PATHS)
def test_the_private_tables_are_refused_by_every_path(guarded, loaded, table, path):
    run, rows, _, _ = guarded
    sql = path.format(t=table).replace("cdrflow_db", loaded[2].database)
    with pytest.raises(SqlError) as refused:
        run(sql, params={"x": table})
    assert (refused.value.code, refused.value.status) == (497, 403), refused.value.text
    with pytest.raises(SqlError) as refused_as_a_report:
        rows(sql, {"x": table})
    # a custom report is one SELECT: DESCRIBE and EXPLAIN are refused as such before their tables
    assert refused_as_a_report.value.code == (497 if sql.startswith("SELECT") or sql.startswith("WITH") else 164)
    assert SECRET not in refused.value.text + refused_as_a_report.value.text


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM system.processes",
        "SELECT * FROM system.query_log",
        "SELECT * FROM system.parts",
        "SELECT file('/etc/hostname')",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')",
        "SELECT * FROM executable('id', 'TSV', 'x String')",
        "SELECT * FROM remote('127.0.0.1', system.one)",
        "SELECT * FROM python('x')",
        "SELECT joinGet('custom_reports', 'sql', 'leak')",
    ],
)
def test_table_functions_and_functions_that_read_the_host_are_refused(guarded, sql):
    run, _, _, _ = guarded
    with pytest.raises(SqlError) as refused:
        run(sql)
    assert refused.value.status == 403, refused.value.text


@pytest.mark.parametrize(
    "sql,code,status",
    [
        ("SELEC 1", 62, 400),
        ("SELECT nope FROM cdr", 47, 404),
        ("SELECT * FROM no_such_table", 60, 404),
        ("SELECT 1; SELECT 2", 62, 400),
        ("", 62, 400),
        ("INSERT INTO cdr (id) VALUES ('x')", 164, 403),
        ("DROP TABLE cdr", 164, 403),
        ("KILL QUERY WHERE 1", 164, 403),
        ("SYSTEM FLUSH LOGS", 164, 403),
        ("SELECT 1 SETTINGS readonly = 0", 164, 403),
        ("SELECT 1 SETTINGS max_execution_time = 100000", 164, 403),
    ],
)
def test_mistakes_and_writes_answer_clickhouses_own_code_and_status(guarded, sql, code, status):
    run, _, _, client = guarded
    before = client.query("SELECT count() FROM cdr").result_rows
    with pytest.raises(SqlError) as refused:
        run(sql)
    assert (refused.value.code, refused.value.status) == (code, status), refused.value.text
    assert "parseQueryToJSON" not in refused.value.text
    assert client.query("SELECT count() FROM cdr").result_rows == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count() FROM cdr FINAL",
        "WITH c AS (SELECT customer FROM cdr) SELECT count() FROM c",
        "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name",
        "SELECT name, type FROM system.columns WHERE table = 'cdr'",
        "SHOW TABLES",
        "SHOW DATABASES",
        "DESCRIBE TABLE cdr",
        "EXISTS TABLE agg_number",
        "SHOW CREATE TABLE agg_breakout",
        "EXPLAIN SELECT count() FROM agg_breakout",
        "SELECT sum(number) FROM numbers(10)",
        "SELECT 'INTO OUTFILE ''x''' AS text, 1 IN (1, 2)",
        "SELECT count() FROM cdr WHERE customer IN (SELECT customer FROM agg_breakout)",
        "SELECT * FROM information_schema.tables LIMIT 1",
        "SELECT 1 FORMAT JSON",
    ],
)
def test_what_reads_the_readable_tables_runs(guarded, sql):
    run, _, _, _ = guarded
    assert run(sql) is not None


def test_a_custom_report_is_one_select(guarded):
    _, rows, _, _ = guarded
    assert rows("SELECT count() AS n FROM cdr WHERE start_time >= {from:DateTime64(3)}", {"from": "2000-01-01"})[0] == [
        "n"
    ]
    with pytest.raises(SqlError, match="READONLY"):
        rows("SHOW TABLES")


def test_a_query_text_with_escapes_and_line_breaks_runs_as_written(guarded):
    run, _, _, _ = guarded
    assert run("SELECT 'a\\tb\\\\c' -- a comment\n, 2") == b"a\\tb\\\\c\t2\n"
