"""How far the pipeline has caught up: the moment before which every input message is in ClickHouse.

A worker is caught up through T when its ingest had forwarded every input message appended
before T and the worker has applied every batch of its batch partitions that was forwarded by
then (pipeline/caught_up.py). Each worker records its own T in `pipeline_progress` every ten
seconds; the pipeline as a whole is caught up through the smallest T of the workers that
reported lately. Scheduled reports wait for it: a CDR reaches Kafka when its call ends, so a
period is complete once the pipeline is caught up past the period's end plus a grace.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client

# A worker that has not reported for this long has stopped; its partitions moved to others.
REPORTING_WORKER = timedelta(minutes=2)


def insert_progress(client: Client, worker: str, caught_up_through: datetime) -> None:
    client.insert(
        "pipeline_progress",
        [[worker, datetime.now(timezone.utc), caught_up_through.astimezone(timezone.utc)]],
        column_names=["worker", "reported_at", "caught_up_through"],
    )


def caught_up_through(client: Client, now: datetime | None = None) -> datetime | None:
    """The pipeline's caught-up moment (aware, UTC); None while no worker reports."""
    now = now or datetime.now(timezone.utc)
    result = client.query(
        "SELECT min(through), count() FROM (SELECT worker, argMax(caught_up_through, reported_at) AS through "
        "FROM pipeline_progress GROUP BY worker HAVING max(reported_at) >= {since:DateTime64(3, 'UTC')})",
        parameters={"since": now - REPORTING_WORKER},
    )
    through, workers = result.result_rows[0]
    return through.replace(tzinfo=timezone.utc) if workers else None
