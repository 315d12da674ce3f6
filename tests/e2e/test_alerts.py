"""Alert rules on a running worker, fed as fast as possible with event times of the past: a route
whose ASR falls and recovers fires once and resolves once per channel, at the minute steps its
windows imply; healthy routes, and routes under min_attempts, never fire; a number drawing 300
calls in 5 minutes fires a dest_number rule. Again with resends and a kill -9 between the two
transitions, with the webhook receiver down at first. And an idle feed: the clock follows the wall
clock and "traffic stopped" fires."""

from __future__ import annotations

import email
import hashlib
import hmac
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from datetime import datetime
from email import policy

import orjson
import pytest

from consumers.alerts.receiver import WebhookReceiver
from consumers.mail.catcher import MailCatcher
from consumers.worker import WorkerProcess, free_port
from pipeline.ingest.reader import partition_of
from tests.cdr_factory import publish
from tests.services import DOCKER, pipeline_settings

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")

T0 = 1_795_600_800_000  # 2026-11-25T10:00:00Z: event times of the past
MINUTE = 60_000
GRACE_MS = 60_000  # CDRFLOW_LIVE_GRACE_SECONDS' default
SECRET = "hook-s3cret"
BAD_ROUTE = {"provider": "p-bad", "provider_destination": "UK - Mobile"}
NUMBER = "447700900999"


def route_feed(seed: int = 1) -> list[dict]:
    """90 minutes of traffic, in end-time order: three routes of 20 calls a minute at ASR 60 %,
    except p-bad's ASR of 5 % in minutes 30-49; p-tiny, one failed call a minute; 300 calls to
    one number in minutes 60-64."""
    rng = random.Random(seed)
    events = []
    for minute in range(90):
        routes = [("p-bad", "UK - Mobile"), ("p-good", "UK - Mobile"), ("p-good", "India")]
        for provider, destination in routes:
            asr = 0.05 if provider == "p-bad" and 30 <= minute < 50 else 0.6
            for n in range(20):
                events.append(
                    call(
                        rng, minute, provider, destination, rng.random() < asr, f"{provider}-{destination}-{minute}-{n}"
                    )
                )
        events.append(call(rng, minute, "p-tiny", "UK - Fixed", False, f"tiny-{minute}"))
        if 60 <= minute < 65:
            events += [call(rng, minute, "p-good", "UK - Mobile", True, f"num-{minute}-{n}", NUMBER) for n in range(60)]
    return sorted(events, key=lambda e: (e["start_time"] + round(e["duration"] * 1000), e["id"]))


def call(
    rng, minute: int, provider: str, destination: str, connected: bool, cdr_id: str, number: str | None = None
) -> dict:
    duration = round(rng.uniform(10, 40), 3) if connected else 0
    end = T0 + minute * MINUTE + rng.randrange(0, MINUTE)
    return {
        "id": cdr_id, "start_time": end - round(duration * 1000), "customer": rng.choice(["acme", "globex"]),
        "provider": provider, "provider_destination": destination, "customer_destination": destination,
        "dest_number": number or f"4420{rng.randrange(10**6):06d}", "sip_code": 200 if connected else 503,
        "duration": duration, "customer_charge": "0.010000" if connected else 0,
    }  # fmt: skip


def expected_transitions(events: list[dict], key, window: int, fires, resolves, min_attempts: int) -> list[tuple]:
    """(key, transition, minute step) the windows imply, computed from the CDRs (every step of the feed)."""
    per_minute: dict = defaultdict(lambda: [0, 0])
    for e in {e["id"]: e for e in events}.values():  # a resend counts once
        slot = per_minute[(key(e), (e["start_time"] + round(e["duration"] * 1000)) // MINUTE)]
        slot[0] += 1
        slot[1] += e["sip_code"] == 200
    keys = sorted({k for k, _ in per_minute})
    last_step = (max(e["start_time"] + round(e["duration"] * 1000) for e in events) - GRACE_MS) // MINUTE
    steps = range(T0 // MINUTE, last_step + 1)
    found, firing = [], set()
    for step in steps:
        for k in keys:
            attempts = sum(per_minute[(k, m)][0] for m in range(step - window, step) if (k, m) in per_minute)
            connected = sum(per_minute[(k, m)][1] for m in range(step - window, step) if (k, m) in per_minute)
            if attempts < min_attempts or attempts == 0:
                continue
            if k in firing and resolves(attempts, connected):
                firing.discard(k)
                found.append((k, "resolved", step))
            elif k not in firing and fires(attempts, connected):
                firing.add(k)
                found.append((k, "fired", step))
    return found


ROUTE_RULE = {
    "name": "route-asr", "scope": ["provider", "provider_destination"], "metric": "asr", "op": "<", "threshold": 30,
    "reset": 45, "window": 5, "min_attempts": 20, "email": ["noc@example.com"],
}  # fmt: skip
NUMBER_RULE = {"name": "hot-number", "scope": ["dest_number"], "metric": "attempts", "op": ">", "threshold": 100,
               "window": 5}  # fmt: skip


def expected(events: list[dict]) -> list[tuple]:
    route = expected_transitions(
        events, lambda e: (e["provider"], e["provider_destination"]), 5,
        lambda a, c: 100 * c / a < 30, lambda a, c: 100 * c / a >= 45, 20,
    )  # fmt: skip
    number = expected_transitions(
        events, lambda e: (e["dest_number"],), 5, lambda a, c: a > 100, lambda a, c: a <= 100, 1
    )
    return [("route-asr", *t) for t in route] + [("hot-number", *t) for t in number]


def received(bodies: list[dict]) -> list[tuple]:
    return sorted((b["rule"], tuple(b["key"].values()), b["transition"], iso_minute(b["at"])) for b in bodies)


def iso_ms(at: str) -> int:
    return round(datetime.fromisoformat(at).timestamp() * 1000)


def iso_minute(at: str) -> int:
    return iso_ms(at) // MINUTE


def api(worker: WorkerProcess, method: str, path: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.port}{path}", data, {"Content-Type": "application/json"}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, orjson.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def alert_worker(kafka, tmp_path, smtp_port: int, **env: str) -> tuple[WorkerProcess, object]:
    settings = pipeline_settings(kafka.url, f"al{uuid.uuid4().hex[:8]}", tmp_path)
    # the default partition count: each batch partition's CDRs reach the live windows on their own
    settings = settings.__class__(**{**settings.__dict__, "partitions": 8})
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.env |= {
        "CDRFLOW_SMTP": f"smtp://127.0.0.1:{smtp_port}", "CDRFLOW_WEBHOOK_SECRET": SECRET,
        "CDRFLOW_WEBHOOK_ALLOW_NETS": "127.0.0.0/8", **env,
    }  # fmt: skip
    return worker, settings


def cdrflow(worker: WorkerProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "consumers.cli", *args], env=worker.env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def mails(catcher) -> list[str]:
    return sorted(
        email.message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"] for p in catcher.handler.saved
    )


def test_a_route_going_bad_fires_and_resolves_once_per_channel_at_the_windows_minute_steps(kafka, tmp_path):
    events = route_feed()
    wanted = expected(events)
    assert [t[2] for t in wanted if t[0] == "route-asr"] == ["fired", "resolved"]
    assert [t[1] for t in wanted if t[0] == "route-asr"] == [("p-bad", "UK - Mobile")] * 2  # healthy routes never fire
    assert [t[2] for t in wanted if t[0] == "hot-number"] == ["fired", "resolved"]
    receiver = WebhookReceiver(free_port()).start()
    with MailCatcher(tmp_path / "outbox") as catcher:
        worker, settings = alert_worker(kafka, tmp_path, catcher.port)
        worker.start()
        try:
            worker.wait_until_healthy()
            for rule in ({**ROUTE_RULE, "webhook": receiver.url}, {**NUMBER_RULE, "webhook": receiver.url}):
                assert api(worker, "POST", "/api/alert-rules", rule)[0] == 201
            status, refused = api(worker, "POST", "/api/alert-rules", {**ROUTE_RULE, "reset": 20})
            assert status == 400 and refused["error"].startswith("reset: at or above the threshold 30")
            publish(settings, events)
            bodies = receiver.wait_for(lambda b: len(b) >= 4)
            time.sleep(3)  # nothing more comes
            assert received([b for b, _, _ in receiver.posts]) == sorted(wanted)
            for body, headers, raw in receiver.posts:
                signed = headers["X-Cdrflow-Timestamp"].encode() + b"." + raw
                assert abs(int(headers["X-Cdrflow-Timestamp"]) - time.time()) < 600
                assert (
                    headers["X-Cdrflow-Signature"]
                    == "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
                )
            assert len(bodies) == 4
            deadline = time.monotonic() + 30
            while len(catcher.handler.saved) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert mails(catcher)[0].startswith(
                "[cdrflow] FIRED route-asr: provider=p-bad, provider_destination=UK - Mobile asr "
            )
            assert mails(catcher)[1].startswith("[cdrflow] RESOLVED route-asr: provider=p-bad")
            assert len(catcher.handler.saved) == 2
            status, history = api(worker, "GET", "/api/alerts/history?rule=route-asr")
            assert [h["transition"] for h in history] == ["resolved", "fired"]
            status, live = api(worker, "GET", "/api/live?group=provider&window=60")
            status, numbers = api(worker, "GET", "/api/live?group=dest_number&window=60&top=3")
            attempts = [int(r["attempts"]) for r in numbers["rows"]]
            assert status == 200 and len(attempts) == 3 and attempts == sorted(attempts, reverse=True)
            assert numbers["rows"][0]["dest_number"] == NUMBER, "the number that drew the burst leads"
            newest_end: dict[int, int] = {}  # the watermark: the least of the batch partitions' newest end times
            for e in events:
                partition = partition_of(e["id"], settings.partitions)
                newest_end[partition] = max(newest_end.get(partition, 0), e["start_time"] + round(e["duration"] * 1000))
            assert iso_ms(live["clock"]) == min(newest_end.values()) - GRACE_MS
            shown = cdrflow(worker, "live", "--group", "provider", "--window", "60")
            assert shown.returncode == 0 and shown.stdout.splitlines()[0].startswith(f"live clock {live['clock']}")
            assert [line.split()[0] for line in shown.stdout.splitlines()[3:]] == ["p-good", "p-bad", "p-tiny"]
            history = cdrflow(worker, "alert", "history", "--rule", "route-asr").stdout.splitlines()
            assert len(history) == 4 and " resolved " in history[2] and " fired " in history[3]
            refused = cdrflow(worker, "alert", "add", "--name", "x", "--metric", "asr", "--op", "<", "--threshold",
                              "30", "--window", "61")  # fmt: skip
            assert (refused.returncode, refused.stderr) == (
                2, "cdrflow: alert add: window: a whole number of minutes from 1 to 60, not 61\n"
            )  # fmt: skip
        finally:
            worker.stop()
            receiver.stop()


def test_a_kill_between_the_transitions_loses_none_and_notifies_none_twice(kafka, tmp_path):
    events = route_feed(seed=2)
    wanted = [t for t in expected(events) if t[0] == "route-asr"]
    fired_at, resolved_at = (t[3] for t in wanted)
    cut = next(
        i for i, e in enumerate(events) if e["start_time"] + round(e["duration"] * 1000) >= (fired_at + 8) * MINUTE
    )
    rng = random.Random(3)
    resent = rng.sample(events[:cut], 300)
    receiver = WebhookReceiver(free_port())  # down at first: the fired POST waits for it
    with MailCatcher(tmp_path / "outbox") as catcher:
        worker, settings = alert_worker(kafka, tmp_path, catcher.port)
        worker.start()
        try:
            worker.wait_until_healthy()
            assert api(worker, "POST", "/api/alert-rules", {**ROUTE_RULE, "webhook": receiver.url})[0] == 201
            publish(settings, events[:cut])
            deadline = time.monotonic() + 60
            while not api(worker, "GET", "/api/alerts/history")[1]:
                assert time.monotonic() < deadline, "the route did not fire"
                time.sleep(0.2)
            time.sleep(2)  # the POST failed at least once
            assert receiver.posts == []
            receiver.start()
            receiver.wait_for(lambda bodies: len(bodies) == 1, timeout=60)
            while len(catcher.handler.saved) < 1:
                time.sleep(0.2)
            time.sleep(2)  # both deliveries recorded as sent
            worker.kill()
            worker.start()
            worker.wait_until_healthy()
            publish(settings, resent + events[cut:])
            receiver.wait_for(lambda bodies: len(bodies) >= 2, timeout=120)
            time.sleep(35)  # a restart's resumption of unsent notifications has run by now
        finally:
            worker.stop()
            receiver.stop()
        assert received([b for b, _, _ in receiver.posts]) == sorted(wanted)
        assert [m.split(":")[0] for m in mails(catcher)] == [
            "[cdrflow] FIRED route-asr",
            "[cdrflow] RESOLVED route-asr",
        ]
    assert (fired_at, resolved_at) == tuple(iso_minute(b["at"]) for b, _, _ in receiver.posts)


def test_an_idle_feed_moves_the_clock_with_the_wall_clock_and_traffic_stopped_fires(kafka, tmp_path):
    now = int(time.time() * 1000)
    rng = random.Random(4)
    events = []
    for n in range(50):
        event = call(rng, 0, "p-good", "UK - Mobile", n % 2 == 0, f"quiet-{n}")
        end = now - 12 * MINUTE + n * 4 * MINUTE // 50  # ended 12 to 8 minutes ago
        events.append({**event, "customer": "quiet", "start_time": end - round(event["duration"] * 1000)})
    receiver = WebhookReceiver(free_port()).start()
    worker, settings = alert_worker(kafka, tmp_path, free_port(), CDRFLOW_LIVE_IDLE_SECONDS="3")
    worker.start()
    try:
        worker.wait_until_healthy()
        rule = {"name": "traffic-stopped", "scope": ["customer"], "customers": ["quiet"], "metric": "attempts",
                "op": "<", "threshold": 1, "window": 5, "min_attempts": 0, "webhook": receiver.url}  # fmt: skip
        assert api(worker, "POST", "/api/alert-rules", rule)[0] == 201
        publish(settings, events)
        [body] = receiver.wait_for(lambda bodies: len(bodies) == 1, timeout=90)
        clock = worker.metrics()["cdrflow_live_clock_seconds"] * 1000
    finally:
        worker.stop()
        receiver.stop()
    assert (body["key"], body["transition"], body["value"], body["attempts"]) == ({"customer": "quiet"}, "fired", 0, 0)
    assert abs(clock - (time.time() * 1000 - GRACE_MS)) < 30_000  # the wall clock, less the grace
    last_minute = max(e["start_time"] + round(e["duration"] * 1000) for e in events) // MINUTE
    assert iso_minute(body["at"]) == last_minute + 6  # the first step whose 5 minutes hold no call
