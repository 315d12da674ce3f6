"""The reports API on a running worker, and `cdrflow report` through it or from the warehouse."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

import orjson
import pytest

from consumers.reports.client import answer_every_call
from consumers.worker import WorkerProcess
from pipeline.settings import Settings
from tests.cdr_factory import make_cdrs, newest_revisions, publish, truth_by_customer
from tests.services import DOCKER, listening_on

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")

RANGE = {"from": "2026-07-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
TOKEN = "s3cret"


def get(worker: WorkerProcess, params: dict, token: str | None = TOKEN, kind: str = "breakout") -> tuple[int, bytes]:
    return request(worker, "GET", f"/api/reports/{kind}?" + urllib.parse.urlencode(params, doseq=True), token=token)


def request(worker: WorkerProcess, method: str, path: str, body: bytes | None = None, content_type: str = "",
            token: str | None = TOKEN) -> tuple[int, bytes]:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    url = f"http://127.0.0.1:{worker.port}{path}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers, method=method), timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def by_customer(rows: list[dict]) -> dict:
    return {
        r["customer"]: (r["attempts"], r["connected"], Decimal(r["customer_charge"]), Decimal(r["provider_charge"]))
        for r in rows
    }


def report_command(worker: WorkerProcess, tmp_path, kind: str, *args: str, dates=RANGE) -> subprocess.CompletedProcess:
    env = {**worker.env, "CDRFLOW_API_TOKEN": TOKEN}
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", "report", kind, "--from", dates["from"], "--to", dates["to"], *args],
        env=env, cwd=tmp_path, capture_output=True, timeout=120,
    )  # fmt: skip


def assert_pages_make_the_whole_call_list(worker: WorkerProcess, numbers: list[str], monkeypatch) -> None:
    """Pages of 5 calls, each asked `after` the `X-Cdrflow-Next` of the one before, are the whole
    list; the command line writes every page (here pages of 4) as one CSV."""
    asked = {**RANGE, "number": numbers, "calls": "true"}
    status, whole = get(worker, {**asked, "limit": "100000"}, kind="per-number")
    whole_calls = orjson.loads(whole)
    paged, after = [], None
    while True:
        query = urllib.parse.urlencode({**asked, "limit": "5", **({"after": after} if after else {})}, doseq=True)
        url = f"http://127.0.0.1:{worker.port}/api/reports/per-number?{query}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as answer:
            page, after = orjson.loads(answer.read()), answer.headers.get("X-Cdrflow-Next")
        assert len(page) == 5 or after is None
        paged += page
        if after is None:
            break
    assert status == 200 and len(whole_calls) > 40 and paged == whole_calls
    monkeypatch.setattr("consumers.reports.client.MAX_CALLS_PER_PAGE", 4)
    settings = Settings.from_env({**worker.env, "CDRFLOW_API_TOKEN": TOKEN}, env_file=None)
    csv = answer_every_call(settings, {**{k: [v] for k, v in asked.items() if k != "number"}, "number": numbers,
                                       "format": ["csv"], "columns": ["id,start_time"]})  # fmt: skip
    lines = csv.decode().splitlines()
    assert lines[0] == "id,start_time" and [line.split(",")[0] for line in lines[1:]] == [c["id"] for c in whole_calls]


def test_breakout_over_http_and_the_command_line_with_and_without_a_worker(settings, tmp_path, monkeypatch):
    events = make_cdrs(2000, seed=31)
    publish(settings, events)
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.env["CDRFLOW_API_TOKEN"] = TOKEN
    worker.start()
    try:
        worker.wait_until_caught_up(len(events))
        status, body = get(worker, {**RANGE, "group": "customer"})
        assert status == 200
        assert by_customer(orjson.loads(body)) == truth_by_customer(events)

        assert get(worker, {**RANGE, "group": "customer"}, token=None)[0] == 401
        assert get(worker, {**RANGE, "group": "customer"}, token="wrong")[0] == 401
        assert get(worker, {**RANGE, "group": "customer"}, token=TOKEN + "x")[0] == 401
        for faust_page in ("/router", "/table", "/graph", "/stats", "/performance", "/assignment"):
            assert request(worker, "GET", faust_page, token=None)[0] in (401, 404), faust_page
            assert request(worker, "GET", faust_page)[0] in (401, 404), faust_page  # off, even with the token
        schedule = b'{"name": "x", "email": ["a@example.com"]}'
        # a plain form posted from another site: not JSON, so nothing is added
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            status, body = request(worker, "POST", "/api/schedules", schedule, content_type)
            assert status == 415 and b"application/json" in body
        assert request(worker, "POST", "/api/schedules/x/run", b"", "text/plain")[0] == 415
        assert request(worker, "GET", "/api/schedules")[1] == b"[]"
        assert request(worker, "POST", "/api/schedules", schedule, "application/json; charset=utf-8")[0] == 201
        assert listening_on(worker.port) == {"0.0.0.0"}  # a token guards it: open to the network
        status, body = get(worker, {**RANGE, "group": "customer,1; DROP TABLE cdr"})
        assert status == 400 and "unknown group" in orjson.loads(body)["error"]
        status, body = get(worker, {**RANGE, "group": "customer", "customer": "o'neil & sons"})
        assert [r["customer"] for r in orjson.loads(body)] == ["o'neil & sons"]

        through_api = report_command(worker, tmp_path, "breakout", "--group", "customer", "--format", "json")
        assert through_api.returncode == 0, through_api.stderr
        assert by_customer(orjson.loads(through_api.stdout)) == truth_by_customer(events)
        local_days = {"from": "2026-07-01", "to": "2026-11-30", "group": "customer"}  # days, the 30th included
        assert by_customer(orjson.loads(get(worker, local_days)[1])) == truth_by_customer(events)

        connected: dict[str, int] = {}
        for e in newest_revisions(events).values():
            number = e["dest_number"].removeprefix("+")
            connected[number] = connected.get(number, 0) + (200 <= e["sip_code"] <= 299)
        busiest = sorted(connected.items(), key=lambda item: (-item[1], item[0]))[:3]
        status, body = get(worker, {**RANGE, "by": "connected", "limit": "3"}, kind="top-numbers")
        assert status == 200 and [(r["number"], r["connected"]) for r in orjson.loads(body)] == busiest
        top = report_command(worker, tmp_path, "top-numbers", "--by", "connected", "--limit", "3", "--format", "json")
        assert top.returncode == 0 and [(r["number"], r["connected"]) for r in orjson.loads(top.stdout)] == busiest
        status, body = get(worker, {**RANGE, "by": "profit"}, kind="top-numbers")
        assert status == 400 and orjson.loads(body)["error"].startswith("by: one of attempts")

        misspelt = {**RANGE, "group": "customer", "customer": ["acmee", "acme"]}
        url = f"http://127.0.0.1:{worker.port}/api/reports/breakout?" + urllib.parse.urlencode(misspelt, doseq=True)
        asked = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(asked, timeout=60) as answer:
            warning = answer.headers["X-Cdrflow-Warning"]
            assert [r["customer"] for r in orjson.loads(answer.read())] == ["acme"]
        assert warning.startswith("customer: no traffic of 'acmee' in the warehouse; closest: 'acme'")
        warned = report_command(worker, tmp_path, "breakout", "--customer", "acmee", "--format", "json")
        assert warned.returncode == 0 and orjson.loads(warned.stdout) == []
        assert warned.stderr.decode().startswith("cdrflow: warning: customer: no traffic of 'acmee'")

        number = events[0]["dest_number"]
        status, body = get(worker, {**RANGE, "number": number, "calls": "true"}, kind="per-number")
        calls = orjson.loads(body)
        assert status == 200 and calls and {c["dest_number"] for c in calls} == {number}
        assert calls == sorted(calls, key=lambda c: c["start_time"])
        assert_pages_make_the_whole_call_list(worker, [e["dest_number"] for e in events[:40]], monkeypatch)
        status, body = get(worker, {**RANGE}, kind="per-number")
        assert status == 400 and orjson.loads(body) == {"error": "number: at least one number is required"}
        status, body = get(worker, {**RANGE, "group": "provider"}, kind="dtmf")
        dtmf = orjson.loads(body)
        assert status == 200 and sum(r["dtmf"] for r in dtmf) == sum(
            e.get("dtmf", 0) for e in newest_revisions(events).values()
        )
    finally:
        worker.stop()

    direct = report_command(
        worker, tmp_path, "breakout", "--group", "customer", "--format", "csv", "--output", str(tmp_path / "b.csv")
    )
    assert direct.returncode == 0, direct.stderr
    lines = (tmp_path / "b.csv").read_text().splitlines()
    assert lines[0].startswith("customer,attempts,connected") and len(lines) == 2 + len(truth_by_customer(events))
    total = lines[-1].split(",")
    assert total[:2] == ["Total", str(sum(t[0] for t in truth_by_customer(events).values()))]
    by_days = report_command(worker, tmp_path, "breakout", "--group", "customer", "--format", "json", dates=local_days)
    assert by_days.returncode == 0, by_days.stderr
    assert by_customer(orjson.loads(by_days.stdout)) == truth_by_customer(events)
    bad = report_command(worker, tmp_path, "breakout", "--group", "planet")
    assert bad.returncode == 2 and b"unknown group 'planet'" in bad.stderr
    warned = report_command(worker, tmp_path, "dtmf", "--provider", "tatta", "--format", "csv")
    assert warned.returncode == 0 and b"cdrflow: warning: provider: no traffic of 'tatta'" in warned.stderr
    for far in ({"from": "today", "to": "9999-12-31"}, {"from": "2026-07-01T00:00:00Z", "to": "9999-12-31T00:00:00Z"}):
        outside = report_command(worker, tmp_path, "breakout", dates=far)
        assert (
            outside.returncode == 2
            and outside.stderr.decode().startswith(
                "cdrflow: report: to: outside the days the warehouse stores"
                if "T" not in far["to"]
                else "cdrflow: report: to: outside the times the warehouse stores"
            )
            and outside.stderr.count(b"\n") == 1
        ), outside.stderr
