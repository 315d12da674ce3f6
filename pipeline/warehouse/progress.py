"""How far the pipeline has caught up: the moment before which every input message is in ClickHouse.

A worker is caught up through T when its ingest had forwarded every input message appended
before T and the worker has applied every batch of its batch partitions that was forwarded by
then (pipeline/caught_up.py). Each worker records its own T in `pipeline_progress` every ten
seconds; the pipeline as a whole is caught up through the smallest T of the workers that
reported lately. Scheduled reports wait for it: a CDR reaches Kafka when its call ends, so a
period is complete once the pipeline is caught up past the period's end plus a grace.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Progress:
    through: datetime | None  # the pipeline's caught-up moment (aware, UTC); None while no worker reports
    newest_report: datetime | None  # when a worker last reported, however long ago; None if none ever did


def read_progress(client: Client, now: datetime | None = None) -> Progress:
    now = now or datetime.now(timezone.utc)
    result = client.query(
        "SELECT minIf(through, last >= {since:DateTime64(3, 'UTC')}), countIf(last >= {since:DateTime64(3, 'UTC')}), "
        "max(last), count() FROM (SELECT worker, argMax(caught_up_through, reported_at) AS through, "
        "max(reported_at) AS last FROM pipeline_progress GROUP BY worker)",
        parameters={"since": now - REPORTING_WORKER},
    )
    through, workers, newest, ever = result.result_rows[0]
    return Progress(
        through.replace(tzinfo=timezone.utc) if workers else None, newest.replace(tzinfo=timezone.utc) if ever else None
    )
