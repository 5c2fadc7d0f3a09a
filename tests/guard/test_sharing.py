"""Risk state shared between server processes: a guard that replays another's notes holds the
state of one that saw every question; origins, throttles, slow-downs and lifts travel; the
Redis exchange carries them between processes, skips its own and foreign batches, and survives
Redis going away (quotas fail closed on their own)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import pytest
import redis

from tests.guard.helpers import MONDAY_9H, ask, pro, q
from vigie.crypto.keyring import IndexKey, Keyring
from vigie.guard import redis_quotas, sharing
from vigie.guard.engine import Decision, Guard
from vigie.guard.features import Caller, Question
from vigie.guard.gcra import MemoryQuotaStore
from vigie.guard.memory import MemoryContainment
from vigie.guard.platform import PlatformWatch
from vigie.guard.redis_quotas import Lease, RedisQuotaStore
from vigie.guard.risk import AccountState
from vigie.guard.sharing import (
    FORGOTTEN,
    OBSERVED,
    ORIGIN,
    SLOWED,
    THROTTLED,
    Decoder,
    Event,
    RiskExchange,
    encode,
)
from vigie.guard.simulation import report
from vigie.guard.simulation.run import Simulation, Size
from vigie.identity.identifiers import Profession

REDIS_URL = "redis://127.0.0.1:6379/0"


def pair() -> tuple[Guard, Guard]:
    """Two server processes: one quota store and one containment (Redis, the database)."""
    quotas, containment = MemoryQuotaStore(), MemoryContainment()
    a, b = Guard(quotas, containment), Guard(quotas, containment)
    a.outbox, b.outbox = [], []
    return a, b


def comparable(st: AccountState) -> dict[str, object]:
    found = {f.name: getattr(st, f.name) for f in fields(st) if f.name not in ("checks", "peers")}
    found["views"] = {origin: repr(shares) for origin, shares in st.views.items()}
    return found


def test_replayed_notes_give_the_state_of_one_process_that_saw_everything() -> None:
    first, second = pair()
    alone = Guard(MemoryQuotaStore(), MemoryContainment())
    callers = [pro(1, structure=7), pro(2, Profession.nurse, "13")]
    decisions = set()
    for i in range(400):
        caller = callers[i % 7 == 0]
        # Across an hour and a day: patients near and far, repeated, estimates then
        # agreements, a card-less one now and then, some negative answers.
        now = MONDAY_9H + i * 240.0
        patient = (i * 13) % 90
        question = q(patient, "75" if patient % 3 else "2A", order=i % 5,
                     cardless=i % 50 == 0, agree=i % 4 != 0)  # fmt: skip
        here, there = (first, second) if i % 2 else (second, first)
        positive = patient % 11 != 0
        decision = ask(here, caller, question, now, positive=positive)
        assert decision is ask(alone, caller, question, now, positive=positive)
        decisions.add(decision)
        there.replay(here.drain())
    # The nurse, whose patients are mostly from elsewhere, is suspended on the way.
    assert decisions == {Decision.ALLOW, Decision.SUSPEND}
    for caller in callers:
        assert alone.state(caller).questions > 15
        expected = comparable(alone.state(caller))
        assert comparable(first.state(caller)) == expected
        assert comparable(second.state(caller)) == expected
    assert repr(first.peers) == repr(second.peers) == repr(alone.peers)


def test_an_origin_first_seen_by_another_process_is_not_trusted_again_here() -> None:
    first, second = pair()
    caller = pro()
    assert ask(first, caller, q(1), MONDAY_9H, origin=10) is Decision.ALLOW
    second.replay(first.drain())
    # Without the note, the second process would trust whatever origin it saw first.
    assert ask(second, caller, q(2), MONDAY_9H + 60, origin=66) is Decision.STEP_UP
    assert ask(second, caller, q(2), MONDAY_9H + 90, origin=10) is Decision.ALLOW
    # A step-up admitted in one process admits the origin in the other.
    stepped = MONDAY_9H + 120
    assert ask(first, caller, q(3), stepped, origin=66, stepped_up_at=None) is Decision.STEP_UP
    assert ask(first, caller, q(3), stepped + 1, origin=66, stepped_up_at=stepped + 1) is (
        Decision.ALLOW
    )
    second.replay(first.drain())
    assert ask(second, caller, q(4), stepped + 60, origin=66) is Decision.ALLOW


def test_an_origin_a_restarted_process_trusted_blindly_is_not_trusted_elsewhere() -> None:
    first, second = pair()
    caller = pro()
    assert ask(first, caller, q(1), MONDAY_9H, origin=10) is Decision.ALLOW
    first.drain()  # that note went out before the second process (re)started
    # The restarted process knows nothing of the account: it trusts the first origin it sees.
    assert ask(second, caller, q(2), MONDAY_9H + 60, origin=66) is Decision.ALLOW
    first.replay(second.drain())
    assert ask(first, caller, q(3), MONDAY_9H + 90, origin=66) is Decision.STEP_UP
    assert 66 not in first.state(caller).origins


def test_a_step_up_proved_after_another_process_refused_the_origin_admits_it_here() -> None:
    first, second = pair()
    caller = pro()
    assert ask(first, caller, q(1), MONDAY_9H, origin=10) is Decision.ALLOW
    assert ask(first, caller, q(2), MONDAY_9H + 60, origin=66) is Decision.STEP_UP
    second.replay(first.drain())
    # Proved at +70 s, asked again at +90 s: the retry reaches the other process, which had
    # never seen origin 66 itself. Without the first refusal's note it would ask again.
    proved = MONDAY_9H + 70
    assert ask(second, caller, q(2), MONDAY_9H + 90, origin=66, stepped_up_at=proved) is (
        Decision.ALLOW
    )
    first.replay(second.drain())
    assert ask(first, caller, q(3), MONDAY_9H + 120, origin=66) is Decision.ALLOW


def test_throttles_slow_downs_and_lifts_travel() -> None:
    first, second = pair()
    caller = pro(structure=3)
    for i in range(60):  # over the minute quota: refusals, noted by admit
        ask(first, caller, q(i), MONDAY_9H + i * 0.5)
    refusals = first.state(caller).recent_throttles(MONDAY_9H + 60)
    assert refusals >= 2
    second.replay(first.drain())
    assert second.state(caller).recent_throttles(MONDAY_9H + 60) == refusals
    second.state(caller).origins[10] = 0.0
    second.replay([(SLOWED, caller, 0, MONDAY_9H + 3_600), (FORGOTTEN, caller.account)])
    lifted = second.state(caller)
    assert lifted.slowed_at is None and lifted.throttle_times == []
    assert lifted.origins == {1: 0.0, 10: 0.0}  # a lift keeps the origins, as in one process


def test_a_slow_down_travels_as_questions_since_it_began() -> None:
    """Each process counts an account's questions on its own (one restarted, a batch lost):
    "slowed 3 questions ago" means the same everywhere, an absolute count would not."""
    first, second = pair()
    caller = pro()
    for i in range(120):  # the second process has seen more of this account than the first
        ask(second, caller, q(i), MONDAY_9H + i * 300)
    st = first.state(caller)
    st.questions = 40
    first._slow(st, 37, MONDAY_9H + 3_600)
    second.replay(first.drain())
    there = second.state(caller)
    assert there.questions - there.slowed_at == 3 if there.slowed_at is not None else False
    assert there.slowed_until == MONDAY_9H + 3_600


def test_slow_down_notes_that_cross_agree_on_the_later_end() -> None:
    first, second = pair()
    caller = pro()
    ask(first, caller, q(1), MONDAY_9H)
    second.replay(first.drain())
    for guard in (first, second):
        st = guard.state(caller)
        guard._slow(st, st.questions, MONDAY_9H + 3_600)
        guard.drain()
    # At the same moment: the first renews the slow-down, the second sees it end.
    renewed = first.state(caller)
    first._slow(renewed, renewed.slowed_at, MONDAY_9H + 7_300)
    ended = second.state(caller)
    second._slow(ended, None, ended.slowed_until)
    notes = first.drain(), second.drain()
    first.replay(notes[1])
    second.replay(notes[0])
    for guard in (first, second):
        st = guard.state(caller)
        assert (st.slowed_at is not None, st.slowed_until) == (True, MONDAY_9H + 7_300)


def test_a_slow_down_decided_elsewhere_charges_the_slow_quota_here() -> None:
    _, second = pair()
    caller = pro()
    second.replay([(ORIGIN, caller, 1, 0.0), (SLOWED, caller, 0, MONDAY_9H + 3_600)])
    decisions = [ask(second, caller, q(i), MONDAY_9H + i) for i in range(3)]
    assert decisions[:2] == [Decision.ALLOW, Decision.ALLOW]
    assert decisions[2] is Decision.THROTTLE  # two a minute once slowed down


@pytest.mark.parametrize("late", ["replayed", "local"])
def test_a_question_behind_the_clock_never_takes_a_day_back(late: str) -> None:
    """A note from another process a few ms ahead, then a local question read just before it
    (or a replayed one behind): at midnight, neither may roll the day back and forth."""
    _, second = pair()
    caller = pro()
    midnight = MONDAY_9H + 15 * 3_600  # 0:00 local time
    assert ask(second, caller, q(1), midnight - 600) is Decision.ALLOW
    ahead, behind = midnight + 0.05, midnight - 0.02
    second.replay([(OBSERVED, caller, q(2), 1, True, ahead)])
    day = second.state(caller).day
    baseline = second.state(caller).baseline
    if late == "replayed":
        second.replay([(OBSERVED, caller, q(3), 1, True, behind)])
    else:
        assert ask(second, caller, q(3), behind) is Decision.ALLOW
    st = second.state(caller)
    assert (st.day, st.day_count, st.hour_count, st.baseline) == (day, 2, 2, baseline)


def test_a_note_from_a_clock_far_ahead_does_not_hold_the_hour_slot() -> None:
    """A day ahead: the questions that follow, on time, start their own slot again."""
    _, second = pair()
    caller = pro()
    second.replay([(OBSERVED, caller, q(1), 1, True, MONDAY_9H + 86_400)])
    for i in range(12):
        assert ask(second, caller, q(2 + i), MONDAY_9H + i * 60) is Decision.ALLOW
    assert second.state(caller).hour_count == 12


def test_notes_survive_their_encoding() -> None:
    caller = Caller(7, "rpps:10101010101", Profession.optician, "2A", None)
    other = Caller(8, "rpps:20202020202", Profession.hospital, "971", 3)
    question = Question(-(2**63) + 5, "971", 2**63 - 1, 123, True, False)
    events: list[Event] = [
        (OBSERVED, caller, question, 2**62, False, 1_772_409_600.25),
        (THROTTLED, other, 1.5),
        (ORIGIN, other, -3, 0.0),
        (SLOWED, caller, 12, 99.0),
        (SLOWED, other, None, 99.5),
        (FORGOTTEN, 8),
    ]
    batch = Decoder().decode(encode(events, 12.5, 3))
    assert batch == (12.5, 3, events)
    decoded = batch.events
    assert isinstance(decoded[0][2], Question)
    with pytest.raises(ValueError):
        Decoder().decode(b'{"t": 1.0, "s": 1, "c": {}, "e": [[9, 1]]}')
    with pytest.raises(ValueError):
        Decoder().decode(
            b'{"t": 1.0, "s": 1, "c": {"7": ["rpps:1", "nurse", "75", null]}, "e": [[0, 7]]}'
        )
    for row in (b"[1, 7, NaN]", b'[3, 7, "1", 2.0]', b"[2, 7, 1.5, 2.0]", b'[4, "7"]'):
        with pytest.raises((TypeError, ValueError)):  # a NaN, a count as text, ...
            Decoder().decode(b'{"t": 1.0, "s": 1, "c": {"7": ["rpps:1", "nurse", "75", null]},'
                             b' "e": [' + row + b"]}")  # fmt: skip


# --- through Redis ---------------------------------------------------------------------------

MAC_KEY = b"a deployment's key, for the tests"


def exchange_of(guard: Guard, stream: str, **options: Any) -> RiskExchange:
    client = redis.Redis.from_url(REDIS_URL)
    return RiskExchange(guard, client, mac_key=MAC_KEY, key=stream, **options)


@pytest.fixture
def stream() -> Iterator[str]:
    key = f"vigie:test:risk:{uuid.uuid4().hex}"
    yield key
    redis.Redis.from_url(REDIS_URL).delete(key)


def test_two_processes_exchange_their_notes_through_redis(stream: str) -> None:
    first, second = pair()
    one, two = exchange_of(first, stream), exchange_of(second, stream)
    assert one.exchange() == 0 and two.exchange() == 0
    caller = pro()
    for i in range(3):
        ask(first, caller, q(i), MONDAY_9H + i * 60)
    assert one.exchange() == 0  # its own batch is not replayed
    assert one.published == 4  # the first origin, then three answered questions
    assert two.exchange() == 4
    assert second.state(caller).questions == 3
    # A process that starts later replays the last minute; one placed after it, nothing.
    later = [Guard(MemoryQuotaStore(), MemoryContainment()) for _ in range(2)]
    assert exchange_of(later[0], stream).exchange() == 4
    assert later[0].state(caller).questions == 3
    assert exchange_of(later[1], stream, since=time.time() + 1).exchange() == 0


def test_the_thread_exchanges_and_a_closing_process_sends_its_last_notes(stream: str) -> None:
    first, second = pair()
    one, two = exchange_of(first, stream), exchange_of(second, stream)
    one.exchange(), two.exchange()
    two.start()
    try:
        ask(first, pro(), q(1), MONDAY_9H)
        one.close()  # never started: the close alone sends the notes
        deadline = time.monotonic() + 5
        while two.replayed < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert two.replayed == 2
    finally:
        two.close()
    two.start()  # started again after a close, it runs again
    ask(first, pro(), q(2), MONDAY_9H + 60)
    one.exchange()
    deadline = time.monotonic() + 5
    while two.replayed < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    two.close()
    assert two.replayed == 3


def test_forged_altered_malformed_repeated_and_misdated_batches_are_skipped(
    stream: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = pair()
    one, two = exchange_of(first, stream), exchange_of(second, stream)
    elsewhere = Guard(MemoryQuotaStore(), MemoryContainment())
    stranger = RiskExchange(elsewhere, redis.Redis.from_url(REDIS_URL), mac_key=b"x", key=stream)
    client = redis.Redis.from_url(REDIS_URL)
    lift = [(FORGOTTEN, 7)]
    client.xadd(stream, stranger.seal(lift))  # another key: forged
    altered = one.seal(lift)
    altered[b"e"] = bytes(altered[b"e"]).replace(b"[4,7]", b"[4,8]")  # type: ignore[arg-type]
    client.xadd(stream, altered)
    # Authentic, but an answered question's series as text: nothing of it is replayed.
    tag = b"someone"
    bad = encode([(OBSERVED, pro(7), q(1), 1, True, MONDAY_9H)], time.time(), 1)
    bad = bad.replace(b'"75",1,', b'"75","x",', 1)
    client.xadd(stream, {b"p": tag, b"e": bad, b"m": sharing._mac(MAC_KEY, stream, tag, bad)})
    # Authentic, then written again by whoever can write to Redis: the copy is refused.
    once = one.seal([(FORGOTTEN, 9)])
    client.xadd(stream, once)
    client.xadd(stream, once)
    # Authentic but dated two hours before its entry: written again long after, or a clock off.
    old = encode(lift, time.time() - 7_200, 99)
    client.xadd(stream, {b"p": tag, b"e": old, b"m": sharing._mac(MAC_KEY, stream, tag, old)})
    ask(first, pro(), q(1), MONDAY_9H)
    one.exchange()
    with caplog.at_level(logging.WARNING, logger="vigie.guard.sharing"):
        assert two.exchange() == 3  # the lift of account 9 once, the first guard's two notes
    assert two.skipped == 5 and 7 not in second._accounts
    for reason in ("without this deployment's MAC", "malformed", "written again", "clock skew"):
        assert reason in caplog.text


def test_a_batch_that_cannot_be_replayed_is_logged_and_the_thread_goes_on(
    stream: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = pair()
    one, two = exchange_of(first, stream), exchange_of(second, stream)
    ask(first, pro(), q(1), MONDAY_9H)
    one.exchange()

    def broken(events: list[Event]) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(second, "replay", broken)
    with caplog.at_level(logging.ERROR, logger="vigie.guard.sharing"):
        two.close()  # its last exchange fails: logged, not raised
    assert "could not be replayed" in caplog.text


def test_without_redis_the_notes_are_counted_lost_and_the_guard_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = Guard(MemoryQuotaStore(), MemoryContainment())
    nowhere = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    exchange = RiskExchange(guard, nowhere, mac_key=MAC_KEY, key="k")  # nothing listens there
    counted = (THROTTLED, pro(), MONDAY_9H)
    guard.outbox = [(FORGOTTEN, 1), counted]
    with pytest.raises(redis.RedisError):
        exchange.exchange()
    # The lift waits for the next batch (it must not be lost); a count would count twice.
    assert guard.outbox == [(FORGOTTEN, 1)] and exchange.lost == 1
    with caplog.at_level(logging.WARNING, logger="vigie.guard.sharing"):
        exchange.close()  # the last exchange fails quietly, once logged
    assert "Redis unavailable" in caplog.text
    assert ask(guard, pro(), q(1), MONDAY_9H) is Decision.ALLOW


# --- refills carried by the exchange's round trips ------------------------------------------------


@pytest.fixture
def driven(stream: str) -> Iterator[tuple[RedisQuotaStore, RiskExchange]]:
    """Shared quotas whose refills the exchange carries (its thread not started: each test
    calls exchange() itself)."""
    prefix = f"vigie:test:{uuid.uuid4().hex}:"
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=prefix)
    guard = Guard(store, MemoryContainment())
    exchange = RiskExchange.from_url(guard, REDIS_URL, mac_key=MAC_KEY, key=stream, quotas=store)
    store.drive(exchange)
    yield store, exchange
    store.close()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)


GROUP = [("a:1:f:60", 16, 60.0), ("a:1:f:86400", 400, 86_400.0)]


def spent_once(store: RedisQuotaStore) -> Lease:
    """Three questions a second apart: two round trips, the second leasing a unit ahead, which
    the third spends; the group is then queued for a refill."""
    for i in range(3):
        assert store.take(GROUP, MONDAY_9H + i) == 0
    (lease,) = store._leases.values()
    return lease


def test_the_exchange_carries_the_refills_of_a_store_it_drives(
    driven: tuple[RedisQuotaStore, RiskExchange],
) -> None:
    store, exchange = driven
    now = MONDAY_9H
    lease = spent_once(store)
    time.sleep(3 * redis_quotas.BATCH_DELAY)
    assert store._queue == [lease] and store.refill_cpu_s == 0.0  # its own thread waits
    held = lease.units
    exchange.exchange()
    assert store._queue == [] and not lease.refilling
    assert held < lease.units <= lease.cap and lease.expires == now + 2 + 60
    assert store.round_trips == 2  # none more on the questions' path
    store.settle()  # nothing in flight: returns at once


def test_a_script_redis_lost_is_loaded_again_by_the_exchange(
    driven: tuple[RedisQuotaStore, RiskExchange],
) -> None:
    store, exchange = driven
    lease = spent_once(store)
    held = lease.units
    redis.Redis.from_url(REDIS_URL).script_flush()  # a Redis restarted
    exchange.exchange()  # NOSCRIPT in the pipeline: loaded, and the refill made again
    assert lease.units > held and not lease.refilling and store._queue == []


def test_expired_units_go_back_with_the_exchange(
    driven: tuple[RedisQuotaStore, RiskExchange], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, exchange = driven
    lease = spent_once(store)
    exchange.exchange()
    assert lease.units > 0
    lease.expires = MONDAY_9H + 2  # its life over at the latest question's moment
    monkeypatch.setattr(store, "_returned", time.monotonic() - redis_quotas.RETURN_EVERY)
    exchange.exchange()
    assert lease.units == 0 and lease.back == 0
    other = RedisQuotaStore.from_url(REDIS_URL, prefix=store._prefix)
    # 16 a minute, 3 asked: the units given back are anyone's again
    admitted = sum(other.take(GROUP, MONDAY_9H + 2) == 0 for _ in range(20))
    other.close()
    assert admitted == 13


def test_without_redis_a_driven_refill_leases_nothing_and_ends(
    driven: tuple[RedisQuotaStore, RiskExchange],
) -> None:
    store, exchange = driven
    lease = spent_once(store)
    held = lease.units
    exchange._client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    exchange._conn = None  # Redis goes away
    with pytest.raises(redis.RedisError):
        exchange.exchange()
    assert lease.units == held and not lease.refilling and store._queue == []


def test_a_store_refills_on_its_own_again_when_the_exchange_stops(
    driven: tuple[RedisQuotaStore, RiskExchange],
) -> None:
    store, exchange = driven
    exchange.start()
    exchange.close()  # its last exchange, then the store's own thread again
    lease = spent_once(store)
    held = lease.units
    store.settle()
    assert lease.units > held and store.refill_cpu_s > 0.0


def test_notes_redis_refuses_go_back_and_the_refills_still_count(
    driven: tuple[RedisQuotaStore, RiskExchange], stream: str
) -> None:
    store, exchange = driven
    lease = spent_once(store)
    held = lease.units
    exchange.guard.outbox = [(FORGOTTEN, 1)]
    redis.Redis.from_url(REDIS_URL).set(stream, b"not a stream")  # XADD, XREAD: WRONGTYPE
    with pytest.raises(redis.ResponseError):
        exchange.exchange()
    assert exchange.guard.outbox == [(FORGOTTEN, 1)]  # sent again next time
    assert lease.units > held and not lease.refilling  # the refill's reply was its own


def test_a_refill_redis_refuses_leases_nothing_and_is_logged(
    driven: tuple[RedisQuotaStore, RiskExchange],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, exchange = driven
    lease = spent_once(store)
    held = lease.units
    commands = store.commands

    def malformed(refill: redis_quotas.Refill) -> list[tuple[Any, ...]]:
        return [(*command[:-1], b"not a group") for command in commands(refill)]

    monkeypatch.setattr(store, "commands", malformed)
    with caplog.at_level(logging.WARNING, logger="vigie.guard.redis_quotas"):
        exchange.exchange()  # the notes go out; the script refuses the refill
    assert "quota refill refused by Redis" in caplog.text
    assert lease.units == held and not lease.refilling and store._queue == []


def test_the_stores_own_thread_outlives_a_refill_it_cannot_build(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=f"vigie:test:{uuid.uuid4().hex}:")
    request = redis_quotas._request
    calls = []

    def once(leases: list[Lease]) -> Any:
        calls.append(len(leases))
        if len(calls) == 1:
            raise RuntimeError("a bug, say")
        return request(leases)

    monkeypatch.setattr(redis_quotas, "_request", once)
    try:
        with caplog.at_level(logging.ERROR, logger="vigie.guard.redis_quotas"):
            lease = spent_once(store)
            store.settle()
        assert "could not be asked for" in caplog.text
        assert not lease.refilling and store._queue == []  # nothing left waiting for it
        for i in range(3, 7):  # a round trip leasing four ahead, then three spent: low again
            assert store.take(GROUP, MONDAY_9H + i) == 0
        assert lease.units == 1 and store._queue == [lease]
        store.settle()
        assert len(calls) == 2 and lease.units > 1  # the same thread refilled it
    finally:
        store.close()


def test_a_deployments_exchange_drives_its_redis_quotas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sharing, "share_digests", lambda key: None)  # this process's own kept
    keyring = Keyring(data_keys={"d": bytes(32)}, active="d", index_keys=[IndexKey("i", b"k")])
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=f"vigie:test:{uuid.uuid4().hex}:")
    exchange = sharing.for_deployment(keyring, Guard(store, MemoryContainment()), REDIS_URL)
    assert exchange._quotas is store
    alone = sharing.for_deployment(keyring, Guard(MemoryQuotaStore(), MemoryContainment()),
                                   REDIS_URL)  # fmt: skip
    assert alone._quotas is None


# --- the simulated month -----------------------------------------------------------------------


def test_three_processes_that_share_hold_the_targets_and_alone_they_do_not() -> None:
    tiny = Size(800, 30_000, 14, swarm=30, attacks_from_day=3, attack_days=(0, 0, 1, 5, 7))
    exposed = {}
    for share in (True, False):
        sim = Simulation(tiny, seed=3, workers=3, share=share)
        data = report.results(sim, sim.run(), 3)
        assert data["workers"] == 3 and data["shared_risk_state"] is share
        exposed[share] = {s["scenario"]: (s["exposed"], s["met"]) for s in data["scenarios"]}
        if share:
            assert all(met for _, met in exposed[share].values()), exposed[share]
            assert data["honest"]["met"]
    # Each process alone sees a third of a scraper's questions: it gets much further.
    assert exposed[False]["a"][0] > 2 * exposed[True]["a"][0]
    assert not all(met for _, met in exposed[False].values())


def test_a_late_move_never_takes_the_platform_back_a_window_or_a_day() -> None:
    watch = PlatformWatch()
    midnight = 20_000 * 86_400.0
    watch.moved(1, midnight + 5)
    window, day = watch._rate_window, watch._day
    watch.moved(2, midnight - 5)  # a note from another process, a little behind
    assert (watch._rate_window, watch._day, watch._day_count) == (window, day, 2)
    watch.moved(3, midnight - 3_600)  # an hour behind: a clock set back, its own window
    assert (watch._rate_window, watch._day) == (window - 4, day - 1)
