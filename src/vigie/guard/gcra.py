"""GCRA (generic cell rate algorithm) quotas, in process; the Redis store shares the same rule.

Invariant: a set of checks is taken atomically: either every key admits one more question and
all are charged, or none is charged and the caller learns how long to wait.

For a limit of n per period T: emission interval I = T / n, tolerance T - I; a key stores its
theoretical arrival time (TAT). A question at t is admitted when max(TAT, t) + I - T <= t.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from vigie.guard.quotas import Check


class QuotaStoreUnavailable(RuntimeError):
    """The shared quota store cannot answer: the eligibility API fails closed (503)."""


class WouldWait(Exception):
    """``take(..., wait=False)`` needs the network: no unit was taken or charged (a process's
    own bookkeeping may have moved, harmlessly); ask again where waiting costs no one else
    (a worker thread, not the event loop)."""


class QuotaStore(Protocol):
    def take(self, checks: Sequence[Check], now: float, *, wait: bool = True) -> float:
        """0.0 when admitted (and charged), else the seconds to wait before a retry; with
        ``wait`` False, WouldWait rather than a network round trip."""
        ...

    def close(self) -> None:
        """Give back what this process holds (leased units) when it stops."""
        ...


def wait_for(tat: float | None, limit: int, period: float, now: float) -> tuple[float, float]:
    """(seconds to wait, new TAT if admitted) for one key."""
    interval = period / limit
    base = now if tat is None or tat < now else tat
    new_tat = base + interval
    allowed_at = new_tat - period
    return (allowed_at - now if allowed_at > now else 0.0), new_tat


class MemoryQuotaStore:
    """One process's quotas; keys whose TAT is past are forgotten at a sweep."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()
        self._swept = 0.0

    def take(self, checks: Sequence[Check], now: float, *, wait: bool = True) -> float:
        with self._lock:  # never waits: ``wait`` changes nothing here
            if now - self._swept > 3_600:
                self._sweep(now)
            tats = self._tat
            get = tats.get
            delay_max = 0.0
            for key, limit, period in checks:
                tat = get(key, now)
                delay = (tat if tat > now else now) + period / limit - period - now
                if delay > delay_max:
                    delay_max = delay
            if delay_max > 0:
                return delay_max
            for key, limit, period in checks:  # the same sums again: no list per question
                tat = get(key, now)
                tats[key] = (tat if tat > now else now) + period / limit
            return 0.0

    def close(self) -> None:
        """Nothing is held for anyone else: the quotas live and die with this process."""

    def _sweep(self, now: float) -> None:
        self._swept = now
        self._tat = {k: v for k, v in self._tat.items() if v > now}
