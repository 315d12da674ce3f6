from collections import Counter

import orjson

from consumers.feed.switch import DESTINATIONS, FeedShape, SwitchFeed
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


def test_every_number_is_a_full_number_of_its_destination():
    ranges = {d.customer_destination: d for d in DESTINATIONS}
    for event in feed_events(20_000):
        destination = ranges[event["customer_destination"]]
        assert event["provider_destination"] == destination.provider_destination
        assert event["dest_number"].startswith(destination.prefix), event
        assert len(event["dest_number"]) == destination.digits, event


def test_each_customer_sends_mostly_to_its_home_markets():
    by_customer: dict[str, Counter] = {}
    for event in feed_events(40_000):
        by_customer.setdefault(event["customer"], Counter())[event["customer_destination"]] += 1
    busiest = sorted(by_customer.values(), key=lambda c: -sum(c.values()))[:5]
    for mix in busiest:
        top_two = sum(n for _, n in mix.most_common(2))
        assert top_two > 0.5 * sum(mix.values())
    home_markets = {tuple(sorted(d for d, _ in mix.most_common(2))) for mix in busiest}
    assert len(home_markets) > 1  # customers differ in where they send


def test_a_call_sent_at_hang_up_ends_in_its_second_never_later():
    """As a switch sends a CDR when the call ends: a paced feed's calls end no later than the send."""
    events = list(SwitchFeed(FeedShape(seed=4)).events(NOW_MS, 5000, 1000, ending=True))
    ends = [e["start_time"] + int(e.get("duration", 0) * 1000) for e in events if e.get("rev", 0) == 0]
    assert max(ends) < NOW_MS + 1000
    assert min(e["start_time"] for e in events) < NOW_MS - 600_000  # long calls began long before
