"""Risk state shared between server processes: each publishes what changed its guard's state,
and replays the others'.

Invariant: quotas are shared in Redis and suspensions in the store (each process reloads them
every few seconds); each process's risk state takes in the others' notes about two PERIODs
late while Redis answers, each in the order it arrives (moving shares can then differ between
processes by the order of a few questions). Each process still decides alone, on the whole
state: an account that spreads its questions over several processes is judged on all of them.
The notes name the professional (account, RPPS, profession, practice's département, structure:
public directory facts) and no patient: the patient and the NIR's first ten digits are digests
keyed per deployment (features.share_digests) and per account (features.question), so that
they cannot link one patient's visits to several professionals; of the NIR only the birth
département and the order number (three digits) travel, which identify no one.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import redis
from redis.typing import EncodableT, FieldT

from vigie.crypto.keyring import Keyring
from vigie.guard.features import Caller, Question, share_digests
from vigie.guard.redis_quotas import Packer, RedisQuotaStore, Refill
from vigie.identity.identifiers import Profession

if TYPE_CHECKING:
    from vigie.guard.engine import Guard

# Event kinds: what changed a guard's state (engine.Guard notes them in its outbox).
OBSERVED = 0  # (OBSERVED, caller, question, origin, positive, now): an answered question
THROTTLED = 1  # (THROTTLED, caller, now): a quota refusal
ORIGIN = 2  # (ORIGIN, caller, origin, since): an origin admitted (0.0: the first, trusted)
SLOWED = 3  # (SLOWED, caller, ago, until): slowed down that many questions ago (None: no more)
FORGOTTEN = 4  # (FORGOTTEN, account): a security officer lifted its suspension
PENDING = 5  # (PENDING, caller, origin, first_seen): an origin refused until a step-up
# Notes that may be applied twice: sent again when Redis did not take them (a lift must not
# be lost); counts (answered questions, refusals) would count twice, and are not.
IDEMPOTENT = frozenset({ORIGIN, SLOWED, FORGOTTEN, PENDING})
MAX_REQUEUED = 10_000

Event = tuple[Any, ...]

PERIOD = 0.1  # seconds between two exchanges
READ_BATCHES = 1_000  # batches read per exchange at most (the rest at the next one)
HISTORY = 60.0  # seconds: a process that starts replays the others' notes of the last minute
SKEW_MS = 5_000  # a batch's date and its entry's id (the Redis server's clock) agree this well

log = logging.getLogger(__name__)
_new_question = tuple.__new__  # a Question from a row's slice, without NamedTuple's __new__


class Batch(NamedTuple):
    written: float  # the writer's clock
    seq: int  # the writer's batch number: one written again is refused
    events: list[Event]


def encode(events: list[Event], written: float, seq: int = 0) -> bytes:
    """One batch, dated and numbered: each caller once, then the events as flat rows (an
    answered question is about 60 bytes)."""
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
    # orjson writes a profession (a StrEnum) as its value: no Python property call per caller.
    table = {
        str(account): (c.subject, c.profession, c.departement, c.structure)
        for account, c in callers.items()
    }
    return orjson.dumps({"t": written, "s": seq, "c": table, "e": rows})


def _moment(value: Any) -> float:
    if type(value) is not float or not math.isfinite(value):
        raise TypeError("a moment")
    return value


def _integer(value: Any) -> int:
    if type(value) is not int:
        raise TypeError("an integer")
    return value


class Decoder:
    """Events from another process's batch; a caller is built once per account. Every field is
    checked before anything is replayed: a bad batch leaves no half-replayed state behind."""

    def __init__(self) -> None:
        self._callers: dict[tuple[Any, ...], Caller] = {}

    def caller(self, account: int, fields: list[Any]) -> Caller:
        key = (account, *fields)
        found = self._callers.get(key)
        if found is None:
            subject, profession, departement, structure = fields
            if structure is not None:
                _integer(structure)
            if type(subject) is not str or type(departement) is not str:
                raise TypeError("a caller's fields")
            found = Caller(account, subject, Profession(profession), departement, structure)
            if len(self._callers) > 100_000:
                self._callers.clear()
            self._callers[key] = found
        return found

    def decode(self, blob: bytes) -> Batch:
        """ValueError (or KeyError, TypeError, IndexError, AttributeError) on a batch that is
        not one of ours."""
        data = orjson.loads(blob)
        written, seq = _moment(data["t"]), _integer(data["s"])
        callers = {int(a): self.caller(int(a), fields) for a, fields in data["c"].items()}
        events: list[Event] = []
        add = events.append
        for row in data["e"]:
            kind = row[0]
            if kind == OBSERVED:
                if len(row) != 11:
                    raise ValueError("an answered question has 11 fields")
                _, account, patient, dep, series, order, cardless, agree, origin, ok, now = row
                if not (
                    type(patient) is type(series) is type(order) is type(origin) is int
                    and type(dep) is str
                    and type(cardless) is type(agree) is type(ok) is bool
                ):
                    raise TypeError("an answered question's fields")
                q = _new_question(Question, row[2:8])
                add((kind, callers[account], q, origin, ok, _moment(now)))
            elif kind in (ORIGIN, PENDING):
                _, account, origin, moment = row
                add((kind, callers[account], _integer(origin), _moment(moment)))
            elif kind == THROTTLED:
                _, account, moment = row
                add((kind, callers[account], _moment(moment)))
            elif kind == SLOWED:
                _, account, ago, until = row
                add((kind, callers[account], None if ago is None else _integer(ago),
                     _moment(until)))  # fmt: skip
            elif kind == FORGOTTEN:
                _, account = row
                add((kind, _integer(account)))
            else:
                raise ValueError(f"unknown event kind {kind!r}")
        return Batch(written, seq, events)


class RiskExchange:
    """One process's side of the exchange, through a Redis stream: every PERIOD, one round trip
    adds this process's batch and reads the others' since the last one read. Batches are
    authenticated (HMAC-SHA256 under ``mac_key``, derived from the deployment's keys) and dated:
    one forged, altered or written again later is skipped."""

    def __init__(
        self, guard: Guard, client: redis.Redis, *, mac_key: bytes, key: str,
        since: float | None = None, clock: Callable[[], float] = time.monotonic,
        quotas: RedisQuotaStore | None = None,
    ) -> None:  # fmt: skip
        self.guard = guard
        # Shared quotas whose refills this exchange's round trips carry while it runs
        # (RedisQuotaStore.drive: one background thread and round trip instead of two).
        self._quotas = quotas
        self._client = client
        self._key = key
        self._mac_key = mac_key
        self._tag = uuid.uuid4().hex.encode()
        self._decoder = Decoder()
        # Where reading starts: a stream entry's id is the Redis server's time in ms (this
        # host's clock stands in for it). A process that starts (or restarts) picks up the last
        # minute of the others' notes, including those written while it was starting.
        start = time.time() - HISTORY if since is None else since
        self._last = f"{max(0, int(start * 1000))}-0".encode()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock = clock
        self._warned: dict[str, float] = {}
        self._seq = 0  # this process's batches, numbered
        self._seen: dict[bytes, int] = {}  # each writer's last batch number replayed here
        self._redis_ms: int | None = None  # the Redis server's clock, from the last entry id
        self._conn: Any = None  # this exchange's own connection (made when first needed)
        self.published = 0  # events sent (tests, diagnostics)
        self.replayed = 0  # events of the others applied here
        self.lost = 0  # events of this process that Redis did not take
        self.skipped = 0  # batches refused (not authentic, too old, malformed)
        self.cpu_s = 0.0  # the thread's processor time (the bench counts it)
        guard.outbox = []

    @classmethod
    def from_url(
        cls, guard: Guard, url: str, *, mac_key: bytes, key: str,
        quotas: RedisQuotaStore | None = None,
    ) -> RiskExchange:  # fmt: skip
        # Commands packed by hiredis: a refill's script call names some 300 keys.
        client = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, command_packer=Packer()
        )
        return cls(guard, client, mac_key=mac_key, key=key, quotas=quotas)

    def start(self) -> None:
        if self._thread is None:
            if self._quotas is not None:
                self._quotas.drive(self)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vigie-risk", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop, after a last exchange (this process's latest notes go out)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(5)
            if thread.is_alive():
                if self._quotas is not None:  # the store's own thread refills from now on
                    self._quotas.let_go(self)
                return  # still in an exchange: a second one now could replay entries twice
            self._thread = None
        try:
            self._safely()
        finally:
            if self._quotas is not None:  # the store's own thread refills again
                self._quotas.let_go(self)

    def seal(self, events: list[Event]) -> dict[FieldT, EncodableT]:
        self._seq += 1
        return seal(self._mac_key, self._key, self._tag, events, self._seq)

    def exchange(self) -> int:
        """Send this process's notes, replay the others'; the events replayed. RedisError when
        Redis does not answer: the notes taken out that may be applied twice (origins,
        slow-downs, lifts) go back to the outbox, the counts are lost (and counted)."""
        events = self.guard.drain()
        commands: list[tuple[EncodableT, ...]] = []
        if events:
            # Trimmed by age on the Redis server's clock (the last entry id seen), not this
            # host's: twice the history a starting process reads.
            trim: tuple[EncodableT, ...] = ()
            if self._redis_ms is not None:
                trim = ("MINID", "~", f"{self._redis_ms - int(2 * HISTORY * 1000)}-0")
            sealed = (x for field in self.seal(events).items() for x in field)
            commands.append(("XADD", self._key, *trim, "*", *sealed))
        commands.append(("XREAD", "COUNT", READ_BATCHES, "STREAMS", self._key, self._last))
        own = len(commands)
        refill: Refill | None = None
        answers: list[Any] | None = None
        try:
            if self._quotas is not None:
                refill = self._quotas.refills()
                if refill is not None:
                    commands.extend(self._quotas.commands(refill))
            answers = self._round_trip(commands)
            for answer in answers[:own]:
                if isinstance(answer, redis.ResponseError):
                    raise answer
        except Exception:  # Redis did not answer, or the refill could not be asked for
            kept = [e for e in events if e[0] in IDEMPOTENT]
            self.guard.requeue(kept[-MAX_REQUEUED:])
            self.lost += len(events) - len(kept)
            raise
        finally:
            if refill is not None and self._quotas is not None:  # whatever became of the notes
                self._quotas.refilled(refill, None if answers is None else answers[own:])
        self.published += len(events)
        if events:
            self._redis_ms = _ms(answers[0])
        replayed = 0
        reply = answers[own - 1]  # RESP3: {stream: entries}; RESP2: [[stream, entries]]
        for _stream, entries in reply.items() if isinstance(reply, dict) else reply or []:
            for entry_id, flat in entries:
                fields: dict[bytes, bytes] = dict(zip(flat[::2], flat[1::2], strict=True))
                self._last = entry_id
                self._redis_ms = max(self._redis_ms or 0, _ms(entry_id))
                if fields.get(b"p") == self._tag:
                    continue
                batch = self._open(entry_id, fields)
                if batch:
                    # One batch at a time under the guard's lock: questions wait 1 ms at most.
                    self.guard.replay(batch)
                    replayed += len(batch)
        self.replayed += replayed
        return replayed

    def _round_trip(self, commands: list[tuple[EncodableT, ...]]) -> list[Any]:
        """The commands on this exchange's own connection, their raw replies (an error reply as
        its ResponseError, the connection still in step): a pipeline's machinery cost half a
        millisecond of processor time a call (about 200 Python calls), ten times a second in
        every process."""
        conn = self._conn
        if conn is None:
            conn = self._conn = self._client.connection_pool.make_connection()
        try:
            # One send, not one a large argument (redis-py's chunks): each send lets go of the
            # interpreter's lock, and under load taking it back costs a forced switch.
            conn.send_packed_command([b"".join(conn.pack_commands(commands))])
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as error:  # an error reply, whole: the next follows
                    replies.append(error)
            return replies
        except BaseException:
            conn.disconnect()  # a reply half read must not be read as the next one's
            raise

    def _open(self, entry_id: bytes, fields: dict[bytes, bytes]) -> list[Event] | None:
        tag, payload, mac = fields.get(b"p", b""), fields.get(b"e", b""), fields.get(b"m", b"")
        if not hmac.compare_digest(_mac(self._mac_key, self._key, tag, payload), mac):
            self._skip("risk exchange: a batch without this deployment's MAC was skipped")
            return None
        try:
            batch = self._decoder.decode(payload)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            self._skip("risk exchange: a malformed batch was skipped")
            return None
        if abs(batch.written * 1000 - _ms(entry_id)) > SKEW_MS:
            # Written again later, or a writer whose clock is off: either way, not now's notes.
            self._skip("risk exchange: a batch dated away from its entry (clock skew?) skipped")
            return None
        if batch.seq <= self._seen.get(tag, 0):
            self._skip("risk exchange: a batch written again was skipped")
            return None
        if len(self._seen) > 10_000:  # writers come and go with restarts
            self._seen.clear()
        self._seen[tag] = batch.seq
        return batch.events

    def _skip(self, message: str) -> None:
        self.skipped += 1
        self._warn(message)

    def _warn(self, message: str) -> None:
        """Once a minute per kind of trouble: a flood of bad batches does not flood the log."""
        now = self._clock()
        if now - self._warned.get(message, -float("inf")) > 60:
            self._warned[message] = now
            log.warning(message)

    def _safely(self) -> None:
        try:
            self.exchange()
        except redis.RedisError as exc:
            # Quotas fail closed on their own; the shared risk state only falls behind.
            self._warn(f"risk exchange: Redis unavailable ({exc.__class__.__name__})")
        except Exception:  # the thread outlives a batch it could not replay: the next may do
            log.exception("risk exchange: a batch could not be replayed")

    def _run(self) -> None:
        while not self._stop.wait(PERIOD):
            started = time.thread_time()
            self._safely()
            self.cpu_s += time.thread_time() - started


def for_deployment(
    keyring: Keyring, guard: Guard, url: str, *, key: str | None = None
) -> RiskExchange:
    """The exchange of this deployment's processes (not started). Switches this process's
    digests to the deployment's (features.share_digests). The guard's quotas, when shared
    through Redis, are taken to be on the same Redis (``url``): the exchange carries their
    refills."""
    share_digests(keyring.blind_index(b"vigie guard digests v1"))
    stream, mac_key = deployment(keyring)
    quotas = guard.quotas if isinstance(guard.quotas, RedisQuotaStore) else None
    return RiskExchange.from_url(guard, url, mac_key=mac_key, key=key or stream, quotas=quotas)


def publish_lift(keyring: Keyring, url: str, account: int) -> None:
    """From a process without a guard (the command line): the servers forget the account's
    risk state, as after a lift through the API. RedisError when Redis does not answer."""
    stream, mac_key = deployment(keyring)
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    tag = uuid.uuid4().hex.encode()
    client.xadd(stream, seal(mac_key, stream, tag, [(FORGOTTEN, account)], 1))


def seal(
    mac_key: bytes, stream: str, tag: bytes, events: list[Event], seq: int
) -> dict[FieldT, EncodableT]:
    """A batch as the stream holds it: the writer's tag, the payload and its MAC."""
    payload = encode(events, time.time(), seq)
    return {b"p": tag, b"e": payload, b"m": _mac(mac_key, stream, tag, payload)}


def _mac(mac_key: bytes, stream: str, tag: bytes, payload: bytes) -> bytes:
    """Over the stream's name, the writer's tag and the payload (its date and number in it)."""
    return hmac.digest(mac_key, stream.encode() + b"\x00" + tag + b"\x00" + payload, "sha256")


def _ms(entry_id: bytes | str) -> int:
    """An entry id's milliseconds: the Redis server's clock when it was written."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


def deployment(keyring: Keyring) -> tuple[str, bytes]:
    """(stream, MAC key): the same in every process of one deployment, derived from its keys;
    another deployment on the same Redis (a test, a staging) shares nothing with it."""
    derive = keyring.blind_index
    return f"vigie:risk:{derive(b'vigie guard risk stream v1')[:8].hex()}", derive(
        b"vigie guard risk notes mac v1"
    )
