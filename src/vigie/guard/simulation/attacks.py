"""The five attacks, each driving one or many phished accounts against the guard.

Invariant: an attack stops asking with an account once that account is suspended; it passes
every step-up (worst case: a relayed phishing kit); it respects Retry-After when throttled.
Scenarios (a)-(c) hold the full card data of whom they ask about; (d) has a NIR list with
birth dates (card-less questions), (e) guesses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

from vigie.guard.quotas import ACCOUNT, CARDLESS
from vigie.guard.simulation.clock import DAY, HOUR, day_start, weekday
from vigie.guard.simulation.world import Population, Professional


class Target(Protocol):
    """What the simulation offers an attack: its people, and one question through the guard."""

    population: Population
    pros: list[Professional]

    def attack_ask(
        self, attack: Attack, slot: int, person: int, now: float, *, cardless: bool, agree: bool,
        guess: tuple[int, int, int] | None = None,
    ) -> float | None: ...  # fmt: skip


@dataclass
class Attack:
    key: str
    label: str
    accounts: list[int]  # indexes into the professionals
    start: float
    exposed: set[int] = field(default_factory=set)
    contained: dict[int, float] = field(default_factory=dict)  # slot -> when suspended
    asked: int = 0
    rng: random.Random = field(default_factory=random.Random)
    # The simulation stops an attack after this many questions per account (it bounds the run
    # time when nothing contains the attack; a working guard stops it long before).
    max_questions: int = 3_000

    def first_times(self) -> list[tuple[float, int]]:
        return [(self.start, slot) for slot in range(len(self.accounts))]

    def step(self, sim: Target, slot: int, now: float) -> float | None:
        raise NotImplementedError

    def working(self, now: float, first: float = 9.0, last: float = 18.5) -> float:
        """``now`` if inside working hours, else the next opening (Monday to Saturday)."""
        day = int((now - day_start(0)) // DAY)
        hour = (now - day_start(day)) / HOUR
        if weekday(day) != 6 and first <= hour < last:
            return now
        if hour >= first:
            day += 1
        if weekday(day) == 6:
            day += 1
        return day_start(day) + first * HOUR + self.rng.uniform(0, 600)


class Scraper(Attack):
    """(a) One phished account, as fast as it can, everyone it has data about."""

    def step(self, sim: Target, slot: int, now: float) -> float | None:
        person = self.rng.randrange(sim.population.size)
        wait = sim.attack_ask(self, slot, person, now, cardless=False, agree=False)
        return None if wait is None else now + max(0.2, wait)


class LowAndSlow(Attack):
    """(b) One account, a steady 25 a day in working hours, for weeks."""

    per_day = 25

    def step(self, sim: Target, slot: int, now: float) -> float | None:
        person = self.rng.randrange(sim.population.size)
        wait = sim.attack_ask(self, slot, person, now, cardless=False, agree=False)
        if wait is None:
            return None
        pace = 9.5 * HOUR / self.per_day
        return self.working(now + max(wait, self.rng.uniform(0.5, 1.5) * pace))


class Swarm(Attack):
    """(c) Many accounts at once, each paced under its own daily and minute quotas."""

    def first_times(self) -> list[tuple[float, int]]:
        return [(self.start + self.rng.uniform(0, HOUR), s) for s in range(len(self.accounts))]

    def step(self, sim: Target, slot: int, now: float) -> float | None:
        person = self.rng.randrange(sim.population.size)
        wait = sim.attack_ask(self, slot, person, now, cardless=False, agree=False)
        if wait is None:
            return None
        limits = ACCOUNT[sim.pros[self.accounts[slot]].profession]
        pace = max(60.0 / limits.minute * 1.2, 9.5 * HOUR / (0.8 * limits.day))
        return self.working(now + max(wait, self.rng.uniform(0.8, 1.2) * pace))


class Enrichment(Attack):
    """(d) A NIR list with birth dates from another leak, no cards: card-less questions."""

    in_vigie = 0.7  # share of the list who are insured here

    def step(self, sim: Target, slot: int, now: float) -> float | None:
        if self.rng.random() < self.in_vigie:
            person = self.rng.randrange(sim.population.size)
            wait = sim.attack_ask(self, slot, person, now, cardless=True, agree=False)
        else:
            guess = (-1, self.rng.randrange(10**9), 0)  # someone not insured here
            wait = sim.attack_ask(self, slot, -1, now, cardless=True, agree=False, guess=guess)
        if wait is None:
            return None
        limits = CARDLESS[sim.pros[self.accounts[slot]].profession]
        return self.working(now + max(wait, 60.0 / limits.minute))


class Guessing(Attack):
    """(e) Guessed identifiers: consecutive NIR order numbers, birth days at random."""

    series = -1
    order = 0

    def step(self, sim: Target, slot: int, now: float) -> float | None:
        if self.series < 0 or self.order >= 999:
            self.series = self.rng.randrange(max(1, sim.population.size // 30))
            self.order = 0
        self.order += 1
        guess = (self.series, self.order, self.rng.randrange(1, 29))
        wait = sim.attack_ask(self, slot, -1, now, cardless=True, agree=False, guess=guess)
        if wait is None:
            return None
        return self.working(now + max(wait, 30.0))


def scenarios(
    rng: random.Random,
    pros: list[Professional],
    start_day: int,
    days: tuple[int, ...],
    *,
    swarm_size: int,
) -> list[Attack]:
    """The five attacks on distinct phished accounts; pharmacists where one account is used
    (the largest quotas: the worst case), any profession for the swarm."""
    pharmacists = [i for i, p in enumerate(pros) if p.profession.value == "pharmacist"]
    chosen = rng.sample(pharmacists, 3)
    others = [i for i in range(len(pros)) if i not in chosen]
    nurse = next(i for i in others if pros[i].profession.value == "nurse")
    swarm = rng.sample([i for i in others if i != nurse], swarm_size)

    def at(day: int, hour: float) -> float:
        return day_start(start_day + day) + hour * HOUR

    return [
        Scraper("a", "(a) un compte, au plus vite", [chosen[0]], at(days[0], 10), rng=_r(rng)),
        LowAndSlow("b", "(b) un compte, lent", [chosen[1]], at(days[1], 9), rng=_r(rng)),
        Swarm("c", f"(c) {swarm_size} comptes", swarm, at(days[2], 9), rng=_r(rng)),
        Enrichment("d", "(d) liste de NIR", [chosen[2]], at(days[3], 9), rng=_r(rng)),
        Guessing("e", "(e) devinette", [nurse], at(days[4], 9), rng=_r(rng)),
    ]


def _r(rng: random.Random) -> random.Random:
    return random.Random(rng.getrandbits(64))
