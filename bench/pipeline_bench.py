"""Pipeline benchmark: sustained CDR/s through the whole pipeline and event-to-queryable latency.

Against a real broker (CDRFLOW_BENCH_BROKER, started by `make bench`) and a worker process on a
fresh chDB folder. The baseline, measured in the same run over the same topic, is a plain
aiokafka `getmany` + orjson + dict-aggregation loop; the DIY peer (bench/diy_peer.py) is that loop
storing the same rows into the same warehouse schema, without deduplication. BENCH_SCALE scales
the data sizes.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import astuple, dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from consumers.feed.producer import send_messages
from consumers.feed.switch import FeedShape, SwitchFeed
from consumers.worker import WorkerProcess
from pipeline.metrics import STAGES
from pipeline.settings import Settings
from pipeline.topics import ensure_topics

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
THROUGHPUT_CDRS = int(400_000 * SCALE)
LATENCY_RATE = 10_000
LATENCY_SECONDS = max(5, int(30 * SCALE))
PARTITIONS = 4


def bench_settings(broker: str, folder: Path) -> Settings:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    return Settings.from_env(
        {
            "CDRFLOW_BROKER": broker,
            "CDRFLOW_TOPIC": f"{prefix}.cdr.rated",
            "CDRFLOW_APP_ID": f"{prefix}-cdrflow",
            "CDRFLOW_PARTITIONS": str(PARTITIONS),
            "CDRFLOW_DATA_DIR": str(folder / "var"),
            "CDRFLOW_CLICKHOUSE": f"chdb://{folder / 'clickhouse'}",
        },
        env_file=None,
    )


async def baseline(settings: Settings, count: int) -> tuple[float, float]:
    """Messages/s of a plain getmany + orjson + dict aggregation loop over the input topic, and its CPU µs per message."""
    consumer = AIOKafkaConsumer(
        settings.topic, bootstrap_servers=settings.bootstrap_servers, group_id=f"{settings.app_id}-baseline",
        auto_offset_reset="earliest", enable_auto_commit=False, max_partition_fetch_bytes=4 << 20,
    )  # fmt: skip
    await consumer.start()
    totals: dict[tuple[str, str], list] = {}
    seen = 0
    started = None
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if started is None and batch:
                started, cpu_started = time.perf_counter(), time.process_time()
            for records in batch.values():
                for record in records:
                    cdr = orjson.loads(record.value)
                    row = totals.setdefault((cdr["customer"], cdr.get("provider", "")), [0, 0.0])
                    row[0] += 1
                    row[1] += cdr.get("duration", 0)
                seen += len(records)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        await consumer.stop()
    return seen / elapsed, cpu / seen * 1e6


def diy_peer(settings: Settings, folder: Path, count: int) -> tuple[float, float]:
    """CDR/s of the DIY peer (bench/diy_peer.py) over the same topic, into a warehouse of its own,
    and its CPU µs per CDR."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.diy_peer", settings.topic, ",".join(settings.bootstrap_servers),
         str(folder / "diy-clickhouse"), str(count)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rate, cpu_per_cdr = done.stdout.split()[-2:]
    return float(rate), float(cpu_per_cdr)


@dataclass
class CpuSeconds:
    """CPU time used so far by each process of the pipeline (user + system)."""

    ingest: float
    worker: float
    merges: float  # ClickHouse's background merge threads, inside the worker
    broker: float

    @classmethod
    def read(cls, worker: WorkerProcess, broker_pid: int | None) -> CpuSeconds:
        merges = sum(
            _cpu(task)
            for task in Path(f"/proc/{worker.process.pid}/task").glob("*")
            if _comm(task).startswith("MergeMutate")
        )
        broker = _cpu(Path(f"/proc/{broker_pid}")) if broker_pid else 0.0
        ingest = sum(_cpu(Path(f"/proc/{pid}")) for pid in worker.children())
        return cls(ingest, _cpu(Path(f"/proc/{worker.process.pid}")), merges, broker)

    def __sub__(self, other: CpuSeconds) -> CpuSeconds:
        return CpuSeconds(*(a - b for a, b in zip(astuple(self), astuple(other))))


def _cpu(proc: Path) -> float:
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _comm(proc: Path) -> str:
    return (proc / "comm").read_text().strip()


def broker_pid() -> int | None:
    """The pid of the broker `make bench` started (deploy/kafka/broker writes it to its data folder)."""
    pid_file = Path(os.environ.get("KAFKA_DATA_DIR", "/nonexistent")) / "broker.pid"
    return int(pid_file.read_text()) if pid_file.exists() else None


def rss_mb(worker: WorkerProcess, field: str = "VmHWM") -> float:
    """Resident memory of the worker process and its children (the ingest process), in MB: the peak
    (VmHWM), or now (VmRSS)."""
    return sum(_status_kb(pid, field) for pid in [worker.process.pid, *worker.children()]) / 1024


def _status_kb(pid: int, field: str) -> int:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status[field].split()[0])


def throughput(worker: WorkerProcess, count: int) -> tuple[float, float, CpuSeconds]:
    """Sustained CDR/s over `count` input messages, peak RSS in MB, and CPU µs per CDR.

    Counted from the first batch applied to the last: the CDRs that became newest in between
    (resends and late lower revisions, a few percent, are not counted: conservative), over that
    time. Start-up, group joins and the first fill of the pipeline stay out of the figure, and so
    does the wait for the lag to read 0 (the ingest process reports it every half second). CPU per
    CDR is over the same span, except the ingest process's: it reads ahead, so its whole run
    over all `count` messages."""
    worker.start()
    broker = broker_pid()
    first: tuple[float, float, CpuSeconds] | None = None
    last: tuple[float, float, CpuSeconds | None] = (0.0, 0.0, None)
    while True:
        try:
            m = worker.metrics()
        except OSError:
            time.sleep(0.1)
            continue
        now, applied = time.perf_counter(), m["cdrflow_cdrs_applied_total"]
        if applied != last[1]:
            last = (now, applied, CpuSeconds.read(worker, broker))
            first = first or last
        if m["cdrflow_messages_total"] >= count and m["cdrflow_lag"] == 0:
            break
        time.sleep(0.1)
    (started, applied_first, cpu_first), (ended, applied_last, cpu_last) = first, last
    cdrs = applied_last - applied_first
    per_cdr = CpuSeconds(*(seconds / cdrs * 1e6 for seconds in astuple(cpu_last - cpu_first)))
    # The ingest process reads ahead of the first batch applied: its whole run over every message.
    per_cdr.ingest = cpu_last.ingest / count * 1e6
    return cdrs / (ended - started), rss_mb(worker), per_cdr


async def paced(settings: Settings, feed: SwitchFeed, rate: int, seconds: int) -> None:
    """`rate` CDRs per second for `seconds`, in tenths of a second, start times now."""
    tick = rate // 10
    started = time.monotonic()
    for step in range(seconds * 10):
        now_ms = int(time.time() * 1000)
        await send_messages(settings, [orjson.dumps(e) for e in feed.events(now_ms, tick, 100)])
        await asyncio.sleep(max(0.0, started + (step + 1) / 10 - time.monotonic()))


def scratch_folder(prefix: str) -> Path:
    """A fresh temporary folder, removed when the benchmark ends (each run writes hundreds of MB)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def bench_folder(prefix: str) -> tuple[Path, Settings]:
    """A fresh temporary folder and settings of its own on the bench broker, topics created."""
    broker = os.environ.get("CDRFLOW_BENCH_BROKER", "kafka://127.0.0.1:9092")
    folder = scratch_folder(prefix)
    settings = bench_settings(broker, folder)
    asyncio.run(ensure_topics(settings))
    return folder, settings


def stage_split(metrics: dict[str, float]) -> str:
    """Where a CDR's time goes, from the worker's `cdrflow_stage_seconds`: 'read 14/16, ...' in ms."""

    def ms(stage: str, q: str) -> float:
        return metrics[f'cdrflow_stage_seconds{{stage="{stage}",quantile="{q}"}}'] * 1000

    return ", ".join(f"{stage} {ms(stage, '0.5'):.0f}/{ms(stage, '0.99'):.0f}" for stage in STAGES)


def main() -> int:
    folder, settings = bench_folder("cdrflow-bench-")
    feed = SwitchFeed(FeedShape(seed=42))
    start_ms = int(time.time() * 1000) - 86_400_000
    messages = [orjson.dumps(e) for e in feed.events(start_ms, THROUGHPUT_CDRS, 86_400_000)]
    asyncio.run(send_messages(settings, messages))

    base, base_cpu = asyncio.run(baseline(settings, len(messages)))
    diy, diy_cpu = diy_peer(settings, folder, len(messages))
    worker = WorkerProcess.on_folder(settings, folder)
    try:
        rate, peak_mb, cpu = throughput(worker, len(messages))
    finally:
        worker.stop()
    print(f"bench pipeline_throughput: {rate:.0f} CDR/s (baseline {base:.0f} msg/s, ratio {rate / base:.2f})")
    pipeline_cpu = cpu.ingest + cpu.worker + cpu.broker
    print(
        f"bench pipeline_vs_diy: {rate:.0f} CDR/s (DIY peer {diy:.0f} CDR/s, ratio {rate / diy:.2f}; CPU per CDR "
        f"{pipeline_cpu:.1f} us against the DIY peer's {diy_cpu:.1f} us, ratio {pipeline_cpu / diy_cpu:.2f})"
    )
    print(
        f"bench pipeline_cpu_per_cdr: {pipeline_cpu:.1f} us (ingest process {cpu.ingest:.1f}, "
        f"worker {cpu.worker:.1f} of which ClickHouse merges {cpu.merges:.1f}, broker {cpu.broker:.1f}; "
        f"baseline {base_cpu:.1f} us per message)"
    )
    print(
        f"bench pipeline_worker_rss: {peak_mb:.0f} MB (peak of the worker and its ingest process, after {len(messages)} CDRs)"
    )

    worker = WorkerProcess.on_folder(settings, folder)
    try:
        worker.start()
        worker.wait_until_caught_up(timeout=300, partitions=PARTITIONS)
        asyncio.run(paced(settings, feed, LATENCY_RATE, LATENCY_SECONDS))
        seen = worker.wait_until_caught_up(timeout=300, partitions=PARTITIONS)
    finally:
        worker.stop()
    p50, p99 = (seen[f'cdrflow_event_to_queryable_seconds{{quantile="{q}"}}'] * 1000 for q in ("0.5", "0.99"))
    print(f"bench pipeline_latency_p50: {p50:.0f} ms (at {LATENCY_RATE} CDR/s)")
    print(f"bench pipeline_latency_p99: {p99:.0f} ms (at {LATENCY_RATE} CDR/s)")
    print(f"bench pipeline_stages: {stage_split(seen)} (p50/p99 ms over the last minute, at {LATENCY_RATE} CDR/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
