"""The message rate: bursts up to the limit, refill over time, give up on a flood."""

from __future__ import annotations

from sheetstream.ratelimit import MessageRate, Verdict


def test_a_burst_up_to_the_limit_then_refusals_then_the_close() -> None:
    rate = MessageRate(6, now=0.0)
    assert [rate.take(0.0, 6, grace=2) for _ in range(6)] == [Verdict.OK] * 6
    assert rate.take(0.0, 6, grace=2) is Verdict.LIMITED
    assert rate.take(0.0, 6, grace=2) is Verdict.LIMITED
    assert rate.take(0.0, 6, grace=2) is Verdict.EXCEEDED


def test_the_bucket_refills_at_the_rate_and_a_pause_forgives() -> None:
    rate = MessageRate(60, now=0.0)  # one a second
    for _ in range(60):
        rate.take(0.0, 60, grace=10)
    assert rate.take(0.0, 60, grace=10) is Verdict.LIMITED
    assert 0.9 < rate.retry_after_s(60) <= 1.0
    assert rate.take(0.5, 60, grace=10) is Verdict.LIMITED
    assert rate.take(1.6, 60, grace=10) is Verdict.OK  # refilled; the refusals start over
    for _ in range(10):
        assert rate.take(1.6, 60, grace=10) is Verdict.LIMITED
    assert rate.take(1.6, 60, grace=10) is Verdict.EXCEEDED


def test_refill_never_exceeds_the_burst() -> None:
    rate = MessageRate(3, now=0.0)
    verdicts = [rate.take(3600.0, 3, grace=0) for _ in range(4)]
    assert verdicts == [Verdict.OK, Verdict.OK, Verdict.OK, Verdict.EXCEEDED]


def test_zero_means_no_limit() -> None:
    rate = MessageRate(0, now=0.0)
    assert all(rate.take(0.0, 0, grace=0) is Verdict.OK for _ in range(1000))
