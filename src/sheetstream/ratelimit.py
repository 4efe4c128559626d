"""How many messages a connection may send: a token bucket, and when to give up on a flood."""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    OK = "ok"  # handle the message
    LIMITED = "limited"  # refuse it with `rate_limited`
    EXCEEDED = "exceeded"  # the client ignores the refusals: close the connection


class MessageRate:
    """`per_minute` messages a minute on average, in bursts of up to `per_minute`.

    Past the limit each message is refused; `grace` refusals in a row without the client
    slowing down mean it is not listening, and the connection should be closed.
    """

    __slots__ = ("_allowance", "_refused", "_stamp")

    def __init__(self, per_minute: int, now: float) -> None:
        self._allowance = float(per_minute)
        self._stamp = now
        self._refused = 0

    def take(self, now: float, per_minute: int, grace: int) -> Verdict:
        if per_minute <= 0:
            return Verdict.OK
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._allowance = min(float(per_minute), self._allowance + elapsed * per_minute / 60.0)
        if self._allowance >= 1.0:
            self._allowance -= 1.0
            self._refused = 0
            return Verdict.OK
        self._refused += 1
        return Verdict.EXCEEDED if self._refused > grace else Verdict.LIMITED

    def retry_after_s(self, per_minute: int) -> float:
        """Seconds until the next message would be accepted."""
        return max(0.0, (1.0 - self._allowance) * 60.0 / per_minute) if per_minute > 0 else 0.0
