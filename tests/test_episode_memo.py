"""EpisodeMemo: a retried episode repeats its failed attempt's time and ids, and only then (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.pipeline.episode_memo import EpisodeMemo

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def clock(start: datetime = T0):  # type: ignore[no-untyped-def]
    times = iter(start + timedelta(seconds=i) for i in range(100))
    return lambda: next(times)


def test_a_retry_from_the_same_history_with_the_same_messages_repeats_time_and_ids() -> None:
    memo, now = EpisodeMemo(), clock()
    first, repeated = memo.begin("i", etag="e1", events=5, messages=("m1", "m2"), now=now)
    ids = [first.new_guid(), first.new_guid()]
    assert not repeated
    memo.failed("i", first)
    again, repeated = memo.begin("i", etag="e1", events=5, messages=("m1", "m2", "m3"), now=now)
    assert repeated and again.now == first.now
    assert [again.new_guid(), again.new_guid(), again.new_guid()][:2] == ids


def test_a_committed_history_or_other_messages_decide_afresh() -> None:
    memo, now = EpisodeMemo(), clock()
    first, _ = memo.begin("i", etag="e1", events=5, messages=("m1",), now=now)
    memo.failed("i", first)
    moved, repeated = memo.begin("i", etag="e2", events=9, messages=("m1",), now=now)
    assert not repeated and moved.now != first.now
    other, repeated = memo.begin("i", etag="e2", events=9, messages=("m9",), now=now)
    assert not repeated and other.now != moved.now


def test_done_forgets_and_other_messages_wait_for_the_failed_ones() -> None:
    memo, now = EpisodeMemo(), clock()
    decision, _ = memo.begin("i", etag="e1", events=5, messages=("m1",), now=now)
    assert memo.waiting_for("i", etag="e1", events=5, messages=("m7",)) == ()  # nothing was sent
    memo.failed("i", decision)
    assert memo.waiting_for("i", etag="e1", events=5, messages=("m7",)) == ("m1",)
    assert memo.waiting_for("i", etag="e1", events=5, messages=("m1", "m7")) == ()
    assert memo.waiting_for("i", etag="e2", events=6, messages=("m7",)) == ()
    memo.done("i")
    assert len(memo) == 0
    assert memo.waiting_for("i", etag="e1", events=5, messages=("m7",)) == ()


def test_the_memo_is_bounded() -> None:
    memo, now = EpisodeMemo(max_entries=3), clock()
    for i in range(5):
        memo.begin(f"i{i}", etag=None, events=0, messages=(), now=now)
    assert len(memo) == 3


def test_an_attempt_that_sent_nothing_is_not_repeated() -> None:
    memo, now = EpisodeMemo(), clock()
    first, _ = memo.begin("i", etag="e1", events=5, messages=("m1",), now=now)
    again, repeated = memo.begin("i", etag="e1", events=5, messages=("m1",), now=now)
    assert not repeated and again.now != first.now


def test_a_batch_holding_the_failed_attempts_messages_is_arranged_in_its_order() -> None:
    """A message that waited for the retry was put back as a new queue message (inserted later), so it
    may now sort after a message it preceded: the retry still applies the failed attempt's messages
    first, in its order, and the others after them."""
    memo = EpisodeMemo()
    decision, _ = memo.begin("i", etag="e", events=3, messages=("start", "answer"), now=clock())
    memo.failed("i", decision)
    assert memo.arrange("i", etag="e", events=3, messages=["answer", "new", "start"]) == [2, 0, 1]
    # not all of them here, another history, or nothing failed: as they are
    assert memo.arrange("i", etag="e", events=3, messages=["answer", "new"]) == [0, 1]
    assert memo.arrange("i", etag="f", events=3, messages=["answer", "start"]) == [0, 1]
    assert memo.arrange("j", etag="e", events=3, messages=["answer", "start"]) == [0, 1]
