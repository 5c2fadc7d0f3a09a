"""The signals, their thresholds and points: one table a security officer can read.

Invariant: ``assess`` is pure: it reads an account's state, its peers and platform facts and
returns the signals that fired, with value and baseline; the score is the sum of their points.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigie.guard.baselines import Peers
from vigie.guard.risk import AccountState

SLOW_AT = 4  # the account is slowed down (quota SLOW) from this score
SUSPEND_AT = 7  # suspended, pending a security officer, from this score
SUSPEND_IN_BURST_AT = 5  # during a platform burst, for an account on a new origin
PERSISTENT_SLOW = 20  # still slowed after this many more questions: suspended


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
    burst: bool = False  # many accounts moved to new origins in the last minutes


def assess(st: AccountState, peers: Peers, platform: Platform, now: float) -> list[Signal]:
    """The signals beyond their thresholds (usually none: the cheap path)."""
    fired: list[Signal] = []
    add = fired.append
    throttles = st.recent_throttles(now)
    if throttles >= 3:
        add(Signal("rafale", 4, throttles, 0, "refus de quota en 10 minutes"))
    own = max(st.baseline, 1.0)
    if st.day_count >= 20 and st.day_count > 3 * own:
        add(Signal("volume_compte", 2, st.day_count, own, "questions du jour vs habitude"))
    if st.day_count >= 20 and st.day_count > 4 * peers.daily:
        add(Signal("volume_pairs", 2, st.day_count, peers.daily, "questions du jour vs pairs"))
    if st.negative > 0.5:
        add(Signal("negatifs", 3, st.negative, peers.negative, "part de réponses négatives"))
    if st.far > peers.far + 0.35:
        add(Signal("eloignes", 1, st.far, peers.far, "part de patients d'autres départements"))
    if st.questions >= 15 and st.unseen > 0.95:
        add(Signal("inconnus", 1, st.unseen, peers.unseen, "part de patients jamais vus"))
    if st.stranger > max(0.8, peers.stranger + 0.45):
        add(Signal("etrangers", 4, st.stranger, peers.stranger, "patients lointains et inconnus"))
    if st.sequence > 0.3:
        add(Signal("sequence", 4, st.sequence, 0.0, "NIR consécutifs"))
    if st.off > peers.off_hours + 0.5:
        add(Signal("horaires", 1, st.off, peers.off_hours, "part hors heures d'ouverture"))
    if st.cardless > 0.4:
        add(Signal("sans_carte", 3, st.cardless, peers.cardless, "part de questions sans carte"))
    if st.orphans > 0.8:
        add(Signal("devis_orphelins", 1, st.orphans, 0.3, "devis jamais suivis d'un accord"))
    if st.new_origin(now):
        add(Signal("nouvelle_origine", 1, 1, 0, "appareil ou réseau nouveau (moins de 24 h)"))
    if platform.accounts_on_origin >= 3:
        add(
            Signal(
                "origine_partagee",
                4,
                platform.accounts_on_origin,
                1,
                "comptes d'autres structures sur la même origine",
            )
        )
    if platform.burst and st.new_origin(now):
        add(Signal("rafale_plateforme", 3, 1, 0, "vague de comptes sur des origines nouvelles"))
    return fired


def score(fired: list[Signal]) -> int:
    return sum(s.points for s in fired)


def suspend_threshold(platform: Platform, st: AccountState, now: float) -> int:
    return SUSPEND_IN_BURST_AT if platform.burst and st.new_origin(now) else SUSPEND_AT
