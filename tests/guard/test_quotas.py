"""GCRA quotas: in process and shared through the real Redis, atomic, failing closed."""

from __future__ import annotations

import math
import multiprocessing
import random
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.connection import HiredisRespSerializer

from vigie.guard import redis_quotas
from vigie.guard.gcra import (
    SLACK,
    MemoryQuotaStore,
    QuotaStore,
    QuotaStoreUnavailable,
    WouldWait,
)
from vigie.guard.quotas import ACCOUNT, CARDLESS, DAY, MINUTE, MONTH, Checks, checks_for
from vigie.guard.redis_quotas import LEASE_SHARE, Packer, RedisQuotaStore
from vigie.identity.identifiers import Profession

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"vigie:test:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=name + "*"):
        client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def quotas(request: pytest.FixtureRequest, prefix: str) -> QuotaStore:
    if request.param == "memory":
        return MemoryQuotaStore()
    return RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)


def test_a_burst_up_to_the_limit_then_one_per_interval(quotas: QuotaStore) -> None:
    checks = [("k", 10, MINUTE)]
    now = 1_000_000.0
    assert all(quotas.take(checks, now) == 0 for _ in range(10))
    wait = quotas.take(checks, now)
    assert wait == pytest.approx(6.0)
    assert quotas.take(checks, now + 5.9) > 0
    assert quotas.take(checks, now + 6.0) == 0
    assert quotas.take(checks, now + 6.0) > 0


def test_rounding_never_refuses_the_last_unit_but_a_real_delay_does(
    quotas: QuotaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 a month near 1.8e9 s: the interval (259.2 s) is not exact in binary and the
    arrival times' rounding adds up over the window (half a millisecond); the 10,000th is still
    admitted, the next refused. A delay just over the slack (one a minute, asked 1.1 ms early)
    is a refusal, one within it (0.9 ms) is not. (No leases: the exact quota.)"""
    monkeypatch.setattr(redis_quotas, "LEASE_SHARE", 10**9)
    month = [("m", 10_000, MONTH)]
    now = 1_800_000_000.123
    assert all(quotas.take(month, now) == 0 for _ in range(10_000))
    assert quotas.take(month, now) == pytest.approx(259.2, abs=SLACK)
    minute = [("one", 1, MINUTE)]
    assert quotas.take(minute, now) == 0
    assert quotas.take(minute, now + MINUTE - 1.1 * SLACK) > 0
    assert quotas.take(minute, now + MINUTE - 0.9 * SLACK) == 0


def test_checks_are_taken_all_or_none(quotas: QuotaStore) -> None:
    now = 2_000_000.0
    tight, loose = ("tight", 1, MINUTE), ("loose", 3, MINUTE)
    assert quotas.take([tight, loose], now) == 0
    assert quotas.take([tight, loose], now) > 0  # refused by "tight": "loose" not charged
    assert quotas.take([loose], now) == 0
    assert quotas.take([loose], now) == 0
    assert quotas.take([loose], now) > 0


def test_a_refusal_by_a_later_window_puts_back_the_earlier_ones() -> None:
    """The memory store charges window by window (Redis's script checks every key first)."""
    quotas, now = MemoryQuotaStore(), 2_000_000.0
    loose, tight = ("loose", 3, MINUTE), ("tight", 1, MINUTE)
    assert quotas.take([loose, tight], now) == 0
    assert quotas.take([loose, tight], now) == pytest.approx(60.0, abs=SLACK)
    assert quotas.due("loose") == pytest.approx(now + 20.0)  # charged once, put back once
    assert quotas.take([loose], now) == 0
    assert quotas.take([loose], now) == 0  # its second and third units are still there
    assert quotas.take([loose], now) > 0


@pytest.mark.parametrize(("copies", "answers"), [(2, [0.0, 0.0, 40.0]), (4, [0.0, 40.0, 40.0])])
def test_a_key_listed_twice_is_judged_on_its_state_before_the_question(
    copies: int, answers: list[float]
) -> None:
    """No quota table lists a key twice; if one did, each copy is judged on the key's state
    before the question and charged in turn (3 a minute: a unit every 20 s)."""
    listed = [("k", 3, MINUTE)] * copies
    for checks in (listed, Checks(listed)):
        quotas, now = MemoryQuotaStore(), 2_000_000.0
        assert [quotas.take(checks, now) for _ in answers] == pytest.approx(answers, abs=1e-6)


def test_a_day_window_catches_a_slow_pace(quotas: QuotaStore) -> None:
    """One question every 10 minutes passes the minute limit but not a 50-a-day limit."""
    checks = [("m", 4, MINUTE), ("d", 50, DAY)]
    now, admitted = 3_000_000.0, 0
    for i in range(144):
        admitted += quotas.take(checks, now + 600 * i) == 0
    # 50 at once, then one per 1,728 s as the day's oldest questions age: far below 144.
    assert 50 <= admitted <= 50 + 144 * 600 // int(DAY / 50)


def test_profession_table_reasoning_holds() -> None:
    pharmacy, audio = ACCOUNT[Profession.pharmacist], ACCOUNT[Profession.audiologist]
    assert pharmacy.day >= 10 * audio.day
    for profession in Profession:
        full, cardless = ACCOUNT[profession], CARDLESS[profession]
        assert cardless.day * 5 <= full.day and cardless.month * 5 <= full.month
        assert full.minute < full.day < full.month


def test_checks_cover_account_structure_and_windows() -> None:
    keys = checks_for(Profession.nurse, 7, 3, cardless=False, slowed=False)
    assert {k for k, _, _ in keys} == {
        f"{who}:f:{int(p)}" for who in ("a:7", "s:3") for p in (MINUTE, DAY, MONTH)
    }
    cardless = checks_for(Profession.nurse, 7, None, cardless=True, slowed=True)
    assert {k for k, _, _ in cardless} >= {"a:7:c:60", "a:7:slow:60"}
    assert not any(k.startswith("s:") for k, _, _ in cardless)


def _worker(prefix: str, now: float, out: multiprocessing.Queue[int]) -> None:
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    out.put(sum(store.take([("shared", 25, MINUTE)], now) == 0 for _ in range(40)))


def test_two_processes_share_one_quota(prefix: str) -> None:
    """Two processes asking 40 each at the same instant are admitted 25 in all, not 50."""
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[int] = context.Queue()
    workers = [context.Process(target=_worker, args=(prefix, 5_000_000.0, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    admitted = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert sum(admitted) == 25


def test_redis_down_fails_closed() -> None:
    store = RedisQuotaStore.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    with pytest.raises(QuotaStoreUnavailable):
        store.take([("k", 10, MINUTE)], 1.0)


def _lease_holder(
    prefix: str, start: float, barrier: Any, out: multiprocessing.Queue[tuple[int, int]]
) -> None:
    """Three questions grow a lease; after the window has refilled (the lease still alive),
    ask 30 times at one instant: (units held before, questions admitted)."""
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    group = [("a:1:f:20", 16, 20.0), ("a:1:f:86400", 1_000, DAY)]
    for i in range(3):
        assert store.take(group, start + i / 10) == 0
    store.settle()
    held = store.held()
    barrier.wait(timeout=60)
    later = start + 30  # the 20-second window is full again; leases live 60 s
    out.put((held, sum(store.take(group, later) == 0 for _ in range(30))))


def test_leases_exceed_the_quota_by_at_most_what_processes_hold(prefix: str) -> None:
    """Two processes, each holding a lease: at one instant they are admitted the window's 16
    and the units they held, never more than 16 + 2 processes x LEASE_SHARE's cap."""
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[tuple[int, int]] = context.Queue()
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_lease_holder, args=(prefix, 6_000_000.0, barrier, out))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    held = sum(h for h, _ in results)
    admitted = sum(a for _, a in results)
    assert held > 0  # the leases were there: the bound is what is tested
    assert admitted == 16 + held <= 16 + 2 * (16 // LEASE_SHARE)


def test_a_lease_is_given_back_and_a_paused_account_asks_redis(prefix: str) -> None:
    """Units unused when their lease expires return to Redis; after a pause, no lease."""
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    group = [("a:2:f:60", 8, MINUTE)]
    now = 7_000_000.0
    assert store.take(group, now) == 0
    assert store.take(group, now + 1) == 0  # asks again within a minute: a unit leased ahead
    assert store.held() == 1
    store.close()  # gives it back
    other = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    admitted = sum(other.take(group, now + 1) == 0 for _ in range(10))
    assert admitted == 6  # 8 a minute, 2 asked: the returned unit is usable by anyone


def test_redis_down_with_a_lease_admits_from_it_then_fails_closed(prefix: str) -> None:
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    group = [("a:3:f:60", 8, MINUTE)]
    now = 8_000_000.0
    assert store.take(group, now) == 0
    assert store.take(group, now + 1) == 0
    assert store.held() == 1
    store._client = redis.Redis.from_url("redis://127.0.0.1:1/0")  # Redis goes away
    assert store.take(group, now + 2) == 0  # the unit held ahead
    with pytest.raises(QuotaStoreUnavailable):
        store.take(group, now + 3)


MALFORMED = {
    "windows missing": b"",
    "half a window": struct.pack("<d", 6.0),
    "bytes left over": struct.pack("<3d", 6.0, 60.0, 7.0),
    "a limit under one": struct.pack("<2d", 0.5, 60.0),
    "a period of zero": struct.pack("<2d", 6.0, 0.0),
    "a limit not a number": struct.pack("<2d", math.nan, 60.0),
}


@pytest.mark.parametrize("spec", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_group_is_refused_by_the_script_and_fails_closed(
    prefix: str, spec: bytes
) -> None:
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    checks = [("a:1:f:60", 6, 60.0)]
    assert store.take(checks, 1_000.0) == 0.0  # well formed: admitted
    for lease in store._leases.values():  # what a bug in the packing would send
        lease.spec = spec
    with pytest.raises(QuotaStoreUnavailable):
        store.take([("a:1:f:60", 6, 60.0)], 2_000.0)


def test_a_group_is_one_key_of_packed_arrival_times(prefix: str) -> None:
    """An account's three windows live in one Redis key (one GET and one SET a question), as
    little-endian doubles in window order; a value of another length reads as never asked."""
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    checks = [("a:2:f:60", 6, MINUTE), ("a:2:f:86400", 400, DAY), ("a:2:f:2592000", 6_000, MONTH)]
    now = 7_500_000.0
    assert store.take(checks, now) == 0
    client = redis.Redis.from_url(REDIS_URL)
    (key,) = client.scan_iter(match=prefix + "*")
    assert key == f"{prefix}a:2:f:60/86400/2592000".encode()
    stored = client.get(key)
    assert isinstance(stored, bytes)
    tats = struct.unpack("<3d", stored)
    assert tats == pytest.approx((now + 10.0, now + 216.0, now + 432.0))
    assert 431_000 < client.pttl(key) <= 432_000  # until the latest arrival time has passed
    client.set(key, b"\x00" * 7)  # not three doubles: as if never asked
    fresh = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    assert all(fresh.take(checks, now) == 0 for _ in range(6))
    assert fresh.take(checks, now) > 0
    store.close()


HEAD = struct.Struct("<5d")  # windows, now, need, extra, back


@pytest.mark.parametrize(
    "head",
    [(0, 1e6, 1, 0, 0), (9, 1e6, 1, 0, 0), (1.5, 1e6, 1, 0, 0), (1, 1e6, -1, 0, 0),
     (1, 1e6, 1, -1, 0), (1, 1e6, 1, 0, -1), (1, math.nan, 1, 0, 0), (1, math.inf, 1, 0, 0)],
    ids=["no window", "nine windows", "half a window", "need < 0", "extra < 0", "back < 0",
         "now not a number", "now infinite"],
)  # fmt: skip
def test_a_malformed_head_or_an_infinite_window_is_refused(
    prefix: str, head: tuple[float, ...]
) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    script = client.register_script(redis_quotas.LEASE_SCRIPT)
    window = struct.pack("<2d", 6.0, 60.0)
    with pytest.raises(redis.ResponseError, match="malformed"):
        script(keys=[prefix + "g"], args=[HEAD.pack(*head) + window * max(1, int(head[0]))])
    for limit, period in ((math.inf, 60.0), (6.0, math.inf)):
        with pytest.raises(redis.ResponseError, match="malformed"):
            script(keys=[prefix + "g"], args=[HEAD.pack(1, 1e6, 1, 0, 0) + struct.pack(
                "<2d", limit, period)])  # fmt: skip
    assert not client.exists(prefix + "g")  # nothing charged


def test_a_full_group_does_not_hold_up_the_give_backs_of_its_call(prefix: str) -> None:
    """A refill call carries several groups; one whose window another process filled leases
    nothing, and the others' units are still leased and given back."""
    client = redis.Redis.from_url(REDIS_URL)
    script = client.register_script(redis_quotas.LEASE_SCRIPT)
    window = struct.pack("<2d", 2.0, 60.0)
    now = 1e6
    assert script(keys=[prefix + "full"], args=[HEAD.pack(1, now, 1, 1, 0) + window]) == [b"0", 1]
    back = [prefix + "full", prefix + "back"]
    assert script(keys=[prefix + "back"], args=[HEAD.pack(1, now, 1, 0, 0) + window]) == [b"0", 0]
    # The full group asks for a refill (need 0), the other gives its unit back.
    answer = script(
        keys=back, args=[HEAD.pack(1, now, 0, 1, 0) + window + HEAD.pack(1, now, 0, 0, 1) + window]
    )
    assert answer == [b"0", 0, 0]
    assert not client.exists(prefix + "back")  # its unit returned: as if never asked


def test_without_waiting_a_unit_in_hand_admits_and_none_changes_nothing(prefix: str) -> None:
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    group = [("a:4:f:60", 8, MINUTE)]
    now = 9_000_000.0
    with pytest.raises(WouldWait):
        store.take(group, now, wait=False)  # nothing leased yet: only Redis can say
    assert store.round_trips == 0 and store.held() == 0
    assert not redis.Redis.from_url(REDIS_URL).exists(prefix + "a:4:f:60")  # nothing charged
    assert store.take(group, now) == 0  # asks Redis, leases nothing (a first question)
    assert store.take(group, now + 1) == 0  # asks Redis, one unit ahead
    store.settle()
    trips = store.round_trips
    assert store.held() == 1
    assert store.take(group, now + 2, wait=False) == 0  # the unit in hand: no round trip
    assert store.round_trips == trips
    store.close()


def test_a_question_does_not_wait_for_its_groups_refill(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refill on its way (here held back 3 s) does not hold a question up: it asks Redis for
    its own unit, nothing ahead, so the process still holds at most its cap."""
    monkeypatch.setattr(redis_quotas, "BATCH_DELAY", 3.0)
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    group = [("a:5:f:60", 8, MINUTE)]
    cap = 8 // LEASE_SHARE
    now = 10_000_000.0
    for i in range(3):  # leases one ahead, then spends it: a refill is queued
        assert store.take(group, now + i) == 0
    trips, started = store.round_trips, time.monotonic()
    assert store.take(group, now + 3) == 0
    assert time.monotonic() - started < 1.0
    assert store.round_trips == trips + 1 and store.held() == 0
    store.settle(timeout=10)
    assert 0 < store.held() <= cap
    store.close()


def test_asking_ahead_counts_as_the_groups_refill(prefix: str) -> None:
    """While one question's ask leases ahead, another's asks for its own unit only: however the
    answers interleave, the process never holds more than the cap."""
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    group = [("a:6:f:60", 40, MINUTE)]
    cap = 40 // LEASE_SHARE
    now = 11_000_000.0
    real_ask, seen = store._ask, []

    def ask(asks: list[redis_quotas.Ask]) -> float:
        seen.append([a.extra for a in asks])
        if len(seen) == 2:  # the first question's ask ahead is still on its way
            assert store._leases_of(group, now + 1)[0].refilling
            assert store.take(group, now + 1) == 0  # a second question meanwhile
        return float(real_ask(asks))

    store._ask = ask  # type: ignore[method-assign]
    assert store.take(group, now) == 0  # leases nothing (a first question)
    assert store.take(group, now + 1) == 0  # asks one ahead, and the second asks its own
    assert seen == [[0], [1], [0]]
    assert store.held() <= cap
    store.close()


def test_a_checks_object_noted_by_one_store_is_found_again_by_another() -> None:
    """A store notes where a Checks object's windows live; another store does not read that
    note as its own: each keeps its own quota."""
    checks = Checks([("a:9:f:60", 2, MINUTE)])
    first, second = MemoryQuotaStore(), MemoryQuotaStore()
    now = 12_000_000.0
    assert first.take(checks, now) == 0 and first.take(checks, now) == 0
    assert first.take(checks, now) > 0  # two a minute, both taken here
    assert second.take(checks, now) == 0  # not charged by the first store
    assert first.due("a:9:f:60") == now + 60.0 and second.due("a:9:f:60") == now + 30.0


def test_a_forgotten_lease_is_not_used_through_an_old_note(prefix: str) -> None:
    """Leases idle for their life are forgotten; a question whose Checks object noted one finds
    its group's lease again, so every unit this process holds stays counted and given back."""
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    checks = Checks([("a:10:f:60", 40, MINUTE)])
    now = 13_000_000.0
    assert store.take(checks, now) == 0
    old = store._leases_of(checks, now)[0]
    store.settle()
    later = now + 10 * redis_quotas.LEASE_SECONDS
    with store._changed:
        store._latest = later
        store._expired()  # gives back what it held
        store._expired()  # then forgets the idle lease
    assert store.held() == 0
    assert store.take(checks, later) == 0
    (lease,) = store._leases_of(checks, later)
    assert lease is not old and lease in store._leases.values()
    store.close()


class ReferenceGcra:
    """GCRA by the book, one dict of TATs and the same hourly sweep: what the store must match."""

    def __init__(self) -> None:
        self.tat: dict[str, float] = {}
        self.swept = 0.0

    def take(self, checks: list[tuple[str, int, float]], now: float) -> float:
        if now - self.swept > 3_600:
            self.swept = now
            self.tat = {k: v for k, v in self.tat.items() if v > now}
        due = [max(self.tat.get(k, now), now) + p / n for k, n, p in checks]
        wait = max(t - p - now for t, (_, _, p) in zip(due, checks, strict=True))
        if wait > SLACK:  # rounding, not a refusal
            return wait
        self.tat.update((k, t) for t, (k, _, _) in zip(due, checks, strict=True))
        return 0.0


def test_the_memory_store_matches_the_reference_gcra_even_when_time_goes_back() -> None:
    """Random questions on shared keys, with the clock sometimes stepping back and sweeps on
    the way: the same answers as the reference, whether checks are noted objects or lists."""
    rng = random.Random(7)
    keys = [("a:1:f:60", 6, MINUTE), ("a:1:f:86400", 400, DAY), ("s:1:f:60", 24, MINUTE),
            ("a:2:f:60", 6, MINUTE), ("a:2:f:86400", 400, DAY)]  # fmt: skip
    groups = [Checks([keys[0], keys[1], keys[2]]), Checks([keys[3], keys[4], keys[2]])]
    store, reference, now = MemoryQuotaStore(), ReferenceGcra(), 1_000_000.0
    for i in range(20_000):
        if i % 50 == 0:
            now += 4_000.0  # a sweep
        elif i % 50 == 1:
            now -= 3_970.0  # back below what it swept
        else:
            now += rng.choice([-30.0, 0.5, 2.0, 9.0, 700.0])
        checks = rng.choice(groups)
        plain = list(checks)
        expected = reference.take(plain, now)
        got = store.take(checks if i % 3 else plain, now)
        assert got == pytest.approx(expected, abs=1e-9), (i, now)


def test_a_sweep_forgets_past_keys_and_voids_older_notes() -> None:
    store = MemoryQuotaStore()
    mine, other = Checks([("a:1:f:60", 6, MINUTE)]), Checks([("a:2:f:60", 6, MINUTE)])
    now = 2_000_000.0
    assert store.take(mine, now) == 0 and store.take(other, now) == 0
    later = now + 3_601
    assert store.take(other, later) == 0  # sweeps first: both TATs were past
    assert store.due("a:1:f:60") is None
    assert store.take(mine, later) == 0  # its note is void: resolved again, charged afresh
    assert store.due("a:1:f:60") == later + 10.0 and store.due("a:2:f:60") == later + 10.0


def test_the_stores_packer_packs_as_redis_py_does() -> None:
    ours, theirs = Packer(), HiredisRespSerializer()
    cases: list[tuple[Any, ...]] = [
        ("EVALSHA", "0" * 40, 2, b"vigie:q:a:1:f:60", b"vigie:q:s:1:f:60", b"\x00\xff blob"),
        ("SCRIPT LOAD", "return 1"),
        ("SET", "k", 1.5, "PX", 100),
    ]
    for args in cases:
        assert b"".join(ours.pack(*args)) == b"".join(theirs.pack(*args))
    with pytest.raises(redis.DataError):
        ours.pack("SET", "k", object())


def test_a_store_loads_its_script_again_after_a_flush(prefix: str) -> None:
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    group = [("a:8:f:60", 4, MINUTE)]
    assert store.take(group, 12_000_000.0) == 0
    store._client.script_flush()  # a Redis restarted: the next call loads it ("SCRIPT LOAD")
    assert store.take(group, 12_000_000.0 + 61) == 0
    store.close()
