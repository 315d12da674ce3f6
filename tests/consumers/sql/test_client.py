"""`cdrflow sql` through a running worker's port, and on the folder when no worker runs."""

from __future__ import annotations

import subprocess
import sys

import orjson

from consumers.worker import free_port
from tests.cdr_factory import newest_revisions


def cdrflow_sql(cwd, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", "sql", *args], env={"PATH": "/usr/bin:/bin", **env}, cwd=cwd,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def worker_env(sql_worker) -> dict[str, str]:
    process, _events = sql_worker
    return {name: process.env[name] for name in ("CDRFLOW_SQL_PORT", "CDRFLOW_CLICKHOUSE", "CDRFLOW_API_TOKEN")}


def test_a_query_through_the_worker_in_csv(sql_worker, tmp_path):
    done = cdrflow_sql(tmp_path, worker_env(sql_worker), "SELECT count() AS calls FROM cdr FINAL", "--format", "csv")
    assert (done.returncode, done.stdout) == (0, f"calls\n{len(newest_revisions(sql_worker[1]))}\n"), done.stderr


def test_a_refused_query_exits_2_and_a_wrong_token_78(sql_worker, tmp_path):
    done = cdrflow_sql(tmp_path, worker_env(sql_worker), "DROP TABLE cdr")
    assert done.returncode == 2 and "Code: 164. DB::Exception:" in done.stderr
    done = cdrflow_sql(tmp_path, worker_env(sql_worker) | {"CDRFLOW_API_TOKEN": "wrong"}, "SELECT 1")
    assert done.returncode == 78 and "(AUTHENTICATION_FAILED)" in done.stderr


def test_without_a_worker_the_folder_is_read_directly(tmp_path):
    env = {"CDRFLOW_CLICKHOUSE": f"chdb://{tmp_path / 'clickhouse'}", "CDRFLOW_SQL_PORT": str(free_port())}
    migrate = subprocess.run(
        [sys.executable, "-m", "consumers.cli", "migrate"], env={"PATH": "/usr/bin:/bin", **env}, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    done = cdrflow_sql(
        tmp_path, env, "SELECT {n:UInt8} + 1 AS x, count() AS calls FROM cdr", "--param", "n=1", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["data"] == [{"x": 2, "calls": 0}]
    assert cdrflow_sql(tmp_path, env, "INSERT INTO cdr (id) VALUES ('x')").returncode == 2
