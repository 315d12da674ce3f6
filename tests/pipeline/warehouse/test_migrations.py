import os
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import load_migrations, migrate
from tests.cdr_factory import make_cdrs, newest_revisions
from tests.services import DOCKER
from tests.warehouse_data import load_events


def schema(client) -> list[tuple[str, str]]:
    return client.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() ORDER BY name"
    ).result_rows


def test_every_schema_file_is_applied_once_and_recorded(warehouse_url):
    client = connect(warehouse_url)
    applied = migrate(client)
    assert applied == [m.name for m in load_migrations()]
    tables = {name for name, _ in schema(client)}
    assert {"cdr", "agg_breakout", "agg_number", "schedules", "schedule_runs", "schema_migrations"} <= tables


def test_applying_twice_leaves_the_same_schema(warehouse_url):
    client = connect(warehouse_url)
    migrate(client)
    before = schema(client)
    assert migrate(client) == []
    assert schema(client) == before


def test_a_half_applied_migration_is_completed(warehouse_url):
    client = connect(warehouse_url)
    first = load_migrations()[0]
    client.command(first.statements()[0])  # applied, but not recorded (a crash in between)
    assert first.name in migrate(client)
    assert (
        client.command("SELECT count() FROM schema_migrations WHERE name = {n:String}", parameters={"n": first.name})
        == 1
    )


def test_raw_cdrs_keep_the_newest_revision(warehouse_url):
    client = connect(warehouse_url)
    migrate(client)
    columns = ["id", "rev", "start_time", "customer", "dest_number", "sip_code", "customer_charge"]
    t = datetime(2026, 11, 2, 10, tzinfo=timezone.utc)
    client.insert("cdr", [["a", 1, t, "acme", "4477", 200, Decimal("1.100000")]], column_names=columns)
    client.insert("cdr", [["a", 0, t, "acme", "4477", 200, Decimal("9.000000")]], column_names=columns)
    client.insert("cdr", [["a", 1, t, "acme", "4477", 200, Decimal("1.100000")]], column_names=columns)
    assert client.query("SELECT count(), sum(customer_charge) FROM cdr FINAL").result_rows == [(1, Decimal("1.1"))]


def test_a_rerate_moved_to_another_month_leaves_only_its_new_row(warehouse_url):
    client = connect(warehouse_url)
    migrate(client)
    columns = ["id", "rev", "start_time", "customer", "dest_number", "sip_code", "is_deleted"]
    october, september = datetime(2026, 10, 5, tzinfo=timezone.utc), datetime(2026, 9, 1, tzinfo=timezone.utc)
    client.insert("cdr", [["a", 0, october, "acme", "4477", 200, 0]], column_names=columns)
    # what the sink writes for rev 1 moved to September: the new row, and a tombstone in October
    client.insert(
        "cdr",
        [["a", 1, september, "acme", "4477", 200, 0], ["a", 1, october, "acme", "4477", 200, 1]],
        column_names=columns,
    )
    newest = "SELECT id, rev, toMonth(start_time) FROM cdr FINAL"
    assert client.query(newest).result_rows == [("a", 1, 9)]
    assert client.query(newest + " WHERE toMonth(start_time) = 10").result_rows == []
    client.command("OPTIMIZE TABLE cdr FINAL")
    assert client.query(newest).result_rows == [("a", 1, 9)]


@pytest.mark.skipif(DOCKER, reason="exercises the embedded chDB folder")
def test_migrate_command_on_a_fresh_chdb_folder(tmp_path):
    env = {**os.environ, "CDRFLOW_CLICKHOUSE": f"chdb://{tmp_path / 'ch'}"}
    run = [sys.executable, "-m", "consumers.cli", "migrate"]
    first = subprocess.run(run, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"applied {len(load_migrations())} migration(s)")
    again = subprocess.run(run, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (again.returncode, again.stdout.strip()) == (0, "applied 0 migration(s)")


def test_migrate_command_names_a_bad_setting(tmp_path):
    env = {**os.environ, "CDRFLOW_CLICKHOUSE": "mysql://nope"}
    done = subprocess.run(
        [sys.executable, "-m", "consumers.cli", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 78
    assert "CDRFLOW_CLICKHOUSE" in done.stderr


def dtmf_call_charges(client) -> dict[str, tuple[int, int]]:
    rows = client.query(
        "SELECT customer, sum(dtmf_customer_charge_micros), sum(dtmf_provider_charge_micros) FROM agg_breakout "
        "GROUP BY customer HAVING sum(attempts) != 0"
    ).result_rows
    return {customer: (int(c), int(p)) for customer, c, p in rows}


def dtmf_call_charges_of(events: list[dict]) -> dict[str, tuple[int, int]]:
    sums: dict[str, list[int]] = {}
    for e in newest_revisions(events).values():
        row = sums.setdefault(e["customer"], [0, 0])
        if 200 <= e["sip_code"] <= 299 and e.get("dtmf", 0) > 0:
            row[0] += int(Decimal(str(e.get("customer_charge", 0))) * 10**6)
            row[1] += int(Decimal(str(e.get("provider_charge", 0))) * 10**6)
    return {customer: tuple(row) for customer, row in sums.items()}


def schema_before(tmp_path, first_left_out: str):
    """A schema folder with the migrations before `first_left_out` alone (the warehouse as it was)."""
    before = tmp_path / "schema"
    before.mkdir()
    for migration in load_migrations():
        if migration.name < first_left_out:
            (before / migration.name).write_text(migration.sql)
    return before


def test_the_dtmf_call_charges_cover_the_cdrs_stored_before_them(warehouse_url, tmp_path):
    """008 adds the charges of the DTMF calls to the aggregates: for the CDRs already stored (from
    their newest revisions) and, through the view, for every batch after; applied twice, once."""
    before = schema_before(tmp_path, "008")
    events = make_cdrs(3000, seed=44, rerate_share=0.2)
    later = make_cdrs(1000, seed=45, rerate_share=0.2)
    later += [{**e, "rev": e.get("rev", 0) + 5, "customer_charge": "0.5"} for e in events[::7]]  # rerates
    states: dict = {}
    load_events(warehouse_url, events, schema_dir=before, states=states)
    client = connect(warehouse_url)
    assert "008_dtmf_call_charges.sql" in migrate(client)
    assert dtmf_call_charges(client) == dtmf_call_charges_of(events)
    assert any(c for c, _ in dtmf_call_charges(client).values())

    for statement in load_migrations()[-1].statements():  # applied again, as after a crash before its record
        client.command(statement)
    assert dtmf_call_charges(client) == dtmf_call_charges_of(events)

    load_events(warehouse_url, later, states=states)
    assert dtmf_call_charges(client) == dtmf_call_charges_of(events + later)


def short_calls_by_number(client) -> dict[tuple[str, str], int]:
    rows = client.query(
        "SELECT toString(kind), number, sum(short_calls) FROM agg_number GROUP BY kind, number HAVING sum(short_calls) != 0"
    ).result_rows
    return {(kind, number): int(n) for kind, number, n in rows}


def short_calls_by_number_of(events: list[dict]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for e in newest_revisions(events).values():
        if 200 <= e["sip_code"] <= 299 and Decimal(str(e.get("duration", 0))) < 6:
            for kind in ("dest", "cli"):
                number = e["dest_number"] if kind == "dest" else e.get("cli", "")
                if number:
                    counts[(kind, number)] = counts.get((kind, number), 0) + 1
    return counts


def test_the_short_calls_by_number_cover_the_cdrs_stored_before_them(warehouse_url, tmp_path):
    """010 adds short calls to the per-number aggregates: for the CDRs already stored and, through
    the view, for every batch after (rerates taken back); applied twice, once."""
    before = schema_before(tmp_path, "010")
    events = make_cdrs(3000, seed=46, rerate_share=0.2)
    later = make_cdrs(1000, seed=47, rerate_share=0.2)
    later += [{**e, "rev": e.get("rev", 0) + 5, "duration": 2, "sip_code": 200} for e in events[::7]]  # rerates
    states: dict = {}
    load_events(warehouse_url, events, schema_dir=before, states=states)
    client = connect(warehouse_url)
    assert migrate(client) == ["010_number_short_calls.sql"]
    assert short_calls_by_number(client) == short_calls_by_number_of(events) != {}
    for statement in next(m for m in load_migrations() if m.name.startswith("010")).statements():
        client.command(statement)  # again, as after a crash before its record
    assert short_calls_by_number(client) == short_calls_by_number_of(events)
    load_events(warehouse_url, later, states=states)
    assert short_calls_by_number(client) == short_calls_by_number_of(events + later)


@pytest.mark.skipif(DOCKER, reason="a restart of the embedded chDB engine")
def test_a_batch_inserted_again_after_a_restart_is_dropped_by_every_view(tmp_path):
    """The views drop a batch that comes again with its token, also when the warehouse was opened
    anew in between (a worker restarted after a crash between its insert and its record)."""
    script = (
        "import asyncio, sys, orjson\n"
        "from pipeline.events import parse_message\n"
        "from pipeline.warehouse.migrations import migrate\n"
        "from pipeline.settings import parse_warehouse_url\n"
        "from pipeline.warehouse.sink import ClickHouseSink\n"
        "from pipeline.state.cdr_state import CdrState\n"
        "from pipeline.state.store import MemoryStates\n"
        "from pipeline.warehouse.client import connect\n"
        "from tests.cdr_factory import make_cdrs\n"
        "from tests.warehouse_data import NOW_MS, NoChangelog\n"
        "client = connect(parse_warehouse_url('CDRFLOW_CLICKHOUSE', sys.argv[1]))\n"
        "migrate(client)\n"
        "rows = [list(c) for e in make_cdrs(300, seed=3) for c in parse_message(orjson.dumps(e), NOW_MS)[0]]\n"
        "changes = CdrState(MemoryStates({}, lambda i: 0), NoChangelog()).plan(0, 0, rows, day=20700)\n"
        "asyncio.run(ClickHouseSink(lambda: client).insert_batch(changes, 'batch-1'))\n"
        "print(orjson.dumps(client.query('SELECT (SELECT sum(attempts) FROM agg_breakout), "
        "(SELECT sum(attempts) FROM agg_number)').result_rows[0]).decode())\n"
    )
    url = f"chdb://{tmp_path / 'ch'}"
    runs = [
        subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=120, check=True)
        for _ in range(2)
    ]
    assert [run.stdout.strip() for run in runs] == ["[300,600]", "[300,600]"]  # agg_number: dest and cli rows
