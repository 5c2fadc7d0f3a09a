"""GCRA quotas: in process and shared through the real Redis, atomic, failing closed."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator

import pytest
import redis

from vigie.guard.gcra import MemoryQuotaStore, QuotaStore, QuotaStoreUnavailable
from vigie.guard.quotas import ACCOUNT, CARDLESS, DAY, MINUTE, MONTH, checks_for
from vigie.guard.redis_quotas import RedisQuotaStore
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


def test_checks_are_taken_all_or_none(quotas: QuotaStore) -> None:
    now = 2_000_000.0
    tight, loose = ("tight", 1, MINUTE), ("loose", 3, MINUTE)
    assert quotas.take([tight, loose], now) == 0
    assert quotas.take([tight, loose], now) > 0  # refused by "tight": "loose" not charged
    assert quotas.take([loose], now) == 0
    assert quotas.take([loose], now) == 0
    assert quotas.take([loose], now) > 0


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
