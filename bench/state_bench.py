"""State benchmark: the RocksDB-backed dedup state at millions of ids.

One worker on a fresh folder (CDRFLOW_STATE=rocksdb, the default) takes 2M distinct CDR ids, then
6M more, against a real broker (CDRFLOW_BENCH_BROKER). It prints, at 2M and at 8M ids, the
worker's and its ingest process's resident memory and the time from `kill -9` to caught up again
on the same disk (both should stay flat in the number of ids); the state's bytes per id on disk;
and the rate of a rebuild on a fresh disk from the changelog. BENCH_SCALE scales the number of ids.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

import orjson

from bench.pipeline_bench import bench_folder, rss_mb
from consumers.feed.producer import send_messages
from consumers.feed.switch import FeedShape, SwitchFeed
from consumers.worker import WorkerProcess

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
FIRST_IDS, MORE_IDS = int(2_000_000 * SCALE), int(6_000_000 * SCALE)
PARTITIONS = 4
CHUNK = 200_000


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


async def publish_ids(settings, feed: SwitchFeed, count: int, start_ms: int) -> None:
    """`count` CDRs with distinct ids, sent in chunks (the feed's ids are random UUIDs)."""
    for sent in range(0, count, CHUNK):
        n = min(CHUNK, count - sent)
        await send_messages(settings, [orjson.dumps(e) for e in feed.events(start_ms, n, 86_400_000)])


def caught_up(worker: WorkerProcess, messages: int) -> dict[str, float]:
    return worker.wait_until_caught_up(messages, timeout=3600, partitions=PARTITIONS)


def restart_seconds(worker: WorkerProcess) -> float:
    """From `kill -9` to caught up again on the same disk."""
    worker.kill()
    killed = time.monotonic()
    worker.start()
    caught_up(worker, 0)
    return time.monotonic() - killed


def main() -> int:
    folder, settings = bench_folder("cdrflow-state-bench-")
    feed = SwitchFeed(FeedShape(seed=43))
    start_ms = int(time.time() * 1000) - 86_400_000
    state_dir = folder / "var" / "faust"
    worker = WorkerProcess.on_folder(settings, folder)
    try:
        asyncio.run(publish_ids(settings, feed, FIRST_IDS, start_ms))
        worker.start()
        seen = caught_up(worker, FIRST_IDS)
        ids = int(seen["cdrflow_cdrs_applied_total"])
        rss_first = rss_mb(worker, "VmRSS")
        disk = folder_bytes(state_dir)
        restart = restart_seconds(worker)

        asyncio.run(publish_ids(settings, feed, MORE_IDS, start_ms))
        seen = caught_up(worker, MORE_IDS)
        ids_second = ids + int(seen["cdrflow_cdrs_applied_total"])
        rss_second = rss_mb(worker, "VmRSS")
        restart_second = restart_seconds(worker)
        worker.stop()

        shutil.rmtree(state_dir)  # a fresh disk: everything comes from the changelog
        started = time.monotonic()
        worker.start()
        seen = caught_up(worker, 0)
        rebuild = time.monotonic() - started
        entries = seen["cdrflow_state_changelog_read_total"]
    finally:
        worker.stop()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"bench state_rss: {rss_first:.0f} MB at {ids} ids, {rss_second:.0f} MB at {ids_second} ids "
          f"(worker and ingest process, ratio {rss_second / rss_first:.2f})")  # fmt: skip
    print(f"bench state_disk_per_id: {disk / ids:.0f} bytes ({disk / 1e6:.0f} MB for {ids} ids)")
    print(f"bench state_restart: {restart:.1f} s at {ids} ids, {restart_second:.1f} s at {ids_second} ids "
          f"(kill -9 to caught up, ratio {restart_second / restart:.2f})")  # fmt: skip
    print(f"bench state_rebuild: {entries / rebuild:.0f} entries/s ({entries:.0f} changelog records, "
          f"{rebuild:.1f} s from start to caught up on a fresh disk)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
