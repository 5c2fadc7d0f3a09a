"""The signals, their thresholds and points: one table a security officer can read.

Invariant: ``assess`` is pure: it reads an account's state, its peers and platform facts and
returns the signals that fired, with value and baseline; the score is the sum of their points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vigie.guard.baselines import Peers
from vigie.guard.risk import NEW_ORIGIN_MEMORY, THROTTLE_MEMORY, AccountState, Shares

SLOW_AT = 4  # the account is slowed down (quota SLOW) from this score
SUSPEND_AT = 7  # suspended, pending a security officer, from this score
SUSPEND_IN_BURST_AT = 5  # during a platform burst, for an account of the burst's cohort
PERSISTENT_SLOW = 20  # still slowed after this many more questions: suspended
SHARED_ORIGIN = 6  # a group practice shares an address; six structures on one is a proxy


# Signals about where a question comes from, not what it asks: alone, they never slow down or
# suspend anyone (an honest practice changes networks, shares an address, or moves during a wave).
CONTEXT = frozenset({"nouvelle_origine", "origine_partagee", "rafale_plateforme"})
# Being busier than usual is what quotas are for: a lasting slow-down suspends only when what
# is asked (patients, answers, identifiers) looks wrong too.
VOLUME = frozenset({"rafale", "volume_heure", "volume_compte", "volume_pairs"})
BEHAVIOUR_TO_SLOW = 2
BEHAVIOUR_TO_SUSPEND = 3


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    points: int
    value: float
    baseline: float
    label: str  # French, for the alert

    def explain(self) -> str:
        return f"{self.label} : {self.value:.2f} (référence {self.baseline:.2f}) → +{self.points}"


@dataclass(frozen=True, slots=True)
class Platform:
    """What the whole platform says about this account's origin right now."""

    accounts_on_origin: int = 1  # accounts of other structures seen on this origin today
    burst: bool = False  # many accounts moved to new origins lately, this one among them
    cohort_strangers: float = 0.0  # share of strangers among that cohort's questions


QUIET = Platform()  # no shared origin, no wave: the usual answer, not rebuilt per question


def assess(
    st: AccountState, v: Shares, peers: Peers, platform: Platform, now: float
) -> list[Signal]:
    """The signals beyond their thresholds (usually none: the cheap path); shares are those of
    ``v``, the origin the question came from. A threshold changed here must change in the C
    twin of its usual answer too (``quiet``, _speedups.c): tests/guard/test_speedups.py tries
    each one at, just over and just under its value on both sides."""
    fired: list[Signal] = []
    add = fired.append
    if len(st.throttle_times) >= 2 and (throttles := st.recent_throttles(now)) >= 2:
        add(Signal("rafale", 4, throttles, 0, "refus de quota en 10 minutes"))
    own = st.baseline if st.baseline > 1.0 else 1.0
    if st.hour_count > 12.0 and st.hour_count > 4 * own / 9:
        add(Signal("volume_heure", 3, st.hour_count, own / 9, "questions dans l'heure"))
    if st.day_count >= 20 and st.day_count > 3 * own:
        add(Signal("volume_compte", 2, st.day_count, own, "questions du jour vs habitude"))
    if st.day_count >= 20 and st.day_count > 4 * peers.daily:
        add(Signal("volume_pairs", 2, st.day_count, peers.daily, "questions du jour vs pairs"))
    if v.negative > 0.5:
        add(Signal("negatifs", 3, v.negative, peers.negative, "part de réponses négatives"))
    if v.far > peers.far + 0.35:
        add(Signal("eloignes", 1, v.far, peers.far, "part de patients d'autres départements"))
    if v.questions >= 15 and v.unseen > 0.95:
        add(Signal("inconnus", 1, v.unseen, peers.unseen, "part de patients jamais vus"))
    if v.stranger > max(0.8, peers.stranger + 0.45):
        add(Signal("etrangers", 4, v.stranger, peers.stranger, "patients lointains et inconnus"))
    if v.sequence > 0.3:
        add(Signal("sequence", 4, v.sequence, 0.0, "NIR consécutifs"))
    if v.off > peers.off_hours + 0.5:
        add(Signal("horaires", 1, v.off, peers.off_hours, "part hors heures d'ouverture"))
    if v.cardless > 0.4:
        add(Signal("sans_carte", 3, v.cardless, peers.cardless, "part de questions sans carte"))
    if st.orphans > 0.8:
        add(Signal("devis_orphelins", 1, st.orphans, 0.3, "devis jamais suivis d'un accord"))
    if len(st.origins) >= 2 and st.new_origin(now):
        add(Signal("nouvelle_origine", 1, 1, 0, "appareil ou réseau nouveau (moins de 24 h)"))
    if platform.accounts_on_origin >= SHARED_ORIGIN:
        shared = platform.accounts_on_origin
        add(Signal("origine_partagee", 3, shared, 1, "structures différentes sur une même origine"))
    if platform.burst:
        add(Signal("rafale_plateforme", 2, 1, 0, "vague de comptes sur des origines nouvelles"))
        if platform.cohort_strangers > 0.7 and v.stranger > peers.stranger + 0.2:
            add(
                Signal(
                    "cohorte",
                    3,
                    platform.cohort_strangers,
                    peers.stranger,
                    "patients lointains et inconnus dans toute la vague",
                )
            )
    return fired


def no_signal(st: AccountState, v: Shares, peers: Peers, platform: Platform, now: float) -> bool:
    """Whether ``assess`` finds nothing: the usual answer."""
    return not assess(st, v, peers, platform, now)


def undecided(st: AccountState, v: Shares, peers: Peers, platform: Platform, now: float) -> bool:
    """Without the C twin: never sure, so that assess() runs once, not after no_signal."""
    return False


# What the engine asks first for each answered question: the C twin of no_signal where the
# package was built with it (the same comparisons on the same fields, without building the
# list; it may say False where it cannot read a field plainly, and assess() then judges).
quiet: Callable[[AccountState, Shares, Peers, Platform, float], bool] = undecided
try:
    from vigie.guard import _speedups
except ImportError:  # pragma: no cover - an installation without a C compiler
    pass
else:
    _speedups.bind_signals(Platform, THROTTLE_MEMORY, NEW_ORIGIN_MEMORY, SHARED_ORIGIN)
    quiet = _speedups.quiet


def score(fired: list[Signal]) -> int:
    return sum(s.points for s in fired)


def behaviour(fired: list[Signal]) -> int:
    return sum(s.points for s in fired if s.name not in CONTEXT)


def asks_wrong(fired: list[Signal]) -> bool:
    """A signal about what is asked, not how much or from where."""
    return any(s.name not in CONTEXT and s.name not in VOLUME for s in fired)


def suspend_threshold(platform: Platform) -> int:
    return SUSPEND_IN_BURST_AT if platform.burst else SUSPEND_AT
