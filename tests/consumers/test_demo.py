"""`make demo`: the pipeline on a synthetic feed, a breakout printed, one report mailed to ./var/outbox."""

import os
import subprocess
import sys

import pytest

from tests.services import DOCKER

pytestmark = pytest.mark.skipif(DOCKER, reason="the demo runs on the embedded chDB folder")


def test_demo_prints_a_breakout_and_saves_one_email(kafka, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "consumers.demo"], env={**os.environ, "CDRFLOW_BROKER": kafka.url},
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "customer  provider   attempts  connected  asr" in done.stdout
    [saved] = list((tmp_path / "var" / "outbox").glob("*.eml"))
    assert b"breakout.csv" in saved.read_bytes()
