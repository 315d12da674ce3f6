"""The Kafka topics cdrflow needs, created explicitly (brokers run with auto-creation off)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from pipeline.settings import Settings

DAY_MS = 24 * 3600 * 1000


class TopicMismatch(RuntimeError):
    """An existing internal topic whose partition count differs from what the worker needs."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    # Input topics belong to the switches and may have any partition count; internal ones must match.
    exact_partitions: bool = False
    retention_of: str | None = None  # keep records as long as this topic does (set on an existing topic too)


INPUT_RETENTION_MS = 7 * DAY_MS


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The input topic (when cdrflow creates it), the DLQ and the internal topics. The batch topic
    keeps as long as the input topic: batches a warehouse outage holds up are kept as long as the
    CDRs they came from would have been."""
    n = settings.partitions
    durable = {"min.insync.replicas": str(min(2, settings.replication))}
    return [
        TopicSpec(settings.topic, n, {"cleanup.policy": "delete", "retention.ms": str(INPUT_RETENTION_MS)}),
        TopicSpec(settings.dlq_topic, 1, {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS), **durable}),
        TopicSpec(
            settings.batch_topic,
            n,
            {"cleanup.policy": "delete", "max.message.bytes": str(8 * 1024 * 1024), **durable},
            exact_partitions=True,
            retention_of=settings.topic,
        ),  # fmt: skip
        TopicSpec(settings.state_changelog, n, {"cleanup.policy": "compact", **durable}, exact_partitions=True),
        TopicSpec(
            settings.live_topic,
            1,
            {"cleanup.policy": "delete", "max.message.bytes": str(8 * 1024 * 1024), **durable},
            exact_partitions=True,
            retention_of=settings.topic,
        ),  # fmt: skip
        TopicSpec(
            settings.live_changelog,
            1,
            {"cleanup.policy": "compact", "max.message.bytes": str(8 * 1024 * 1024), **durable},
            exact_partitions=True,
        ),  # fmt: skip
    ]


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics; returns the names created. Raises TopicMismatch on a bad existing one."""
    specs = topic_specs(settings) if specs is None else specs
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id=f"{settings.app_id}-admin")
    await admin.start()
    try:
        existing = await partition_counts(admin, [spec.name for spec in specs])
        created = []
        for spec in specs:
            if spec.retention_of is not None:
                retention = await topic_config(admin, spec.retention_of, "retention.ms")
                spec = replace(spec, config={**spec.config, "retention.ms": retention})
            if spec.name in existing:
                check_partitions(spec, existing[spec.name])
                if spec.retention_of is not None:
                    await keep_retention(admin, spec)
                continue
            response = await admin.create_topics(
                [NewTopic(spec.name, spec.partitions, settings.replication, topic_configs=spec.config)]
            )
            [(_name, code, *message)] = response.topic_errors  # the admin client answers errors, it raises none
            if code == 0:
                created.append(spec.name)
            elif code == TopicAlreadyExistsError.errno:
                # Created meanwhile by another worker, or created so recently that the metadata
                # answered above did not list it yet: it is checked as any existing topic.
                check_partitions(spec, await settled_partition_count(admin, spec.name))
            else:
                raise for_code(code)(f"creating topic {spec.name}: {message[0] if message else ''}")
        return created
    finally:
        await admin.close()


async def topic_config(admin: AIOKafkaAdminClient, name: str, key: str) -> str:
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs={key: None})])
    [(code, message, _type, _name, entries)] = response.resources
    if code != 0:
        raise for_code(code)(f"reading the configuration of topic {name}: {message}")
    return next(entry[1] for entry in entries if entry[0] == key)


async def keep_retention(admin: AIOKafkaAdminClient, spec: TopicSpec) -> None:
    """Give an existing topic the retention of its spec (with the rest of its spec's configuration:
    the broker replaces a topic's whole configuration)."""
    if await topic_config(admin, spec.name, "retention.ms") == spec.config["retention.ms"]:
        return
    [response] = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=spec.config)])
    [(code, message, *_)] = response.resources
    if code != 0:
        raise for_code(code)(f"setting the retention of topic {spec.name}: {message}")


def check_partitions(spec: TopicSpec, partitions: int) -> None:
    if spec.exact_partitions and partitions != spec.partitions:
        raise TopicMismatch(
            f"topic {spec.name} has {partitions} partitions, the worker needs "
            f"{spec.partitions} (CDRFLOW_PARTITIONS); delete it or set CDRFLOW_PARTITIONS"
        )


async def settled_partition_count(admin: AIOKafkaAdminClient, name: str, attempts: int = 50) -> int:
    """The partition count of a topic the broker says exists, once its metadata lists it."""
    for _ in range(attempts):
        counts = await partition_counts(admin, [name])
        if name in counts:
            return counts[name]
        await asyncio.sleep(0.1)
    raise TopicMismatch(f"topic {name} exists but its metadata did not appear within {attempts / 10:.0f} s")


async def partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition count of each named topic that exists."""
    described = await admin.describe_topics(names)
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
