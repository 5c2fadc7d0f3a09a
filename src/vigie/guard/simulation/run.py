"""One simulated month: honest days and the attacks, in time order, through one Guard (or one
per simulated server process).

Invariant: every question, honest or not, goes through ``Guard.admit`` and ``Guard.observe``
exactly as the API calls them (the API's gate adds only HTTP); the answer comes from the
in-memory population: positive when the person exists here, is covered, and was typed right.
With several workers, as behind ``vigie serve --workers N`` with Redis, each request goes to one
of them at random: each has its own risk state, replays the others' notes SHARE_LAG later (the
exchange's period, see guard/sharing.py; or never, ``share`` False), and all share the quotas
and the suspensions.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import deque
from dataclasses import dataclass, field

from vigie.guard.engine import Decision, Guard
from vigie.guard.features import Caller, Question
from vigie.guard.gcra import MemoryQuotaStore
from vigie.guard.memory import MemoryContainment
from vigie.guard.sharing import PERIOD, Event
from vigie.guard.simulation.attacks import Attack, scenarios
from vigie.guard.simulation.clock import day_start
from vigie.guard.simulation.honest import AGREE, CARDLESS, RETRIED, TYPO, day_events
from vigie.guard.simulation.world import (
    Population,
    Professional,
    build_population,
    build_professionals,
)

HONEST, RETRY, ATTACK = 0, 1, 2
NEW_DEVICE_SHARE = 0.003  # honest accounts moving to a new device or network, per day
STEP_UP_DELAY = 30.0
PROOF_AHEAD = 1.0  # a step-up is proved this long before the question is asked again
SHARE_LAG = PERIOD  # a note reaches the other processes this late (the exchange's period)


@dataclass(frozen=True)
class Size:
    professionals: int
    insured: int
    days: int
    swarm: int = 200
    attacks_from_day: int = 7  # a week of honest history first
    attack_days: tuple[int, ...] = (0, 0, 4, 8, 11)  # (a)..(e), after attacks_from_day


FULL = Size(20_000, 1_000_000, 30)
SMALL = Size(1_500, 60_000, 14, swarm=40, attacks_from_day=3, attack_days=(0, 0, 1, 5, 7))


class Exchange:
    """The risk exchange between simulated processes: what one guard noted reaches the others
    SHARE_LAG later, in order (as the Redis stream delivers it)."""

    def __init__(self, guards: list[Guard]) -> None:
        self.guards = guards
        for guard in guards:
            guard.outbox = []
        self._pending: deque[tuple[float, int, list[Event]]] = deque()
        self._last = float("-inf")

    def tick(self, now: float) -> None:
        """Before the question at ``now``: collect the notes of the one before, deliver those
        due."""
        for i, guard in enumerate(self.guards):
            events = guard.drain()
            if events:
                self._pending.append((self._last, i, events))
        self._last = now
        pending = self._pending
        while pending and pending[0][0] + SHARE_LAG <= now:
            _, source, events = pending.popleft()
            for j, guard in enumerate(self.guards):
                if j != source:
                    guard.replay(events)


@dataclass
class Honest:
    questions: int = 0
    step_ups: int = 0
    throttles: int = 0
    suspended: dict[int, float] = field(default_factory=dict)  # pro index -> when


class Simulation:
    def __init__(self, size: Size, seed: int = 1, workers: int = 1, *, share: bool = True) -> None:
        if workers < 1:
            raise ValueError("workers: at least 1")
        self.size = size
        self.workers = workers
        self.rng = random.Random(seed)
        self.population: Population = build_population(self.rng, size.insured)
        self.pros: list[Professional] = build_professionals(
            self.rng, size.professionals, self.population
        )
        deps = self.population.departements
        self.callers = [
            Caller(p.account, f"sim:{p.account}", p.profession, deps[p.departement], p.structure)
            for p in self.pros
        ]
        self.origins = [p.origin for p in self.pros]
        self.containment = MemoryContainment()
        quotas = MemoryQuotaStore()
        self.guard = Guard(quotas, self.containment)
        # The other server processes: their own risk state; the quotas and suspensions shared.
        self.other_guards = [Guard(quotas, self.containment) for _ in range(workers - 1)]
        # Routing draws of its own: with one worker the month replays exactly as before.
        self._router = random.Random(f"workers:{seed}")
        self.exchange = (
            Exchange([self.guard, *self.other_guards]) if self.other_guards and share else None
        )
        self.stepped: dict[int, float] = {}
        self.honest = Honest()
        self.attacks: list[Attack] = scenarios(
            self.rng, self.pros, size.attacks_from_day, size.attack_days, swarm_size=size.swarm
        )
        self.phished = {i: a for a in self.attacks for i in a.accounts}
        self._known: dict[int, int] | None = None
        self._heap: list[tuple[float, int, int, int, int, int]] = []
        self._seq = 0

    # --- questions --------------------------------------------------------------------------

    def _worker(self) -> Guard:
        """The process one request reaches (uvicorn's workers share one socket: any of them)."""
        if not self.other_guards:
            return self.guard
        k = self._router.randrange(self.workers)
        return self.guard if k == 0 else self.other_guards[k - 1]

    def _question(self, person: int, cardless: bool, agree: bool) -> Question:
        pop = self.population
        return Question(
            person, pop.departements[pop.birth[person]], pop.series[person],
            pop.order[person], cardless, agree,
        )  # fmt: skip

    def _decide(self, index: int, q: Question, origin: int, positive: bool, now: float,
                stepped: float | None) -> tuple[Decision, float]:  # fmt: skip
        caller = self.callers[index]
        guard = self._worker()
        verdict = guard.admit(caller, q, origin, stepped, now)
        if verdict.refused:
            return verdict.decision, verdict.retry_after
        return guard.observe(caller, q, origin, positive, now).decision, 0.0

    def honest_ask(self, index: int, person: int, flags: int, now: float) -> None:
        h = self.honest
        h.questions += 1
        pop = self.population
        q = Question(
            person, pop.departements[pop.birth[person]], pop.series[person], pop.order[person],
            bool(flags & CARDLESS), bool(flags & AGREE),
        )  # fmt: skip
        positive = bool(pop.covered[person]) and not flags & TYPO
        caller = self.callers[index]
        origin = self.origins[index]
        guard = self._worker()
        verdict = guard.admit(caller, q, origin, self.stepped.get(caller.account), now)
        if verdict.decision is Decision.STEP_UP:
            h.step_ups += 1
            now += STEP_UP_DELAY
            # Proved a second before the question is asked again (a new request, which may
            # reach another process).
            self.stepped[caller.account] = now - PROOF_AHEAD
            guard = self._worker()
            verdict = guard.admit(caller, q, origin, now - PROOF_AHEAD, now)
        decision = verdict.decision
        if decision is Decision.ALLOW:
            decision = guard.observe(caller, q, origin, positive, now).decision
        if decision is Decision.THROTTLE:
            h.throttles += 1
            if verdict.retry_after < 1_800 and flags & RETRIED == 0:
                self._push(now + verdict.retry_after, RETRY, index, person, flags | RETRIED)
            return
        if decision is Decision.SUSPEND:
            self._suspended(index, now)
            return
        if flags & TYPO:
            self._push(now + 60.0, RETRY, index, person, flags & ~TYPO)

    def _suspended(self, index: int, now: float) -> None:
        attack = self.phished.get(index)
        if attack is None or now < attack.start:
            self.honest.suspended.setdefault(index, now)
        elif attack is not None:
            attack.contained.setdefault(attack.accounts.index(index), now)

    def attack_ask(
        self, attack: Attack, slot: int, person: int, now: float, *, cardless: bool, agree: bool,
        guess: tuple[int, int, int] | None = None,
    ) -> float | None:  # fmt: skip
        index = attack.accounts[slot]
        account = self.pros[index].account
        if guess is not None:
            person = self._guessed(guess)
        if person >= 0 and guess is None:
            q, positive = (
                self._question(person, cardless, agree),
                bool(self.population.covered[person]),
            )
        elif person >= 0:
            q, positive = self._question(person, cardless, agree), True
        else:  # nobody here: the question still reads as a NIR from somewhere
            series, order, _ = guess or (-1, 0, 0)
            q = Question(-1 - self.rng.getrandbits(40), "99" if series < 0 else "01",
                         series, order, cardless, agree)  # fmt: skip
            positive = False
        attack.asked += 1
        origin = 40_000_000 + account
        decision, wait = self._decide(index, q, origin, positive, now, self.stepped.get(-account))
        if decision is Decision.STEP_UP:  # the worst case: the attacker passes it
            self.stepped[-account] = now + STEP_UP_DELAY - PROOF_AHEAD
            return STEP_UP_DELAY
        if decision is Decision.SUSPEND:
            attack.contained.setdefault(slot, now)
            return None
        if decision is Decision.THROTTLE:
            return wait
        if positive:
            attack.exposed.add(person)
        return 0.0

    def _guessed(self, guess: tuple[int, int, int]) -> int:
        """The person a guessed (series, order, birth day) names, if any and covered; else -1."""
        series, order, birth_day = guess
        if series < 0:
            return -1
        if self._known is None:
            pop = self.population
            self._known = {
                s * 1000 + o: i for i, (s, o) in enumerate(zip(pop.series, pop.order, strict=True))
            }
        person = self._known.get(series * 1000 + order, -1)
        if person < 0 or self.population.birth_day[person] != birth_day:
            return -1
        return person if self.population.covered[person] else -1

    # --- the month --------------------------------------------------------------------------

    def _push(self, t: float, code: int, a: int, b: int, c: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, code, a, b, c))

    def run(self) -> float:
        started = time.perf_counter()
        for a_index, attack in enumerate(self.attacks):
            for t, slot in attack.first_times():
                self._push(t, ATTACK, a_index, slot, 0)
        for day in range(self.size.days):
            self._new_devices()
            end = day_start(day + 1)
            events = day_events(self.pros, self.population, day, self.rng, self._seq)
            self._seq += len(events) + 1
            for event in events:
                heapq.heappush(self._heap, event)
            heap = self._heap
            exchange = self.exchange
            while heap and heap[0][0] < end:
                t, _, code, a, b, c = heapq.heappop(heap)
                if exchange is not None:
                    exchange.tick(t)
                if code == ATTACK:
                    attack = self.attacks[a]
                    if attack.asked >= attack.max_questions * len(attack.accounts):
                        continue
                    nxt = attack.step(self, b, t)
                    if nxt is not None and nxt < day_start(self.size.days):
                        self._push(nxt, ATTACK, a, b, 0)
                else:
                    self.honest_ask(a, b, c, t)
        return time.perf_counter() - started

    def _new_devices(self) -> None:
        for index in range(len(self.pros)):
            if self.rng.random() < NEW_DEVICE_SHARE:
                self.origins[index] = 50_000_000 + self.rng.getrandbits(30)

    @property
    def professional_days(self) -> int:
        return self.size.professionals * self.size.days
