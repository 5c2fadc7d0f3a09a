"""Peer baselines per profession: what an honest account of that profession looks like.

Invariant: priors move only slowly (platform-wide, tiny steps), and an account's own daily
baseline grows by at most GROWTH_CAP a day, so an attacker cannot raise a ceiling quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigie.identity.identifiers import Profession as P

GROWTH_CAP = 1.10  # an account's daily baseline grows at most 10 % a day
PEER_STEP = 0.0002  # weight of one question in its profession's priors


@dataclass(slots=True)
class Peers:
    """Shares among answered questions, and a typical day, for one profession."""

    daily: float  # questions on a typical working day
    negative: float = 0.05  # typing mistakes, lapsed rights
    far: float = 0.45  # patient born in another département than the practice's
    unseen: float = 0.6  # patient not seen by this account lately
    stranger: float = 0.3  # both far and unseen
    off_hours: float = 0.05
    cardless: float = 0.03

    def learn(
        self, negative: float, far: float, unseen: float, stranger: float, off: float,
        cardless: float,
    ) -> None:  # fmt: skip
        """One answered question's indicators, each 1.0 or 0.0 (stranger: far and unseen)."""
        s = PEER_STEP
        self.negative += s * (negative - self.negative)
        self.far += s * (far - self.far)
        self.unseen += s * (unseen - self.unseen)
        self.stranger += s * (stranger - self.stranger)
        self.off_hours += s * (off - self.off_hours)
        self.cardless += s * (cardless - self.cardless)


# A typical working day per account, from the profession's practice (see quotas.py).
TYPICAL_DAY: dict[P, float] = {
    P.pharmacist: 60,
    P.laboratory: 80,
    P.hospital: 100,
    P.physician: 10,
    P.dentist: 8,
    P.nurse: 6,
    P.physiotherapist: 6,
    P.optician: 6,
    P.audiologist: 2,
}
OFF_HOURS_PRIOR: dict[P, float] = {P.hospital: 0.3, P.pharmacist: 0.08}


def initial_peers() -> dict[P, Peers]:
    return {
        p: Peers(daily=TYPICAL_DAY[p], off_hours=OFF_HOURS_PRIOR.get(p, 0.05)) for p in TYPICAL_DAY
    }


def next_baseline(baseline: float, day_count: int, floor: float) -> float:
    """Tomorrow's baseline after a working day of ``day_count`` questions: a slow average whose
    rise is capped, so ten busy days cannot make an attacker's volume look ordinary."""
    target = baseline + 0.2 * (day_count - baseline)
    return max(floor, min(target, baseline * GROWTH_CAP))
