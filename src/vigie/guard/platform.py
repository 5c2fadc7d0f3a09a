"""Platform-wide signals: origins shared across structures, and waves of new origins.

Invariant: memory is bounded by the accounts and origins seen in the last day; each call is
constant time (amortised pruning). A wave (burst) makes a cohort of the accounts that moved to
a new origin during it; the cohort's pooled questions say whether the wave extracts.
"""

from __future__ import annotations

from collections import deque

from vigie.guard.risk import LATE
from vigie.guard.signals import QUIET, SHARED_ORIGIN, Platform

DAY = 86_400.0
BURST_WINDOW = 900.0  # 15 minutes
BURST_MIN = 12  # accounts moving to new origins within the window, at the least
BURST_FACTOR = 5.0  # ... and this many times the usual rate
BURST_HOLD = DAY  # a wave's cohort stays watched this long after the wave is seen
# A slower wave, spread over hours: moves in the last day against the usual day.
SLOW_WAVE_MIN = 30
SLOW_WAVE_FACTOR = 3.0
COHORT_ALPHA = 0.02
PRUNE_EVERY = 300.0  # an origin's groups older than a day are dropped at most every 5 minutes


class PlatformWatch:
    def __init__(self) -> None:
        # origin -> {structure key: last seen}; a structure key is the structure or the account.
        self._origins: dict[int, dict[int, float]] = {}
        self._pruned: dict[int, float] = {}  # origin -> when its groups were last pruned
        self._moves: deque[tuple[float, int]] = deque()
        self._day_moves: deque[tuple[float, int]] = deque()
        self._rate = 2.0  # usual new-origin moves per window, learnt slowly
        self._rate_window = -1
        self._rate_count = 0
        self._daily: float | None = None  # usual new-origin moves per day, after a first day
        self._day = -1
        self._day_count = 0
        self.burst_until = 0.0
        self.cohort: set[int] = set()
        self.cohort_strangers = 0.3

    def facts(
        self, origin: int, group: int, account: int, now: float, stranger: bool | None = None
    ) -> Platform:
        """Note that ``group`` used ``origin``; what the platform says about it now: how many
        groups used it in the last day, and whether ``account`` moved in a watched wave (whose
        pool of questions an answered one joins first: ``stranger``, its patient far and
        unseen)."""
        groups = self._origins.get(origin)
        if groups is None:
            groups = self._origins[origin] = {}
        groups[group] = now
        if len(groups) > 2 and now - self._pruned.get(origin, 0.0) > PRUNE_EVERY:
            self._pruned[origin] = now
            stale = [g for g, t in groups.items() if now - t > DAY]
            for g in stale:
                del groups[g]
        shared = len(groups)
        if now < self.burst_until and account in self.cohort:
            if stranger is not None:
                self.cohort_strangers += COHORT_ALPHA * (stranger - self.cohort_strangers)
            return Platform(shared, burst=True, cohort_strangers=self.cohort_strangers)
        # The count matters only from SHARED_ORIGIN on: below it, one shared answer.
        return Platform(accounts_on_origin=shared) if shared >= SHARED_ORIGIN else QUIET

    def moved(self, account: int, now: float) -> None:
        """An account was admitted from a new origin."""
        # A move a little behind the current window or day (a note from another process
        # whose clock runs behind) counts in it; windows and days do not go back and forth.
        window = int(now // BURST_WINDOW)
        if window != self._rate_window and not _late(now, self._rate_window * BURST_WINDOW):
            if self._rate_window >= 0 and now >= self.burst_until:
                self._rate += 0.05 * (self._rate_count - self._rate)
            self._rate_window, self._rate_count = window, 0
        self._rate_count += 1
        day = int(now // DAY)
        if day != self._day and not _late(now, self._day * DAY):
            if self._day >= 0 and now >= self.burst_until:
                last = self._day_count
                self._daily = (
                    last if self._daily is None else self._daily + 0.1 * (last - self._daily)
                )
            self._day, self._day_count = day, 0
        self._day_count += 1
        moves, day_moves = self._moves, self._day_moves
        moves.append((now, account))
        day_moves.append((now, account))
        while moves and now - moves[0][0] > BURST_WINDOW:
            moves.popleft()
        while day_moves and now - day_moves[0][0] > DAY:
            day_moves.popleft()
        if now < self.burst_until:
            self.cohort.add(account)  # joins the watched wave; the wave does not last longer
        elif len(moves) >= max(BURST_MIN, BURST_FACTOR * self._rate):
            self._start_wave(now, moves)
        elif self._daily is not None and len(day_moves) >= max(
            SLOW_WAVE_MIN, SLOW_WAVE_FACTOR * self._daily
        ):
            self._start_wave(now, day_moves)

    def _start_wave(self, now: float, moves: deque[tuple[float, int]]) -> None:
        self.burst_until = now + BURST_HOLD
        self.cohort = {a for _, a in moves}
        self.cohort_strangers = 0.3


def _late(now: float, start: float) -> bool:
    """A moment just before ``start`` (the current window's or day's)."""
    return start - LATE <= now < start
