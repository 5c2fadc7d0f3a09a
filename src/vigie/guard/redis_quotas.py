"""Quotas shared by every server process through Redis, leased in small batches.

Invariant: every unit a process admits was charged in Redis first, by one Lua script that checks
every key of a question and charges all or none, so two processes enforce one quota. A process
may charge a few units ahead (a lease: at most a quarter of the tightest window of a group, and
only while the group keeps asking), and admit from them without a round trip; the units it holds
are the only excess over the quota any window can see (docs/guard.md). With no lease held, any
Redis failure raises QuotaStoreUnavailable (fail closed).
"""

from __future__ import annotations

import itertools
import logging
import math
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
import redis

from vigie.guard.gcra import SLACK, QuotaStoreUnavailable, WouldWait
from vigie.guard.quotas import Check, Checks

# KEYS: one per group (an account's or a structure's windows of one kind), holding the group's
# theoretical arrival times packed as little-endian doubles in window order (one GET and one
# SET a group: a Redis call costs more than the arithmetic). ARGV[1]: every group's numbers as
# little-endian doubles, group after group (no text to format or parse on either side): its
# number of windows, now, the units needed now (0 or 1), the extra units wanted (a lease), the
# units given back, then each window's limit and period. The needed units are charged in every
# group or in none; the extra ones as far as every window of their group has room. A malformed
# group (a count out of range, a limit under one, a period not positive, a number not finite, a
# negative count, bytes missing or left over) is an error: the question fails closed. A group
# that needs no unit now (a refill, a give-back) leases what room it has and never holds up the
# others of its call. A stored value of another length than its group's windows reads as never
# asked. Returns {wait as text, units leased per group as integers}.
LEASE_SCRIPT = """
local FMT = {'<d', '<dd', '<ddd', '<dddd', '<ddddd', '<dddddd', '<ddddddd', '<dddddddd'}
local SLACK = __SLACK__  -- seconds of rounding: gcra.SLACK
local blob, pos, wait, t = ARGV[1], 1, 0, 0
local T, I, N, NOW, UNITS, EXTRA, BACK = {}, {}, {}, {}, {}, {}, {}
local function malformed() return redis.error_reply('vigie: malformed quota group') end
for g = 1, #KEYS do
  if pos + 39 > #blob then return malformed() end
  local n, now, need, extra, back
  n, now, need, extra, back, pos = struct.unpack('<ddddd', blob, pos)
  local fmt = FMT[n]
  if fmt == nil or pos + 16 * n - 1 > #blob or not (need >= 0 and extra >= 0 and back >= 0)
      or not (now > -math.huge and now < math.huge) then
    return malformed()
  end
  local stored = redis.call('GET', KEYS[g])
  local old = {}
  if stored and #stored == 8 * n then old = {struct.unpack(fmt, stored)} end
  for j = 1, n do
    local limit, period
    limit, period, pos = struct.unpack('<dd', blob, pos)
    if not (limit >= 1 and limit < math.huge and period > 0 and period < math.huge) then
      return malformed()
    end
    local interval = period / limit
    local tat = (old[j] or now) - back * interval
    if tat < now then tat = now end
    local delay = tat + need * interval - period - now
    if need > 0 and delay > wait then wait = delay end  -- a refill or give-back vetoes nothing
    local room = math.floor((now + period - tat + SLACK) / interval) - need
    if room < extra then extra = room end
    t = t + 1
    T[t], I[t] = tat, interval
  end
  if extra < 0 then extra = 0 end
  N[g], NOW[g], UNITS[g], EXTRA[g], BACK[g] = n, now, need + extra, extra, back
end
if pos ~= #blob + 1 then return malformed() end
if wait > SLACK then return {tostring(wait)} end
local answer, k = {"0"}, 0
for g = 1, #KEYS do
  local n, units, now = N[g], UNITS[g], NOW[g]
  if units > 0 or BACK[g] > 0 then
    local tats, last = {}, now
    for j = 1, n do
      local tat = T[k + j] + units * I[k + j]
      tats[j] = tat
      if tat > last then last = tat end
    end
    if last > now then
      local packed = struct.pack(FMT[n], unpack(tats))
      redis.call('SET', KEYS[g], packed, 'PX', math.ceil((last - now) * 1000))
    else
      redis.call('DEL', KEYS[g])
    end
  end
  k = k + n
  answer[g + 1] = EXTRA[g]
end
return answer
"""
LEASE_SCRIPT = LEASE_SCRIPT.replace("__SLACK__", repr(SLACK))
log = logging.getLogger(__name__)
MAX_WINDOWS = 8  # per group, as the script reads them
_HEAD = struct.Struct("<ddddd")  # a group's number of windows, now, need, extra, back

LEASE_SHARE = 4  # a process holds at most a quarter of a group's tightest window
LEASE_SECONDS = 60.0  # units unused this long after their lease are given back
# Refills wait this long (wall clock) so that one round trip serves many groups: each call costs
# the refill thread a fixed tenth of a millisecond or so, plus the interpreter's lock taken from
# the requests twice; at 0.1 s its processor time per question was 8-10 µs in the bench against
# 14-16 µs at 0.02 s. A group asking again within that delay asks Redis for its own unit.
BATCH_DELAY = 0.1
RETURN_EVERY = 1.0  # expired leases are looked for this often (wall clock)
SETTLE_WAIT = 2.0  # the longest settle() waits for the refills in flight


class Packer:
    """Commands packed by hiredis, as redis-py packs them but without its check of every
    argument in Python (a refill's script call names some 300 keys: about 0.3 µs each, on the
    refill thread's time). What this store sends is str, bytes, int and float."""

    def pack(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD": two words
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise redis.DataError(str(exc)) from exc


@dataclass(slots=True, eq=False)  # compared by identity
class Lease:
    """One group's (an account's or a structure's windows of one kind) units in this process."""

    windows: tuple[Check, ...]
    cap: int  # the most units this process may hold for the group
    key: bytes  # the group's Redis key (its windows' periods in the name)
    spec: bytes  # the windows' limits and periods, packed as the script reads them
    units: int = 0
    expires: float = 0.0
    size: int = 0  # units to lease next: grows while the group keeps asking, none after a pause
    last: float = float("-inf")  # the group's last question here
    back: int = 0  # expired units to give back
    refilling: bool = False

    def pace(self, now: float) -> None:
        if now - self.last < LEASE_SECONDS:
            self.size = min(self.cap, max(1, 2 * self.size))
        else:
            self.size = 0
        self.last = now

    def usable(self, now: float) -> bool:
        if self.units and now >= self.expires:
            self.back, self.units = self.back + self.units, 0
        return self.units > 0


@dataclass(slots=True)
class Ask:
    """One group in one script call."""

    lease: Lease
    now: float
    need: int
    extra: int
    back: int = 0


Credit = Callable[[list[Lease], bytes, list[int]], None]
_MOMENT = struct.Struct("<d")


def refill_request(leases: list[Lease]) -> tuple[list[bytes], bytes]:
    """The refill's script call for queued groups (the caller holds the lock): each at its last
    question's moment, needing nothing now, asking as many units ahead as its lease size allows
    under its cap (at most the cap, whatever this process holds: it holds none, normally)."""
    return _packed([Ask(x, x.last, 0, max(0, min(x.size, x.cap - x.units))) for x in leases])


def credit_refills(leases: list[Lease], blob: bytes, leased: list[int]) -> None:
    """Each group's units leased by a refill credited, to expire a lease's life after its
    ask's moment (read back from the blob: the group may have asked again since); the caller
    holds the lock. Checked before anything changes."""
    if len(leased) != len(leases):
        raise ValueError("one count leased a group")
    if not all(type(units) is int and units >= 0 for units in leased):
        raise ValueError("a count that is not one")
    offsets = list(itertools.accumulate((_HEAD.size + len(x.spec) for x in leases), initial=0))
    if offsets[-1] != len(blob):
        raise ValueError("the blob is not these leases'")
    for lease, units, offset in zip(leases, leased, offsets, strict=False):
        if units:
            lease.units += units
            lease.expires = _MOMENT.unpack_from(blob, offset + 8)[0] + LEASE_SECONDS


def _packed(asks: list[Ask]) -> tuple[list[bytes], bytes]:
    """A script call's keys and argument for these asks."""
    head = _HEAD.pack
    keys = [ask.lease.key for ask in asks]
    blob = b"".join(
        head(len(ask.lease.windows), ask.now, ask.need, ask.extra, ask.back) + ask.lease.spec
        for ask in asks
    )
    return keys, blob


def _request(leases: list[Lease]) -> tuple[list[bytes], bytes, Credit]:
    """The refill's call and how to credit it: in C where built and every field plain."""
    if _speedups is not None:
        found = _speedups.refill_request(leases)
        if found is not None:
            return (*found, _credit)
    return (*refill_request(leases), credit_refills)


def _credit(leases: list[Lease], blob: bytes, leased: list[int]) -> None:
    """credit_refills in C; in Python where a lease does not read plainly (TypeError: the C
    changed nothing)."""
    try:
        _speedups.credit_refills(leases, blob, leased)
    except TypeError:
        credit_refills(leases, blob, leased)


@dataclass(slots=True)
class Refill:
    """One round of the background work: the queued groups' units leased ahead (their script
    call built, and how to credit it) and the expired units given back."""

    queue: list[Lease]
    request: tuple[list[bytes], bytes, Credit] | None
    expired: list[Ask]


class RedisQuotaStore:
    def __init__(self, client: redis.Redis, *, prefix: str = "vigie:q:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(LEASE_SCRIPT)
        self._leases: dict[tuple[Check, ...], Lease] = {}
        # A question's leases are noted on its Checks object (the guard keeps one per account
        # and kind): found once, not by hashing every window per question. Forgetting a lease
        # moves the generation on, and every note of an older one is found again (one lease
        # forgotten voids them all: as costly as the lookup by windows it replaced, no more).
        self._generation = 0
        self._queue: list[Lease] = []
        self._changed = threading.Condition()
        self._latest = 0.0  # the latest question's clock
        self._worker: threading.Thread | None = None
        self._idle = False  # the refill thread waits for work (under the lock)
        self._closed = False
        # Another thread that sends the refills with its own round trips (drive()), or None.
        self._driver: object | None = None
        self._returned = time.monotonic()  # expired units were last looked for then
        self._warned = -math.inf  # a refused refill was last logged then
        self.round_trips = 0  # script calls on a question's path (the bench reports them)
        # The refill thread's processor time: the questions' cost off their path (the bench
        # counts it with theirs: under load it takes the interpreter from the requests).
        self.refill_cpu_s = 0.0

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "vigie:q:") -> RedisQuotaStore:
        client = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, command_packer=Packer()
        )
        return cls(client, prefix=prefix)

    def take(self, checks: Sequence[Check], now: float, *, wait: bool = True) -> float:
        with self._changed:
            leases = self._leases_of(checks, now)
            if self._spend_in_hand(leases, now):
                return 0.0
            missing = [x for x in leases if not x.usable(now)]  # one at least
            if not wait:
                raise WouldWait  # before any unit is taken or charged: the caller asks again
            for lease in leases:
                lease.pace(now)
                lease.units -= lease not in missing  # held for this question meanwhile
            # A group whose refill is on its way asks for this question's unit alone, nothing
            # ahead, rather than wait for a background thread that may itself wait milliseconds
            # for the interpreter's lock. One asking ahead counts as that group's refill, so
            # that no other ask leases ahead meanwhile: a process never holds more than its cap.
            asks = [Ask(x, now, 1, 0 if x.refilling else x.size) for x in missing]
            ahead = [a.lease for a in asks if a.extra]
            for lease in ahead:
                lease.refilling = True
        self.round_trips += 1
        try:
            delay = self._ask(asks)
        except QuotaStoreUnavailable:
            self._give_back_held(leases, missing, ahead)
            raise
        with self._changed:
            if delay > 0:
                self._give_back_held(leases, missing, ahead)
                return delay
            self._refilled(ahead)
            self._refill_spent([x for x in leases if x not in missing])
        return 0.0

    def _spend_in_hand(self, leases: list[Lease], now: float) -> bool:
        """The usual case (the lock held): every group has a unit in hand, its lease alive;
        each spends one and those running low are queued for a refill. False: nothing done.
        Its C twin (_speedups.spend_in_hand, from the question's checks) is what the guard's
        admit_usual runs: the same fields, changed in the same order."""
        for lease in leases:
            if not lease.units or now >= lease.expires:
                return False
        for lease in leases:
            lease.pace(now)
            lease.units -= 1
        self._refill_spent(leases)
        return True

    def settle(self, timeout: float = SETTLE_WAIT) -> None:
        """Wait for the refills in flight (tests, shutdown)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._queue and not self._busy(), timeout)

    def held(self) -> int:
        """Units this process holds ahead (its share of the bound in docs/guard.md)."""
        with self._changed:
            return sum(x.units for x in self._leases.values())

    def close(self) -> None:
        """Give every unit held back to Redis and stop the refills."""
        self.settle()
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            asks = [Ask(x, self._latest, 0, 0, x.back + x.units) for x in self._leases.values()]
            self._leases.clear()
        asks = [a for a in asks if a.back]
        if asks:
            self._ask(asks)

    def _busy(self) -> bool:
        return any(x.refilling for x in self._leases.values())

    def _leases_of(self, checks: Sequence[Check], now: float) -> list[Lease]:
        """The question's groups: its checks by owner and kind ("a:7:f", "s:3:f", "a:7:slow"),
        with their limits (a structure's depend on the profession asking); not paced yet."""
        if now > self._latest:
            self._latest = now
        noted = checks.noted if type(checks) is Checks else None
        if type(noted) is tuple and noted[0] is self and noted[1] == self._generation:
            leases: list[Lease] = noted[2]
            return leases
        found: dict[str, list[Check]] = {}
        for check in checks:
            found.setdefault(check[0].rpartition(":")[0] or check[0], []).append(check)
        leases = [self._lease(tuple(g)) for g in found.values()]
        if type(checks) is Checks:
            checks.noted = (self, self._generation, leases)
        return leases

    def _lease(self, windows: tuple[Check, ...]) -> Lease:
        lease = self._leases.get(windows)
        if lease is None:
            cap = min(limit for _, limit, _ in windows) // LEASE_SHARE
            if len(windows) > MAX_WINDOWS:
                raise ValueError(f"at most {MAX_WINDOWS} windows a group")
            name = windows[0][0].rpartition(":")[0] or windows[0][0]
            periods = "/".join(f"{period:.15g}" for _, _, period in windows)
            key = f"{self._prefix}{name}:{periods}".encode()
            numbers = [float(x) for _, limit, period in windows for x in (limit, period)]
            spec = struct.pack(f"<{len(numbers)}d", *numbers)
            lease = self._leases[windows] = Lease(windows, cap, key, spec)
            if cap and self._worker is None:
                self._worker = threading.Thread(target=self._refills, daemon=True)
                self._worker.start()
        return lease

    def _give_back_held(
        self, leases: list[Lease], missing: list[Lease], ahead: list[Lease]
    ) -> None:
        with self._changed:
            for lease in leases:
                lease.units += lease not in missing
            self._refilled(ahead)

    def _refilled(self, leases: list[Lease]) -> None:
        """The refills of ``leases`` are over (caller may hold the lock: it is reentrant)."""
        with self._changed:
            for lease in leases:
                lease.refilling = False
            if leases:
                self._changed.notify_all()  # settle() waits for refills to end

    def _refill_spent(self, leases: list[Lease]) -> None:
        """Queue a background lease for the groups down to less than half their lease size
        (caller holds the lock): refilled before they run out, so that their next questions
        seldom ask Redis themselves; never beyond the cap (a refill asks for cap - units)."""
        queued = False
        for lease in leases:
            if 2 * lease.units < lease.size and not lease.refilling:
                lease.refilling = queued = True
                self._queue.append(lease)
        # Woken only when it waits for work: busy or pausing, it finds the queue on its own.
        if queued and self._idle:
            self._changed.notify_all()

    def drive(self, driver: object | None) -> None:
        """Refills sent by ``driver``'s thread within its own round trips (``refills()``, then
        ``refilled()``): the risk exchange's, which runs every tenth of a second anyway. Under
        load each wake-up and each reply waited for costs a background thread a forced switch
        of the interpreter's lock (some 60 µs of processor time on a two-core machine): one
        thread and one round trip instead of two halve them. None: this store's own thread
        sends them again."""
        with self._changed:
            self._driver = driver
            self._changed.notify_all()

    def let_go(self, driver: object) -> None:
        """``driver`` stops: this store's own thread refills again (unless another drives)."""
        with self._changed:
            if self._driver is driver:
                self._driver = None
                self._changed.notify_all()

    def refills(self) -> Refill | None:
        """For the driver: the refill due now (each one returned goes back through
        ``refilled``), or None."""
        with self._changed:
            due = time.monotonic() - self._returned >= RETURN_EVERY
            if self._closed or not (self._queue or due):
                return None
            return self._take_refill()

    def commands(self, refill: Refill) -> list[tuple[Any, ...]]:
        """Its script calls, as commands for the driver's pipeline."""
        calls: list[tuple[list[bytes], bytes]] = []
        if refill.request is not None:
            calls.append((refill.request[0], refill.request[1]))
        if refill.expired:
            calls.append(_packed(refill.expired))
        sha = self._script.sha
        return [("EVALSHA", sha, len(keys), *keys, blob) for keys, blob in calls]

    def refilled(self, refill: Refill, replies: list[Any] | None) -> None:
        """The replies to ``commands(refill)``, in order (None: Redis did not answer): the
        units leased credited. A script Redis no longer holds (restarted, flushed) is loaded
        and the call made again, here."""
        given = replies is None  # the give-backs not made: their units are kept to give
        try:
            if replies is not None:
                answers = iter(replies)
                if refill.request is not None:
                    self._answered(refill.queue, refill.request, next(answers))
                if refill.expired:
                    answer = next(answers)
                    if isinstance(answer, redis.exceptions.NoScriptError):
                        self._ask(refill.expired)
                    elif isinstance(answer, Exception):
                        self._refused(answer)
                        given = True
        except QuotaStoreUnavailable:
            given = bool(refill.expired)  # no lease: the next question asks Redis, fails closed
        finally:
            if given and refill.expired:
                with self._changed:  # given back with the next ones
                    for ask in refill.expired:
                        ask.lease.back += ask.back
            self._refilled(refill.queue + [ask.lease for ask in refill.expired])

    def _answered(
        self, queue: list[Lease], request: tuple[list[bytes], bytes, Credit], answer: Any
    ) -> None:
        keys, blob, credit = request
        if isinstance(answer, redis.exceptions.NoScriptError):
            self._refill(queue, keys, blob, credit)  # through redis-py's Script: loaded
        elif isinstance(answer, Exception):
            self._refused(answer)  # nothing leased: the groups ask Redis themselves
        elif isinstance(answer, list):
            self._credited(queue, blob, credit, answer)

    def _credited(self, queue: list[Lease], blob: bytes, credit: Credit, answer: list[Any]) -> None:
        """A refill's answer: its units credited (a refill needs nothing now: never refused)."""
        if float(answer[0]) <= 0:
            with self._changed:  # units and their expiry together: no one sees one alone
                credit(queue, blob, answer[1:])

    def _refused(self, error: Exception) -> None:
        """A script call Redis refused (busy, out of memory, read-only): logged once a minute."""
        now = time.monotonic()
        if now - self._warned >= 60.0:
            self._warned = now
            log.warning("quota refill refused by Redis (%s)", error.__class__.__name__)

    def _take_refill(self) -> Refill:
        """The queue taken, and the expired units when it is time (the caller holds the lock)."""
        queue, self._queue = self._queue, []
        try:
            request = _request(queue) if queue else None
        except Exception:
            self._refilled(queue)  # not asked for: their next questions queue them again
            raise
        expired: list[Ask] = []
        if time.monotonic() - self._returned >= RETURN_EVERY:
            self._returned = time.monotonic()
            expired = self._expired()
        return Refill(queue, request, expired)

    def _refills(self) -> None:
        """Lease ahead for the groups that spent theirs, and give back expired units (unless
        a driver does)."""
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._driver is None or self._closed)
                self._idle = True  # questions that queue a group wake it
                self._changed.wait_for(
                    lambda: self._queue or self._closed or self._driver is not None,
                    RETURN_EVERY,
                )
                self._idle = False
                if self._closed:
                    return
            time.sleep(BATCH_DELAY)
            started = time.thread_time()
            with self._changed:
                if self._driver is not None:  # taken over meanwhile: sent by its thread
                    continue
                try:
                    refill = self._take_refill()
                except Exception:  # the thread outlives what it could not build
                    log.exception("quota refill: the queued groups could not be asked for")
                    continue
            try:
                if refill.request is not None:
                    self._refill(refill.queue, *refill.request)
                if refill.expired:
                    self._ask(refill.expired)
            except QuotaStoreUnavailable:
                pass  # no lease: the next question asks Redis itself, and fails closed
            except Exception:  # the thread outlives one refill it could not credit
                log.exception("quota refill: a refill could not be credited")
            finally:
                self.refill_cpu_s += time.thread_time() - started  # before settle() returns
                self._refilled(refill.queue + [ask.lease for ask in refill.expired])

    def _refill(self, queue: list[Lease], keys: list[bytes], blob: bytes, credit: Credit) -> None:
        """One script call leasing ahead for the queued groups (none needs a unit now, so none
        is refused), and their units credited."""
        try:
            answer = self._script(keys=keys, args=[blob], client=self._client)
        except redis.RedisError as exc:
            raise QuotaStoreUnavailable(exc.__class__.__name__) from exc
        self._credited(queue, blob, credit, answer)

    def _expired(self) -> list[Ask]:
        """Expired units to give back; groups idle for a lease's life are forgotten."""
        now, asks = self._latest, []
        for windows, lease in list(self._leases.items()):
            lease.usable(now)
            if lease.back and not lease.refilling:
                asks.append(Ask(lease, now, 0, 0, lease.back))
                lease.back = 0
            elif not lease.units and not lease.refilling and now - lease.last > LEASE_SECONDS:
                del self._leases[windows]
                self._generation += 1  # no question may still point to a forgotten lease
        return asks

    def _ask(self, asks: list[Ask]) -> float:
        """One script call; credits the units leased; the wait (0.0: the question admitted)."""
        keys, blob = _packed(asks)
        try:
            answer = self._script(keys=keys, args=[blob], client=self._client)
        except redis.RedisError as exc:
            raise QuotaStoreUnavailable(exc.__class__.__name__) from exc
        wait = float(answer[0])
        if wait <= 0:
            with self._changed:  # units and their expiry together: no one sees one alone
                for ask, units in zip(asks, answer[1:], strict=True):
                    if units:
                        ask.lease.units += units
                        ask.lease.expires = ask.now + LEASE_SECONDS
        return wait


# The guard's usual question spends its leased units in C where built (engine.admit_usual), and
# the refill thread builds and credits its calls there (refill_request, credit_refills).
_speedups: Any
try:
    from vigie.guard import _speedups
except ImportError:  # pragma: no cover - an installation without a C compiler
    _speedups = None
else:
    _speedups.bind_leases(RedisQuotaStore, Lease, LEASE_SECONDS)
