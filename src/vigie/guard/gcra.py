"""GCRA (generic cell rate algorithm) quotas, in process; the Redis store shares the same rule.

Invariant: a set of checks is taken atomically: either every key admits one more question and
all are charged, or none is charged and the caller learns how long to wait.

For a limit of n per period T: emission interval I = T / n, tolerance T - I; a key stores its
theoretical arrival time (TAT). A question at t is admitted when max(TAT, t) + I - T <= t,
give or take SLACK: intervals such as 86,400 s / 500 are not exact in binary, and the rounding
of TATs near the epoch's 1.8e9 s accumulates over a window's units (up to half a millisecond
for 10,000 a month), which must not refuse the last unit of a full window.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Sequence
from typing import Protocol

from vigie.guard.quotas import Check, Checks


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


SLACK = 1e-3  # seconds: a delay this small is rounding, not a refusal (the Redis script's too)
NEVER = float("-inf")  # the TAT of a key never asked (or swept): any moment admits it
SWEEP_EVERY = 3_600.0


def take_in_one_pass(
    tats: array[float], windows: tuple[tuple[int, float, float], ...], now: float, slack: float
) -> float:
    """Charge one unit on each window (slot, interval, period) of ``tats``, each slot listed
    once: 0.0, or the longest wait with nothing charged. One pass, charging as it goes (a
    window idle since its last unit cannot refuse); a refusal, rare, puts back what was charged.
    The same comparisons as the two-pass rule, so a NaN admits there as here. Its C twin
    (_speedups.take) runs where built: the same operations in the same order."""
    before: list[float] = []
    for slot, interval, period in windows:
        tat = tats[slot]
        if tat > now and tat + interval - period - now > slack:
            for (charged, _, _), old in zip(windows, before, strict=False):
                tats[charged] = old
            return _longest_wait(tats, windows, now)
        before.append(tat)
        tats[slot] = tat + interval if tat > now else now + interval
    return 0.0


def _longest_wait(
    tats: array[float], windows: Sequence[tuple[int, float, float]], now: float
) -> float:
    return max(
        (tats[slot] if tats[slot] > now else now) + interval - period - now
        for slot, interval, period in windows
    )


_take_in_one_pass: Callable[
    [array[float], tuple[tuple[int, float, float], ...], float, float], float
] = take_in_one_pass
try:  # the C twin, built with the package (a compiler was there); else Python's
    from vigie.guard import _speedups
except ImportError:  # pragma: no cover - an installation without a C compiler
    pass
else:
    _take_in_one_pass = _speedups.take


class MemoryQuotaStore:
    """One process's quotas: each key's TAT in one array of doubles, a slot per key.

    A question's checks are resolved to their slots once per checks object (the guard keeps one
    per account and kind, and the store notes the slots on it), not looked up by name per
    question: an account's windows sit side by side in one cache line, and no float object is
    kept per key. Every hour a sweep forgets the keys whose TAT is past (they admit as if never
    asked) and moves the generation on: every note is then resolved again.
    """

    def __init__(self) -> None:
        self._slots: dict[str, int] = {}  # key -> its index in _tat
        self._tat = array("d")
        self._generation = 0
        self._swept = 0.0
        self._lock = threading.Lock()

    def take(self, checks: Sequence[Check], now: float, *, wait: bool = True) -> float:
        with self._lock:  # never waits: ``wait`` changes nothing here
            if now - self._swept > SWEEP_EVERY:
                self._sweep(now)
            noted = checks.noted if type(checks) is Checks else None
            if type(noted) is tuple and noted[0] is self and noted[1] == self._generation:
                windows: tuple[tuple[int, float, float], ...] = noted[2]
                one_pass: bool = noted[3]
            else:
                windows, one_pass = self._resolve(checks)
            if not one_pass:
                return self._take_twice_listed(windows, now)
            return _take_in_one_pass(self._tat, windows, now, SLACK)

    def _take_twice_listed(self, windows: Sequence[tuple[int, float, float]], now: float) -> float:
        """A key listed more than once (no quota table does it): every copy is judged on the
        key's TAT before the question, then charged in turn, in two passes."""
        delay = _longest_wait(self._tat, windows, now)
        if delay > SLACK:
            return delay
        tats = self._tat
        for slot, interval, _ in windows:
            tat = tats[slot]
            tats[slot] = (tat if tat > now else now) + interval
        return 0.0

    def due(self, key: str) -> float | None:
        """A key's theoretical arrival time; None when never asked (tests, diagnostics)."""
        with self._lock:
            slot = self._slots.get(key)
            return None if slot is None else self._tat[slot]

    def close(self) -> None:
        """Nothing is held for anyone else: the quotas live and die with this process."""

    def _resolve(
        self, checks: Sequence[Check]
    ) -> tuple[tuple[tuple[int, float, float], ...], bool]:
        """Each window's (slot, interval, period), and whether each key is listed once (the
        one-pass take); noted on a Checks object for next time."""
        windows = []
        for key, limit, period in checks:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = len(self._tat)
                self._tat.append(NEVER)
            windows.append((slot, period / limit, period))
        found = tuple(windows)
        one_pass = len({slot for slot, _, _ in found}) == len(found)
        if type(checks) is Checks:
            checks.noted = (self, self._generation, found, one_pass)
        return found, one_pass

    def _sweep(self, now: float) -> None:
        """Keep only the keys whose TAT is still ahead, in new slots; older notes are void."""
        self._swept = now
        tats = self._tat
        kept = [(key, tats[slot]) for key, slot in self._slots.items() if tats[slot] > now]
        self._slots = {key: i for i, (key, _) in enumerate(kept)}
        self._tat = array("d", [tat for _, tat in kept])
        self._generation += 1
