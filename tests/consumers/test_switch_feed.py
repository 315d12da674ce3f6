from collections import Counter

import orjson

from consumers.switch_feed import FeedShape, SwitchFeed
from pipeline.events import parse_message

NOW_MS = 1_795_000_000_000


def feed_events(count: int, seed: int = 3) -> list[dict]:
    return list(SwitchFeed(FeedShape(seed=seed)).events(NOW_MS, count, 60_000))


def test_every_generated_cdr_is_valid():
    for event in feed_events(5000):
        cdrs, invalid = parse_message(orjson.dumps(event), NOW_MS)
        assert invalid == [] and len(cdrs) == 1


def test_asr_is_between_40_and_60_percent_with_the_usual_failures():
    codes = Counter(e["sip_code"] for e in feed_events(20_000))
    assert 0.4 <= codes[200] / sum(codes.values()) <= 0.6
    assert set(codes) == {200, 486, 487, 503, 404}


def test_customers_and_numbers_are_heavy_tailed():
    events = feed_events(20_000)
    customers = Counter(e["customer"] for e in events).most_common()
    assert customers[0][1] > 5 * customers[-1][1]
    numbers = Counter(e["dest_number"] for e in events).most_common()
    assert numbers[0][1] > 20 and numbers[-1][1] == 1


def test_dtmf_only_on_ivr_numbers_and_some_rerates_and_resends():
    events = feed_events(20_000)
    dtmf_numbers = {e["dest_number"] for e in events if e.get("dtmf")}
    assert 0 < len(dtmf_numbers) <= 3
    assert any(e.get("rev", 0) > 0 for e in events)
    ids = Counter((e["id"], e.get("rev", 0)) for e in events)
    assert max(ids.values()) > 1  # resent unchanged


def test_the_same_seed_gives_the_same_feed():
    assert feed_events(500, seed=9) == feed_events(500, seed=9)
