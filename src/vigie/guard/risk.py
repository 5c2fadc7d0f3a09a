"""Streaming risk signals per account, and per origin within an account.

Invariant: each answered question updates its account's counters and the moving shares of the
origin (device, network) it came from in constant time. Shares are kept per origin so that an
attacker's questions are not diluted by the honest owner's, asked at the same time from the
practice; volumes, patients seen and baselines are the account's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from vigie.guard.baselines import PEER_STEP, Peers, next_baseline
from vigie.guard.features import Caller, Question
from vigie.guard.quotas import Checks

ALPHA = 0.07  # weight of one question in an origin's moving shares (about 28 questions)
CARDLESS_ALPHA = 2 * ALPHA  # a card-less question weighs double
SEEN_GENERATION = 3_000  # patients remembered per generation (two generations kept)
NEW_ORIGIN_MEMORY = 86_400.0  # an origin counts as new for a day after its step-up
MAX_VIEWS = 8
THROTTLE_MEMORY = 600.0
SLOW_MEMORY = 3_600.0  # a slowed account stays slowed an hour at least
LATE = 300.0  # seconds: a question this far behind the current hour slot still counts in it


def local_clock(now: float) -> tuple[int, int, int]:
    """(day number, hour, weekday with Monday 0) in metropolitan French winter time (UTC+1)."""
    shifted = now + 3_600.0
    day = int(shifted // 86_400)
    return day, int(shifted % 86_400 // 3_600), (day + 3) % 7


def off_hours(hour: int, weekday: int) -> bool:
    return hour < 7 or hour >= 21 or weekday == 6


@dataclass(slots=True)
class Shares:
    """Moving shares of one origin's answered questions, starting from the peers'."""

    questions: int = 0
    negative: float = 0.0
    far: float = 0.0
    unseen: float = 0.0
    stranger: float = 0.0
    sequence: float = 0.0
    off: float = 0.0
    cardless: float = 0.0
    last_series: int = 0
    last_order: int = -10

    @classmethod
    def of(cls, peers: Peers) -> Shares:
        return cls(
            negative=peers.negative,
            far=peers.far,
            unseen=peers.unseen,
            stranger=peers.stranger,
            off=peers.off_hours,
            cardless=peers.cardless,
        )


@dataclass(slots=True)
class AccountState:
    caller: Caller
    peers: Peers  # its profession's (looked up once: an enum's hash is a Python call)
    baseline: float
    questions: int = 0
    day: int = -1
    day_count: int = 0
    # The current hour slot, [start, end) in epoch seconds (the local day changes on a slot
    # change): two float comparisons per question, where a floor division is a generic one.
    hour_start: float = math.inf
    hour_end: float = -math.inf
    hour_count: int = 0
    off_now: bool = False  # the current hour slot is off hours
    throttle_times: list[float] = field(default_factory=list)  # the last quota refusals
    slowed_until: float = 0.0
    estimates_day: int = 0
    orphans: float = 0.0  # share of yesterday's estimates never followed by an agreement
    views: dict[int, Shares] = field(default_factory=dict)  # origin -> its shares
    seen: set[int] = field(default_factory=set)
    seen_before: set[int] = field(default_factory=set)
    pending_estimates: set[int] = field(default_factory=set)
    origins: dict[int, float] = field(default_factory=dict)  # origin -> admitted since
    pending_origins: dict[int, float] = field(default_factory=dict)  # origin -> first seen
    slowed_at: int | None = None  # questions count when the account was slowed down
    # Quota keys by kind: 2 * card-less + slowed down (an index: no tuple hashed per question).
    checks: list[Checks | None] = field(default_factory=lambda: [None] * 4)

    @classmethod
    def fresh(cls, caller: Caller, peers: Peers) -> AccountState:
        return cls(caller=caller, peers=peers, baseline=peers.daily)

    def view(self, origin: int, peers: Peers) -> Shares:
        shares = self.views.get(origin)
        if shares is None:
            if len(self.views) >= MAX_VIEWS:
                del self.views[next(iter(self.views))]
            shares = self.views[origin] = Shares.of(peers)
        return shares

    def roll_day(self, day: int, peers: Peers) -> None:
        if self.day >= 0 and self.day_count:
            self.baseline = next_baseline(self.baseline, self.day_count, peers.daily / 4)
        if self.estimates_day >= 5:
            self.orphans = len(self.pending_estimates) / self.estimates_day
        self.pending_estimates.clear()
        self.estimates_day = 0
        self.day, self.day_count = day, 0

    def throttled(self, now: float) -> None:
        """Count a quota refusal; those of an account already slowed down do not count."""
        if self.slowed_at is not None:
            return
        times = self.throttle_times
        times.append(now)
        if len(times) > 10:
            del times[0]

    def recent_throttles(self, now: float) -> int:
        """Quota refusals in the last ten minutes."""
        times = self.throttle_times
        return sum(1 for t in times if now - t < THROTTLE_MEMORY) if times else 0

    def enter_slot(self, now: float, peers: Peers) -> None:
        """A new hour slot (local time is UTC+1: its days start on a slot too). A question a
        little earlier than the slot (another process's note ran ahead of this clock) counts in
        it, so that a day does not go back and forth; one far earlier (a clock set back, a note
        from a clock far ahead) starts its own slot, as it always did."""
        day, hour, weekday = local_clock(now)
        if day != self.day:
            self.roll_day(day, peers)
        start = now // 3_600 * 3_600
        self.hour_start, self.hour_end = start, start + 3_600
        self.hour_count, self.off_now = 0, off_hours(hour, weekday)

    def learn(self, q: Question, positive: bool, now: float, peers: Peers, view: Shares) -> bool:
        """Update the counters and ``view`` with one answered question; True when its patient is
        a stranger (born far from the practice and never seen by this account)."""
        patient, departement, series, order, cardless, agree = q  # one unpacking, not ten reads
        if not self.hour_start - LATE <= now < self.hour_end:
            self.enter_slot(now, peers)
        self.hour_count += 1
        self.day_count += 1
        self.questions += 1
        far = departement != self.caller.departement
        seen = self.seen
        unseen = patient not in seen and patient not in self.seen_before
        if unseen:
            if len(seen) >= SEEN_GENERATION:
                self.seen_before, self.seen = seen, set()
                seen = self.seen
            seen.add(patient)
        off = self.off_now
        v = view
        sequential = series == v.last_series and 0 < abs(order - v.last_order) <= 3
        v.last_series, v.last_order = series, order
        a = CARDLESS_ALPHA if cardless else ALPHA
        # The indicators as floats: a bool minus a float is a generic operation for the
        # interpreter, a float minus a float a specialised one (the same value either way).
        x_negative = 0.0 if positive else 1.0
        x_far = 1.0 if far else 0.0
        x_unseen = 1.0 if unseen else 0.0
        x_stranger = 1.0 if far and unseen else 0.0
        x_off = 1.0 if off else 0.0
        x_cardless = 1.0 if cardless else 0.0
        v.questions += 1
        v.negative += a * (x_negative - v.negative)
        v.far += a * (x_far - v.far)
        v.unseen += a * (x_unseen - v.unseen)
        v.stranger += a * (x_stranger - v.stranger)
        v.sequence += a * ((1.0 if sequential else 0.0) - v.sequence)
        v.off += a * (x_off - v.off)
        v.cardless += a * (x_cardless - v.cardless)
        if agree:
            self.pending_estimates.discard(patient)
        elif positive:
            self.estimates_day += 1
            self.pending_estimates.add(patient)
        peers.learn(x_negative, x_far, x_unseen, x_stranger, x_off, x_cardless)
        return far and unseen

    def new_origin(self, now: float) -> bool:
        """Admitted from an origin first used less than a day ago (the first one excepted)."""
        if len(self.origins) < 2:
            return False
        return now - max(self.origins.values()) < NEW_ORIGIN_MEMORY


# What the engine calls for each answered question: AccountState.learn, or its C twin where the
# package was built with it (the same fields, the same operations in the same order; about
# three microseconds less a question, a tenth of the guard's cost).
learn: Callable[[AccountState, Question, bool, float, Peers, Shares], bool] = AccountState.learn
try:
    from vigie.guard import _speedups
except ImportError:  # pragma: no cover - an installation without a C compiler
    pass
else:
    _speedups.bind(
        AccountState, Caller, Shares, Peers, ALPHA, CARDLESS_ALPHA, PEER_STEP, SEEN_GENERATION,
        LATE,
    )  # fmt: skip
    learn = _speedups.learn
