"""`cdrflow` answers what people type in one line and an exit code of the README's table."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

from consumers.worker import free_port


def cdrflow(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": "/usr/bin:/bin",
        "CDRFLOW_CLICKHOUSE": f"chdb://{tmp_path / 'empty'}",
        "CDRFLOW_WEB_PORT": str(free_port()),  # no worker answers there
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", *args], env=environment, cwd=tmp_path, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip


def test_a_report_on_a_warehouse_no_worker_has_run_on_says_what_to_do(tmp_path):
    done = cdrflow(tmp_path, "report", "breakout", "--from", "today")
    assert done.returncode == 69
    assert done.stderr == (
        f"cdrflow: the warehouse chdb://{tmp_path / 'empty'} has no cdrflow schema yet: "
        "start `cdrflow worker` (or run `cdrflow migrate`) first\n"
    )
    assert done.stdout == ""


def test_a_date_word_on_a_migrated_empty_warehouse_answers_an_empty_report(tmp_path):
    assert cdrflow(tmp_path, "migrate").returncode == 0
    done = cdrflow(tmp_path, "report", "breakout", "--from", "yesterday", "--tz", "Asia/Kathmandu",
                   "--format", "csv", "--columns", "attempts,connected,customer_charge")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "customer,provider,attempts,connected,customer_charge\nTotal,,0,0,0.000000\n"


def test_a_date_that_is_not_one_is_refused_naming_the_parameter(tmp_path):
    done = cdrflow(tmp_path, "report", "breakout", "--from", "2026-11-3x")
    assert done.returncode == 2
    assert done.stderr == (
        "cdrflow: report: from: not an RFC 3339 time, a date (2026-11-25) or one of today, yesterday, "
        "this-week, last-week, this-month, last-month: '2026-11-3x'\n"
    )


def test_version(tmp_path):
    done = cdrflow(tmp_path, "--version")
    assert (done.returncode, done.stdout) == (0, f"cdrflow {version('cdrflow')}\n")


def test_a_worker_that_cannot_write_its_state_folder_exits_78_naming_it(tmp_path):
    (tmp_path / "var").write_text("a file where the state folder should be")
    for command in (
        [sys.executable, "-m", "consumers.cli", "worker"],
        [sys.executable, "-m", "faust", "-A", "pipeline.app", "worker"],
    ):
        done = subprocess.run(
            command, env={"PATH": "/usr/bin:/bin", "CDRFLOW_DATA_DIR": str(tmp_path / "var")}, cwd=tmp_path,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 78, done.stderr
        assert f"CDRFLOW_DATA_DIR: the worker cannot write its state under '{tmp_path / 'var'}'" in done.stderr


def test_an_unknown_argument_shows_the_usage_of_the_command_it_was_given_to(tmp_path):
    done = cdrflow(tmp_path, "report", "breakout", "--from", "today", "--bogus")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: cdrflow report breakout ")
    assert done.stderr.endswith("cdrflow report breakout: error: unrecognized arguments: --bogus\n")
