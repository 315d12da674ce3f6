"""`make demo`: the pipeline on a synthetic feed, a breakout printed, one report mailed to ./var/outbox.
`make run`: a broker, a worker and a paced feed until Ctrl-C, then nothing left running."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from consumers.worker import free_port
from tests.services import DOCKER, ROOT

pytestmark = pytest.mark.skipif(DOCKER, reason="the demo runs on the embedded chDB folder")


def test_demo_prints_a_breakout_and_saves_one_email(kafka, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "consumers.demo"], env={**os.environ, "CDRFLOW_BROKER": kafka.url},
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(line.split()[:5] == ["customer", "provider", "attempts", "connected", "asr"]
               for line in done.stdout.splitlines())  # fmt: skip
    [saved] = list((tmp_path / "var" / "outbox").glob("*.eml"))
    assert b"breakout.csv" in saved.read_bytes()


def session_processes(session: int) -> list[str]:
    """Command lines of the processes still in `session`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(cmdline)
    return found


def test_make_run_serves_the_api_until_ctrl_c_and_leaves_nothing_running(tmp_path):
    web_port = free_port()
    today = datetime.now(timezone.utc).date()
    by_day = (
        f"http://127.0.0.1:{web_port}/api/reports/breakout?group=day&columns=attempts"
        f"&from={today - timedelta(days=1)}T00:00:00Z&to={today + timedelta(days=1)}T00:00:00Z"
    )
    run = subprocess.Popen(
        ["make", "run", f"RUN_DIR={tmp_path}", f"RUN_KAFKA_PORT={free_port()}"],
        cwd=ROOT, env={**os.environ, "CDRFLOW_WEB_PORT": str(web_port)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:  # until yesterday's calls and the paced feed's are both in the reports
            assert run.poll() is None and time.monotonic() < deadline, "make run ended or never showed both days"
            try:
                with urllib.request.urlopen(by_day, timeout=5) as answer:
                    if len(orjson.loads(answer.read())) == 2:
                        break
            except OSError:
                pass
            time.sleep(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=5) as console:
            assert b"cdrflow" in console.read()
        schedule = {"name": "daily-noc", "email": ["noc@localhost"], "every": "daily"}
        post(f"http://127.0.0.1:{web_port}/api/schedules", schedule)
        post(f"http://127.0.0.1:{web_port}/api/schedules/daily-noc/run", {})
        mailed = wait_for(lambda: list((tmp_path / "outbox").glob("*.eml")), 60)
        assert b"daily-noc" in mailed[0].read_bytes()
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        output, _ = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert f"the console is at http://127.0.0.1:{web_port}/" in output
    assert f"saves every message in {tmp_path / 'outbox'}" in output
    assert "cdrflow report breakout --from today" in output
    assert "stopped: nothing of cdrflow is left running" in output
    assert session_processes(run.pid) == []
    assert [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(tmp_path).encode() in _read(p)] == []


def post(url: str, fields: dict) -> dict:
    sent = urllib.request.Request(url, orjson.dumps(fields), {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(sent, timeout=60) as answer:
        return orjson.loads(answer.read())


def wait_for(found, seconds: float):
    deadline = time.monotonic() + seconds
    while not (result := found()):
        assert time.monotonic() < deadline, "never came"
        time.sleep(0.5)
    return result


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
