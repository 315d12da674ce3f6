"""The caught-up mark moves under a steady feed, once the batches in flight are applied."""

from pipeline.caught_up import CaughtUpMark


def test_the_mark_follows_each_forwarded_moment_once_its_batches_are_applied():
    mark = CaughtUpMark()
    mark.forwarded(100.0, {0: 10, 1: 7})
    assert mark.applied({0: 10, 1: 6}) is None  # a batch of partition 1 still in flight
    mark.forwarded(101.0, {0: 12, 1: 8})
    assert mark.applied({0: 11, 1: 7}) == 100.0  # never a moment with no lag, and yet it moves
    mark.forwarded(100.5, {0: 12, 1: 8})  # an older report changes nothing
    assert mark.applied({0: 12, 1: 8}) == 101.0
    assert mark.applied({0: 12, 1: 8}) == 101.0


def test_a_partition_handed_to_another_worker_holds_nothing_back():
    mark = CaughtUpMark()
    mark.forwarded(50.0, {0: 10, 1: 10})
    assert mark.applied({0: 10}) == 50.0
