from aiokafka import AIOKafkaProducer

from pipeline.live.topic import read_live_deltas
from pipeline.topics import ensure_topics


async def test_the_live_topic_gives_back_the_messages_at_the_offsets_asked_for(settings):
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, max_request_size=8 << 20)
    await producer.start()
    try:
        messages = [b'{"p":0,"o":%d,"m":[]}' % i for i in range(3000)] + [b"x" * (3 << 20)]
        for message in messages:
            await producer.send(settings.live_topic, message, partition=0)
        await producer.flush()
    finally:
        await producer.stop()
    wanted = [5, 6, 1500, 2999, 3000]
    assert await read_live_deltas(settings, wanted) == {offset: messages[offset] for offset in wanted}
    assert await read_live_deltas(settings, [2998, 3001, 4000]) == {2998: messages[2998]}  # past the end: none
    assert await read_live_deltas(settings, []) == {}
