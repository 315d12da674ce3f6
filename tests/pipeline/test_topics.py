import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.admin.new_topic import NewTopic

from pipeline import topics
from pipeline.topics import TopicMismatch, ensure_topics, partition_counts


async def topic_configs(admin: AIOKafkaAdminClient, name: str) -> dict[str, str]:
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [(_, _, _, _, entries)] = response.resources
    return {entry[0]: entry[1] for entry in entries}


async def settled_partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition counts once the new topics' metadata has reached the broker's cache."""
    for _ in range(50):
        counts = await partition_counts(admin, names)
        if len(counts) == len(names):
            return counts
        await asyncio.sleep(0.2)
    return counts


@pytest.fixture
async def admin(settings):
    client = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await client.start()
    yield client
    await client.close()


async def test_topics_are_created_with_their_partitions_and_cleanup_policy(settings, admin):
    created = await ensure_topics(settings)
    assert sorted(created) == sorted(
        [settings.topic, settings.dlq_topic, settings.batch_topic, settings.state_changelog, settings.live_topic,
         settings.live_changelog]
    )  # fmt: skip
    counts = await settled_partition_counts(admin, created)
    assert counts == {
        settings.topic: 4,
        settings.dlq_topic: 1,
        settings.batch_topic: 4,
        settings.state_changelog: 4,
        settings.live_topic: 1,  # one worker keeps the live windows
        settings.live_changelog: 1,
    }
    assert (await topic_configs(admin, settings.state_changelog))["cleanup.policy"] == "compact"
    assert (await topic_configs(admin, settings.live_changelog))["cleanup.policy"] == "compact"
    assert (await topic_configs(admin, settings.batch_topic))["cleanup.policy"] == "delete"
    assert (await topic_configs(admin, settings.topic))["cleanup.policy"] == "delete"


async def test_creating_again_creates_nothing(settings):
    await ensure_topics(settings)
    assert await ensure_topics(settings) == []


async def test_an_input_topic_may_have_any_partition_count(settings, admin):
    await admin.create_topics([NewTopic(settings.topic, 3, 1)])
    await ensure_topics(settings)
    assert (await partition_counts(admin, [settings.topic]))[settings.topic] == 3


async def test_an_internal_topic_with_other_partitions_is_refused(settings, admin):
    await admin.create_topics([NewTopic(settings.batch_topic, 2, 1)])
    with pytest.raises(TopicMismatch, match="CDRFLOW_PARTITIONS"):
        await ensure_topics(settings)


async def test_a_topic_missing_from_stale_metadata_is_still_checked(settings, admin, monkeypatch):
    await admin.create_topics([NewTopic(settings.batch_topic, 2, 1)])
    listed = topics.partition_counts

    async def not_listed_at_first(client, names):
        return {} if len(names) > 1 else await listed(client, names)

    monkeypatch.setattr(topics, "partition_counts", not_listed_at_first)
    with pytest.raises(TopicMismatch, match="CDRFLOW_PARTITIONS"):
        await ensure_topics(settings)


async def test_the_broker_does_not_create_topics_on_its_own(settings, kafka):
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises((KafkaTimeoutError, UnknownTopicOrPartitionError)):
            await producer.send_and_wait(f"{settings.topic}.never-declared", b"x")
    finally:
        await producer.stop()


async def test_the_batch_topic_keeps_as_long_as_the_input_topic(settings, admin):
    three_days, ten_days = str(3 * 86_400_000), str(10 * 86_400_000)
    await admin.create_topics([NewTopic(settings.topic, 2, 1, topic_configs={"retention.ms": three_days})])
    await settled_partition_counts(admin, [settings.topic])
    await ensure_topics(settings)
    assert (await topic_configs(admin, settings.batch_topic))["retention.ms"] == three_days

    # The switches' team keeps its CDRs longer: the worker's next start follows, keeping the rest.
    await admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, settings.topic, configs={"retention.ms": ten_days})]
    )
    for _ in range(50):  # the broker applies a changed configuration a moment after it answers
        if (await topic_configs(admin, settings.topic))["retention.ms"] == ten_days:
            break
        await asyncio.sleep(0.1)
    await ensure_topics(settings)
    configs = await topic_configs(admin, settings.batch_topic)
    assert configs["retention.ms"] == ten_days
    assert configs["max.message.bytes"] == str(8 * 1024 * 1024)
