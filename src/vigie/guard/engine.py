"""The guard's decision: allow, step up, throttle or suspend, before and after the store call.

Invariant: the API and the simulator call these same two methods; ``admit`` runs before the
store, ``observe`` after it and before the answer leaves (a suspension withholds the answer).
Behind several server processes each guard notes what changed its state in ``outbox`` and
replays the others' notes (``replay``, see sharing.py): decisions stay local, the state is
every process's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from vigie.guard.baselines import Peers, initial_peers
from vigie.guard.features import Caller, Question
from vigie.guard.gcra import SLACK, SWEEP_EVERY, MemoryQuotaStore, QuotaStore
from vigie.guard.platform import PlatformWatch
from vigie.guard.quotas import Checks, checks_for
from vigie.guard.risk import SLOW_MEMORY, AccountState, Shares, learn
from vigie.guard.sharing import FORGOTTEN, OBSERVED, ORIGIN, PENDING, SLOWED, THROTTLED, Event
from vigie.guard.signals import (
    BEHAVIOUR_TO_SLOW,
    BEHAVIOUR_TO_SUSPEND,
    PERSISTENT_SLOW,
    QUIET,
    SLOW_AT,
    Platform,
    Signal,
    asks_wrong,
    assess,
    behaviour,
    quiet,
    score,
    suspend_threshold,
)
from vigie.identity.identifiers import Profession

MAX_ORIGINS = 8


class Decision(StrEnum):
    ALLOW = "allow"
    STEP_UP = "step_up"
    THROTTLE = "throttle"
    SUSPEND = "suspend"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    retry_after: float = 0.0

    @property
    def refused(self) -> bool:
        return self.decision is not Decision.ALLOW


ALLOW = Verdict(Decision.ALLOW)
STEP_UP = Verdict(Decision.STEP_UP)
SUSPENDED = Verdict(Decision.SUSPEND)


@dataclass(frozen=True, slots=True)
class Alert:
    """Why an account was suspended, readable by a security officer."""

    caller: Caller
    at: float
    score: int
    threshold: int
    signals: tuple[Signal, ...]

    def summary(self) -> str:
        lines = [
            f"Compte {self.caller.subject} ({self.caller.profession.value}, "
            f"département {self.caller.departement}) suspendu : score {self.score} "
            f"(seuil {self.threshold}).",
            *(f"- {s.explain()}" for s in self.signals),
        ]
        return "\n".join(lines)


class Containment(Protocol):
    """Where suspensions live (the store, or memory in the simulator) and refusals are logged."""

    def is_suspended(self, account: int, now: float) -> bool: ...

    def suspend(self, alert: Alert) -> None: ...

    def refused(self, caller: Caller, verdict: Verdict, now: float) -> None: ...


class Guard:
    def __init__(self, quotas: QuotaStore, containment: Containment) -> None:
        self.quotas = quotas
        self.containment = containment
        self.peers: dict[Profession, Peers] = initial_peers()
        self.platform = PlatformWatch()
        self._accounts: dict[int, AccountState] = {}
        self._lock = threading.Lock()
        # What the other server processes must replay; None while this one is alone.
        self.outbox: list[Event] | None = None
        # The usual question's two checks in C where built (admit_usual, observe_usual): the
        # same state changes as the Python below, which they hand over to whenever a question
        # is not the usual one. False: Python alone (the tests compare the two); a subclass
        # that changes how a question is admitted or learnt (state, _platform) sets it False.
        self.in_c = IN_C

    def state(self, caller: Caller) -> AccountState:
        st = self._accounts.get(caller.account)
        if st is None:
            st = self._accounts[caller.account] = AccountState.fresh(
                caller, self.peers[caller.profession]
            )
        return st

    def admit(
        self,
        caller: Caller,
        q: Question,
        origin: int,
        stepped_up_at: float | None,
        now: float,
        *,
        wait: bool = True,
    ) -> Verdict:
        """Before the store: suspended, new origin not re-authenticated, or over quota? With
        ``wait`` False, WouldWait (from the quota store) when the answer needs the network; what
        ran before it is safe to run again."""
        if self.containment.is_suspended(caller.account, now):
            return SUSPENDED
        if self.in_c and admit_usual(self, caller, q, origin, now):
            return ALLOW
        with self._lock:
            st = self.state(caller)
            if origin not in st.origins and not self._origin_admitted(
                st, origin, stepped_up_at, now
            ):
                return STEP_UP
            slowed = st.slowed_at is not None
            kind = 2 * q.cardless + slowed
            checks = st.checks[kind]
            if checks is None:
                checks = st.checks[kind] = checks_for(
                    caller.profession, caller.account, caller.structure,
                    cardless=q.cardless, slowed=slowed,
                )  # fmt: skip
        # Outside the lock: a shared store may be asked over the network meanwhile.
        delay = self.quotas.take(checks, now, wait=wait)
        if delay <= 0:
            return ALLOW
        with self._lock:
            st.throttled(now)
            if self.outbox is not None:
                self.outbox.append((THROTTLED, caller, now))
            verdict = Verdict(Decision.THROTTLE, delay)
            view = st.view(origin, st.peers)
            suspended = self._maybe_suspend(st, view, self._platform(caller, origin, now), now)
        if suspended:
            return SUSPENDED
        self.containment.refused(caller, verdict, now)
        return verdict

    def observe(
        self, caller: Caller, q: Question, origin: int, positive: bool, now: float
    ) -> Verdict:
        """After the store, before the answer leaves: learn, then allow or suspend."""
        if self.in_c:
            verdict = observe_usual(self, caller, q, origin, positive, now)
            if verdict is not None:
                return verdict
        with self._lock:
            st = self.state(caller)
            peers = st.peers
            view = st.view(origin, peers)
            stranger = learn(st, q, positive, now, peers, view)
            if self.outbox is not None:
                self.outbox.append((OBSERVED, caller, q, origin, positive, now))
            return self._judge(st, view, self._platform(caller, origin, now, stranger), now)

    def _judge(self, st: AccountState, view: Shares, platform: Platform, now: float) -> Verdict:
        """A question just learnt: allow, or suspend (the lock held; observe_usual calls it too)."""
        peers = st.peers
        if quiet(st, view, peers, platform, now):
            fired = []  # the usual answer
        else:
            fired = assess(st, view, peers, platform, now)
        if not fired:
            if st.slowed_at is not None and now >= st.slowed_until:
                self._slow(st, None, st.slowed_until)
            return ALLOW
        return SUSPENDED if self._decide(st, fired, platform, now) else ALLOW

    def _platform(
        self, caller: Caller, origin: int, now: float, stranger: bool | None = None
    ) -> Platform:
        """What the platform says about this caller's origin (and notes that it used it; an
        answered question's ``stranger`` joins a watched wave's pool)."""
        group = caller.structure if caller.structure is not None else -caller.account
        return self.platform.facts(origin, group, caller.account, now, stranger)

    def _maybe_suspend(
        self, st: AccountState, view: Shares, platform: Platform, now: float
    ) -> bool:
        return self._decide(st, assess(st, view, st.peers, platform, now), platform, now)

    def _decide(
        self, st: AccountState, fired: list[Signal], platform: Platform, now: float
    ) -> bool:
        """Suspend on a high score with enough behaviour in it, or on a slow-down that lasts;
        slow down on a middling one; context signals alone do neither."""
        if not fired:
            if st.slowed_at is not None and now >= st.slowed_until:
                self._slow(st, None, st.slowed_until)
            return False
        total, acts = score(fired), behaviour(fired)
        threshold = suspend_threshold(platform)
        slowed_for = 0 if st.slowed_at is None else st.questions - st.slowed_at
        lasting = slowed_for >= PERSISTENT_SLOW and total >= SLOW_AT and asks_wrong(fired)
        if acts >= BEHAVIOUR_TO_SUSPEND and (total >= threshold or lasting):
            if total < threshold:
                fired.append(Signal("persistance", 0, slowed_for, 0, "questions déjà ralenties"))
            self.containment.suspend(Alert(st.caller, now, total, threshold, tuple(fired)))
            self._slow(st, None, st.slowed_until)
            return True
        if total >= SLOW_AT and acts >= BEHAVIOUR_TO_SLOW:
            since = st.questions if st.slowed_at is None else st.slowed_at
            self._slow(st, since, now + SLOW_MEMORY)
        elif st.slowed_at is not None and now >= st.slowed_until:
            self._slow(st, None, st.slowed_until)
        return False

    def _slow(self, st: AccountState, since: int | None, until: float) -> None:
        """Every change of an account's slow-down goes through here (and to the others, as the
        questions since it began: each process counts an account's questions on its own)."""
        st.slowed_at, st.slowed_until = since, until
        if self.outbox is not None:
            ago = None if since is None else st.questions - since
            self.outbox.append((SLOWED, st.caller, ago, until))

    def _origin_admitted(
        self, st: AccountState, origin: int, stepped_up_at: float | None, now: float
    ) -> bool:
        known = st.origins
        if origin in known:
            return True
        if not known:
            known[origin] = 0.0  # the first origin is trusted: it came with the sign-in
            if self.outbox is not None:
                self.outbox.append((ORIGIN, st.caller, origin, 0.0))
            return True
        first = st.pending_origins.get(origin)
        if first is None:
            first = st.pending_origins[origin] = now
            if self.outbox is not None:  # a step-up after this moment admits it everywhere
                self.outbox.append((PENDING, st.caller, origin, now))
        if stepped_up_at is None or stepped_up_at < first:
            return False
        self._trust(st, origin, now)
        if self.outbox is not None:
            self.outbox.append((ORIGIN, st.caller, origin, now))
        return True

    def forget(self, account: int) -> None:
        """After a lift: the account's shares start again from its peers'; origins are kept."""
        with self._lock:
            self._forget(account)
            if self.outbox is not None:
                self.outbox.append((FORGOTTEN, account))

    def _forget(self, account: int) -> None:
        old = self._accounts.pop(account, None)
        if old is not None:
            self.state(old.caller).origins.update(old.origins)

    # --- several server processes -----------------------------------------------------------

    def drain(self) -> list[Event]:
        """This process's notes since the last call, for the others (empty when alone)."""
        with self._lock:
            events = self.outbox
            if not events:
                return []
            self.outbox = []
        return events

    def replay(self, events: list[Event]) -> None:
        """Another process's notes, applied to this one's state as if its questions had come
        here: counters, shares, patients seen, origins, throttles, slow-downs. Nothing is
        decided: the next question asked here is judged on the whole."""
        with self._lock:
            for event in events:
                kind = event[0]
                if kind == OBSERVED:
                    _, caller, q, origin, positive, now = event
                    st = self.state(caller)
                    stranger = learn(st, q, positive, now, st.peers, st.view(origin, st.peers))
                    self._platform(caller, origin, now, stranger)
                elif kind == THROTTLED:
                    self.state(event[1]).throttled(event[2])
                elif kind == ORIGIN:
                    _, caller, origin, since = event
                    self._replay_origin(self.state(caller), origin, since)
                elif kind == SLOWED:
                    _, caller, ago, until = event
                    st = self.state(caller)
                    # A later end wins: a slow-down renewed here outlives a stale end there.
                    if until >= st.slowed_until:
                        st.slowed_until = until
                        st.slowed_at = None if ago is None else st.questions - ago
                elif kind == FORGOTTEN:
                    self._forget(event[1])
                elif kind == PENDING:
                    _, caller, origin, first = event
                    st = self.state(caller)
                    pending = st.pending_origins.get(origin)
                    if origin not in st.origins and (pending is None or first < pending):
                        st.pending_origins[origin] = first

    def requeue(self, events: list[Event]) -> None:
        """Notes that did not go out, first in line for the next batch."""
        with self._lock:
            if self.outbox is not None and events:
                self.outbox[:0] = events

    def _replay_origin(self, st: AccountState, origin: int, since: float) -> None:
        known = st.origins
        if origin in known or (not since and known):
            # Another process trusted it as the first it saw (it had just started): here the
            # account has origins already, and this one still needs a step-up.
            return
        self._trust(st, origin, since)

    def _trust(self, st: AccountState, origin: int, since: float) -> None:
        """An origin admitted after a step-up (``since`` its moment; 0.0: a first origin):
        the oldest known one makes room, and the platform notes the move."""
        st.pending_origins.pop(origin, None)
        known = st.origins
        if len(known) >= MAX_ORIGINS:
            del known[min(known, key=known.__getitem__)]
        known[origin] = since
        if since:
            self.platform.moved(st.caller.account, since)


def _no_usual_admit(guard: Guard, caller: Caller, q: Question, origin: int, now: float) -> bool:
    return False


def _no_usual_observe(
    guard: Guard, caller: Caller, q: Question, origin: int, positive: bool, now: float
) -> Verdict | None:
    return None


# The C paths of the usual question (admitted from a known origin, on quotas in memory or units
# leased from Redis; learnt with no signal), bound to this module's classes; where the package
# was built without them, Guard.in_c is False and these are never called.
admit_usual: Callable[[Guard, Caller, Question, int, float], bool] = _no_usual_admit
observe_usual: Callable[[Guard, Caller, Question, int, bool, float], Verdict | None] = (
    _no_usual_observe
)
try:
    from vigie.guard import _speedups
except ImportError:  # pragma: no cover - an installation without a C compiler
    IN_C = False
else:
    IN_C = True
    _speedups.bind_engine(
        Guard, MemoryQuotaStore, Checks, ALLOW, QUIET, OBSERVED, SWEEP_EVERY, SLACK
    )
    admit_usual, observe_usual = _speedups.admit_usual, _speedups.observe_usual
