"""Risk state shared between server processes: each publishes what changed its guard's state,
and replays the others'.

Invariant: quotas and suspensions are exact across processes (Redis, the store); the risk state
is eventually the same everywhere, PERIOD late at most while Redis answers. Each process still
decides alone, on the whole state: an account that spreads its questions over several
processes is judged on all of them. The events carry no identifier: the patient and the NIR's
series are keyed digests (features.share_digests: the same key in every process of a
deployment), the rest is the caller's account and the question's shape.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
import redis

from vigie.guard.features import Caller, Question
from vigie.identity.identifiers import Profession

if TYPE_CHECKING:
    from vigie.guard.engine import Guard

# Event kinds: what changed a guard's state (engine.Guard notes them in its outbox).
OBSERVED = 0  # (OBSERVED, caller, question, origin, positive, now): an answered question
THROTTLED = 1  # (THROTTLED, caller, now): a quota refusal
ORIGIN = 2  # (ORIGIN, caller, origin, since): an origin admitted (0.0: the first, trusted)
SLOWED = 3  # (SLOWED, caller, since, until): slowed down since that question count (None: no)
FORGOTTEN = 4  # (FORGOTTEN, account): a security officer lifted its suspension

Event = tuple[Any, ...]

PERIOD = 0.1  # seconds between two exchanges
STREAM_BATCHES = 20_000  # batches kept in the stream (approximately): minutes of traffic
READ_BATCHES = 1_000  # batches read per exchange at most (the rest at the next one)
HISTORY = 60.0  # seconds: a process that starts replays the others' notes of the last minute
KEY = "vigie:risk:events"

log = logging.getLogger(__name__)
_new_question = tuple.__new__  # a Question from a row's slice, without NamedTuple's __new__


def encode(events: list[Event]) -> bytes:
    """One batch: each caller once, then the events as flat rows (an answered question is
    about 60 bytes)."""
    callers: dict[int, Caller] = {}
    rows: list[tuple[Any, ...]] = []
    for event in events:
        kind = event[0]
        if kind == OBSERVED:
            _, c, q, origin, positive, now = event
            callers[c.account] = c
            rows.append((kind, c.account, *q, origin, positive, now))
        elif kind == FORGOTTEN:
            rows.append(event)
        else:
            c = event[1]
            callers[c.account] = c
            rows.append((kind, c.account, *event[2:]))
    table = {
        str(account): (c.subject, c.profession.value, c.departement, c.structure)
        for account, c in callers.items()
    }
    return orjson.dumps({"c": table, "e": rows})


class Decoder:
    """Events from another process's batch; a caller is built once per account."""

    def __init__(self) -> None:
        self._callers: dict[tuple[Any, ...], Caller] = {}

    def caller(self, account: int, fields: list[Any]) -> Caller:
        key = (account, *fields)
        found = self._callers.get(key)
        if found is None:
            subject, profession, departement, structure = fields
            if structure is not None and type(structure) is not int:
                raise TypeError("structure")
            found = Caller(account, str(subject), Profession(profession), str(departement),
                           structure)  # fmt: skip
            if len(self._callers) > 100_000:
                self._callers.clear()
            self._callers[key] = found
        return found

    def decode(self, blob: bytes) -> list[Event]:
        """ValueError (or KeyError, TypeError, IndexError) on a batch that is not one of ours."""
        data = orjson.loads(blob)
        callers = {int(a): self.caller(int(a), fields) for a, fields in data["c"].items()}
        events: list[Event] = []
        add = events.append
        for row in data["e"]:
            kind = row[0]
            if kind == OBSERVED:
                if len(row) != 11:
                    raise ValueError("an answered question has 11 fields")
                # Checked here, so that a bad row leaves no half-replayed state behind.
                _, account, patient, dep, series, order, cardless, agree, origin, ok, now = row
                if not (
                    type(patient) is type(series) is type(order) is type(origin) is int
                    and type(dep) is str
                    and type(cardless) is type(agree) is type(ok) is bool
                    and type(now) is float
                ):
                    raise TypeError("an answered question's fields")
                q = _new_question(Question, row[2:8])
                add((kind, callers[account], q, origin, ok, now))
            elif kind == ORIGIN:
                add((kind, callers[row[1]], int(row[2]), float(row[3])))
            elif kind == THROTTLED:
                add((kind, callers[row[1]], float(row[2])))
            elif kind == SLOWED:
                since = None if row[2] is None else int(row[2])
                add((kind, callers[row[1]], since, float(row[3])))
            elif kind == FORGOTTEN:
                add((kind, int(row[1])))
            else:
                raise ValueError(f"unknown event kind {kind!r}")
        return events


class RiskExchange:
    """One process's side of the exchange, through a Redis stream: every PERIOD, one round trip
    adds this process's batch and reads the others' since the last one read."""

    def __init__(
        self, guard: Guard, client: redis.Redis, *, key: str = KEY, since: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.guard = guard
        self._client = client
        self._key = key
        self._tag = uuid.uuid4().hex.encode()
        self._decoder = Decoder()
        # Where reading starts: a stream entry's id is the Redis server's time in ms. A process
        # that starts (or restarts) picks up the last minute of the others' notes, including
        # those written while it was starting.
        start = time.time() - HISTORY if since is None else since
        self._last = f"{max(0, int(start * 1000))}-0".encode()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock = clock
        self._warned = -float("inf")
        self.published = 0  # events sent (tests, diagnostics)
        self.replayed = 0  # events of the others applied here
        self.lost = 0  # events of this process that Redis did not take
        self.cpu_s = 0.0  # the thread's processor time (the bench counts it)
        guard.outbox = []

    @classmethod
    def from_url(cls, guard: Guard, url: str, *, key: str = KEY) -> RiskExchange:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(guard, client, key=key)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vigie-risk", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop, after a last exchange (this process's latest notes go out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._safely()

    def exchange(self) -> int:
        """Send this process's notes, replay the others'; the events replayed. RedisError when
        Redis does not answer (the notes taken out are then lost, and counted)."""
        events = self.guard.drain()
        pipe = self._client.pipeline(transaction=False)
        if events:
            pipe.xadd(self._key, {b"p": self._tag, b"e": encode(events)},
                      maxlen=STREAM_BATCHES, approximate=True)  # fmt: skip
        pipe.xread({self._key: self._last}, count=READ_BATCHES)
        try:
            answers = pipe.execute()
        except redis.RedisError:
            self.lost += len(events)
            raise
        self.published += len(events)
        theirs: list[Event] = []
        for _stream, entries in answers[-1] or []:
            for entry_id, fields in entries:
                self._last = entry_id
                if fields.get(b"p") == self._tag:
                    continue
                try:
                    theirs.extend(self._decoder.decode(fields[b"e"]))
                except (ValueError, KeyError, TypeError, IndexError):
                    log.warning("risk exchange: a batch that is not Vigie's was skipped")
        if theirs:
            self.guard.replay(theirs)
            self.replayed += len(theirs)
        return len(theirs)

    def _safely(self) -> None:
        try:
            self.exchange()
        except redis.RedisError as exc:
            # Quotas fail closed on their own; the shared risk state only falls behind.
            now = self._clock()
            if now - self._warned > 60:
                self._warned = now
                log.warning("risk exchange: Redis unavailable (%s)", exc.__class__.__name__)
        except Exception:  # the thread outlives a batch it could not replay: the next may do
            log.exception("risk exchange: a batch could not be replayed")

    def _run(self) -> None:
        while not self._stop.wait(PERIOD):
            started = time.thread_time()
            self._safely()
            self.cpu_s += time.thread_time() - started
