"""Streaming risk signals per account, and their points.

Invariant: each answered question updates an account's moving shares in constant time; a
score is the sum of the points of the signals beyond their thresholds, each one explainable
as (signal, value, baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigie.guard.baselines import Peers, next_baseline
from vigie.guard.features import Caller, Question

ALPHA = 0.15  # weight of one question in an account's moving shares (about 12 questions)
CARDLESS_ALPHA = 2 * ALPHA
SEEN_GENERATION = 3_000  # patients remembered per generation (two generations kept)
NEW_ORIGIN_MEMORY = 86_400.0  # an origin counts as new for a day after its step-up


def local_clock(now: float) -> tuple[int, int, int]:
    """(day number, hour, weekday with Monday 0) in metropolitan French winter time (UTC+1)."""
    shifted = now + 3_600.0
    day = int(shifted // 86_400)
    return day, int(shifted % 86_400 // 3_600), (day + 3) % 7


def off_hours(hour: int, weekday: int) -> bool:
    return hour < 7 or hour >= 21 or weekday == 6


@dataclass(slots=True)
class AccountState:
    caller: Caller
    baseline: float
    questions: int = 0
    negative: float = 0.0
    far: float = 0.0
    unseen: float = 0.0
    stranger: float = 0.0
    sequence: float = 0.0
    off: float = 0.0
    cardless: float = 0.0
    day: int = -1
    day_count: int = 0
    throttle_slot: int = -1
    throttles: int = 0
    estimates_day: int = 0
    orphans: float = 0.0  # share of yesterday's estimates never followed by an agreement
    last_series: int = 0
    last_order: int = -10
    seen: set[int] = field(default_factory=set)
    seen_before: set[int] = field(default_factory=set)
    pending_estimates: set[int] = field(default_factory=set)
    origins: dict[int, float] = field(default_factory=dict)  # origin -> admitted since
    pending_origins: dict[int, float] = field(default_factory=dict)  # origin -> first seen
    slowed_at: int | None = None  # questions count when the account was slowed down

    @classmethod
    def fresh(cls, caller: Caller, peers: Peers) -> AccountState:
        return cls(
            caller=caller,
            baseline=peers.daily,
            negative=peers.negative,
            far=peers.far,
            unseen=peers.unseen,
            stranger=peers.stranger,
            off=peers.off_hours,
            cardless=peers.cardless,
        )

    def roll_day(self, day: int, peers: Peers) -> None:
        if self.day >= 0 and self.day_count:
            self.baseline = next_baseline(self.baseline, self.day_count, peers.daily / 4)
        if self.estimates_day >= 5:
            self.orphans = len(self.pending_estimates) / self.estimates_day
        self.pending_estimates.clear()
        self.estimates_day = 0
        self.day, self.day_count = day, 0

    def throttled(self, now: float) -> int:
        slot = int(now // 600)
        if slot != self.throttle_slot:
            self.throttle_slot, self.throttles = slot, 0
        self.throttles += 1
        return self.throttles

    def recent_throttles(self, now: float) -> int:
        return self.throttles if int(now // 600) == self.throttle_slot else 0

    def learn(self, q: Question, positive: bool, now: float, peers: Peers) -> None:
        day, hour, weekday = local_clock(now)
        if day != self.day:
            self.roll_day(day, peers)
        self.day_count += 1
        self.questions += 1
        far = q.departement != self.caller.departement
        unseen = q.patient not in self.seen and q.patient not in self.seen_before
        if unseen:
            if len(self.seen) >= SEEN_GENERATION:
                self.seen_before, self.seen = self.seen, set()
            self.seen.add(q.patient)
        off = off_hours(hour, weekday)
        sequential = q.series == self.last_series and 0 < abs(q.order - self.last_order) <= 3
        self.last_series, self.last_order = q.series, q.order
        a = CARDLESS_ALPHA if q.cardless else ALPHA  # a card-less question weighs double
        self.negative += a * ((not positive) - self.negative)
        self.far += a * (far - self.far)
        self.unseen += a * (unseen - self.unseen)
        self.stranger += a * ((far and unseen) - self.stranger)
        self.sequence += a * (sequential - self.sequence)
        self.off += a * (off - self.off)
        self.cardless += a * (q.cardless - self.cardless)
        if positive and not q.agree:
            self.estimates_day += 1
            self.pending_estimates.add(q.patient)
        elif q.agree:
            self.pending_estimates.discard(q.patient)
        peers.learn(not positive, far, unseen, off, q.cardless)

    def new_origin(self, now: float) -> bool:
        """Admitted from an origin first used less than a day ago (the first one excepted)."""
        if len(self.origins) < 2:
            return False
        return now - max(self.origins.values()) < NEW_ORIGIN_MEMORY
