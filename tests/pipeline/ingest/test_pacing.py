"""The ingest gathers longer while the worker's inserts keep its write threads busy, and shorter
once they are idle; batches only change size."""

from pipeline.ingest.pacing import BusyShare, IngestPacing

INSERT_SECONDS = 0.04  # what ClickHouse spends on one insert whatever its size
PER_ROW_SECONDS = 8e-6


def test_a_quiet_pipeline_forwards_after_the_shortest_linger():
    pacing = IngestPacing()
    for _ in range(10):
        assert pacing.update(busy_share=0.1) == pacing.shortest


def test_saturated_writes_double_the_linger_each_look_up_to_the_longest():
    pacing = IngestPacing()
    lingers = [pacing.update(busy_share=1.0) for _ in range(5)]
    assert lingers == [0.3, 0.6, pacing.longest, pacing.longest, pacing.longest]


def test_the_linger_comes_back_down_once_the_writes_have_room():
    pacing = IngestPacing(linger=1.0)
    lingers = [pacing.update(busy_share=0.0) for _ in range(4)]
    assert lingers == [0.5, 0.25, pacing.shortest, pacing.shortest]


def busy_share(linger: float, partitions: int, cdrs_per_second: float, insert_seconds: float) -> float:
    """The write thread's busy share when every `linger` one insert per partition goes in."""
    per_second = partitions / linger * insert_seconds + cdrs_per_second * PER_ROW_SECONDS
    return min(1.0, per_second)


def test_the_linger_settles_where_the_writes_keep_up_with_room_to_spare():
    """27 inserts a second (10k CDR/s, 4 partitions, 0.15 s) would need more than the write
    thread; the linger grows until it is busy about half the time, and stays there."""
    pacing = IngestPacing()
    for _ in range(30):
        pacing.update(busy_share(pacing.linger, 4, 10_000, INSERT_SECONDS))
    settled = pacing.linger
    assert 0.3 < settled < pacing.longest
    assert 0.4 <= busy_share(settled, 4, 10_000, INSERT_SECONDS) <= 0.6


def test_inserts_slowed_by_other_work_lengthen_the_linger_further():
    """The same feed while reports take the CPU: each insert takes three times as long."""
    alone, loaded = IngestPacing(), IngestPacing()
    for _ in range(30):
        alone.update(busy_share(alone.linger, 4, 5_000, INSERT_SECONDS))
        loaded.update(busy_share(loaded.linger, 4, 5_000, 3 * INSERT_SECONDS))
    assert loaded.linger > alone.linger


def test_the_busy_share_is_the_writing_time_between_two_looks():
    clock, busy = [100.0], [0.0]
    share = BusyShare(lambda: busy[0], lambda: clock[0])
    clock[0], busy[0] = 100.5, 0.25
    assert share() == 0.5
    clock[0] = 101.5
    assert share() == 0.0  # no write in the last second
    clock[0], busy[0] = 102.0, 2.0  # an insert that began before the last look ends now
    assert share() == 1.0
    assert share() == 0.0  # no time has passed
