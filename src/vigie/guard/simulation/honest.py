"""Honest practices: a day's questions per professional, with their habits.

Invariant: volumes follow each account's own daily mean, the weekday, and flu season; patients
come mostly from the account's panel (repeats), sometimes from its département, rarely from
elsewhere; opening hours per profession; typing mistakes are corrected a minute later.
"""

from __future__ import annotations

import math
import random

from vigie.guard.simulation.clock import HOUR, day_start, weekday
from vigie.guard.simulation.world import ESTIMATE_FIRST, Population, Professional
from vigie.identity.identifiers import Profession as P

AGREE, CARDLESS, TYPO, RETRIED = 1, 2, 4, 8
FLU_SEASON = range(10, 21)  # days of the month with an epidemic
FLU_BUSIER = {P.pharmacist: 1.5, P.physician: 1.5, P.laboratory: 1.3, P.nurse: 1.2}
TYPO_SHARE = 0.02
CARDLESS_SHARE = 0.02

Event = tuple[float, int, int, int, int, int]  # (time, seq, code, pro index, person, flags)


def day_factor(profession: P, day: int, rng: random.Random) -> float:
    wd = weekday(day)
    if profession is P.hospital:
        factor = 1.0
    elif wd == 6:
        factor = 1.0 if profession is P.pharmacist and rng.random() < 0.05 else 0.0  # on duty
    elif wd == 5:
        factor = 0.8 if profession is P.pharmacist else 0.3
    else:
        factor = 1.0
    if day in FLU_SEASON:
        factor *= FLU_BUSIER.get(profession, 1.0)
    return factor


def hours(profession: P, rng: random.Random) -> float:
    """An hour of the day when this profession asks (local time)."""
    if profession is P.hospital:
        return rng.uniform(0, 24) if rng.random() < 0.25 else rng.uniform(8, 20)
    if profession is P.nurse and rng.random() < 0.3:
        return rng.uniform(6.5, 9)  # early rounds
    return rng.uniform(8.5, 12.5) if rng.random() < 0.55 else rng.uniform(14, 19.5)


def count(mean: float, rng: random.Random) -> int:
    if mean <= 0:
        return 0
    if mean < 20:  # Poisson by inversion
        limit, n, p = math.exp(-mean), 0, rng.random()
        while p > limit:
            n += 1
            p *= rng.random()
        return n
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def patient(pro: Professional, population: Population, rng: random.Random) -> int:
    draw = rng.random()
    if draw < 0.85 and pro.panel:
        return pro.panel[int(len(pro.panel) * rng.random() ** 2)]  # regulars come often
    if draw < 0.97:
        residents = population.by_residence[pro.departement]
        if residents:
            return residents[rng.randrange(len(residents))]
    return rng.randrange(population.size)  # a visitor from elsewhere


def day_events(
    pros: list[Professional], population: Population, day: int, rng: random.Random, seq: int
) -> list[Event]:
    events: list[Event] = []
    base = day_start(day)
    for index, pro in enumerate(pros):
        factor = day_factor(pro.profession, day, rng)
        if factor == 0.0:
            continue
        for _ in range(count(pro.daily * factor, rng)):
            t = base + hours(pro.profession, rng) * HOUR
            person = patient(pro, population, rng)
            flags = AGREE
            if pro.profession in ESTIMATE_FIRST and rng.random() < 0.5:
                later = t + rng.uniform(0.2, 3) * HOUR
                if rng.random() < 0.8:
                    seq += 1
                    events.append((later, seq, 0, index, person, AGREE))
                flags = 0
            elif rng.random() < 0.05:
                flags = 0  # an estimate first; most are followed by the agreement
                if rng.random() < 0.8:
                    seq += 1
                    events.append((t + rng.uniform(60, 900), seq, 0, index, person, AGREE))
            if rng.random() < CARDLESS_SHARE:
                flags |= CARDLESS
            if rng.random() < TYPO_SHARE:
                flags |= TYPO
            seq += 1
            events.append((t, seq, 0, index, person, flags))
    return events
