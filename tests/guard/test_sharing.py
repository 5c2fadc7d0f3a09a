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

import pytest
import redis

from tests.guard.helpers import MONDAY_9H, ask, pro, q
from vigie.guard.engine import Decision, Guard
from vigie.guard.features import Caller, Question
from vigie.guard.gcra import MemoryQuotaStore
from vigie.guard.memory import MemoryContainment
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


def test_throttles_slow_downs_and_lifts_travel() -> None:
    first, second = pair()
    caller = pro()
    first.state(caller).throttled(MONDAY_9H)  # as the quota refusals of admit note them
    first.outbox = [(THROTTLED, caller, MONDAY_9H), (THROTTLED, caller, MONDAY_9H + 5)]
    second.replay(first.drain())
    assert second.state(caller).recent_throttles(MONDAY_9H + 60) == 2
    second.replay([(SLOWED, caller, 0, MONDAY_9H + 3_600)])
    slowed = second.state(caller)
    assert (slowed.slowed_at, slowed.slowed_until) == (0, MONDAY_9H + 3_600)
    second.state(caller).origins[10] = 0.0
    second.replay([(FORGOTTEN, caller.account)])
    lifted = second.state(caller)
    assert lifted.slowed_at is None and lifted.throttle_times == []
    assert lifted.origins == {10: 0.0}  # a lift keeps the origins, as in one process


def test_a_slow_down_decided_elsewhere_charges_the_slow_quota_here() -> None:
    _, second = pair()
    caller = pro()
    second.replay([(ORIGIN, caller, 1, 0.0), (SLOWED, caller, 0, MONDAY_9H + 3_600)])
    decisions = [ask(second, caller, q(i), MONDAY_9H + i) for i in range(3)]
    assert decisions[:2] == [Decision.ALLOW, Decision.ALLOW]
    assert decisions[2] is Decision.THROTTLE  # two a minute once slowed down


def test_a_late_note_never_takes_a_day_back() -> None:
    _, second = pair()
    caller = pro()
    tomorrow = MONDAY_9H + 86_400
    assert ask(second, caller, q(1), tomorrow) is Decision.ALLOW
    day = second.state(caller).day
    second.replay([(OBSERVED, caller, q(2), 1, True, MONDAY_9H)])
    st = second.state(caller)
    assert (st.day, st.day_count, st.hour_count) == (day, 2, 2)


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
    decoded = Decoder().decode(encode(events))
    assert decoded == events
    assert isinstance(decoded[0][2], Question)
    with pytest.raises(ValueError):
        Decoder().decode(b'{"c": {}, "e": [[9, 1]]}')
    with pytest.raises(ValueError):
        Decoder().decode(b'{"c": {"7": ["rpps:1", "nurse", "75", null]}, "e": [[0, 7, 1]]}')


# --- through Redis ---------------------------------------------------------------------------


@pytest.fixture
def stream() -> Iterator[str]:
    key = f"vigie:test:risk:{uuid.uuid4().hex}"
    yield key
    redis.Redis.from_url(REDIS_URL).delete(key)


def test_two_processes_exchange_their_notes_through_redis(stream: str) -> None:
    first, second = pair()
    one = RiskExchange.from_url(first, REDIS_URL, key=stream)
    two = RiskExchange.from_url(second, REDIS_URL, key=stream)
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
    assert RiskExchange.from_url(later[0], REDIS_URL, key=stream).exchange() == 4
    assert later[0].state(caller).questions == 3
    after = RiskExchange(later[1], redis.Redis.from_url(REDIS_URL), key=stream,
                         since=time.time() + 1)  # fmt: skip
    assert after.exchange() == 0


def test_the_thread_exchanges_and_a_closing_process_sends_its_last_notes(stream: str) -> None:
    first, second = pair()
    one = RiskExchange.from_url(first, REDIS_URL, key=stream)
    two = RiskExchange.from_url(second, REDIS_URL, key=stream)
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


def test_a_foreign_batch_is_skipped(stream: str, caplog: pytest.LogCaptureFixture) -> None:
    first, second = pair()
    one = RiskExchange.from_url(first, REDIS_URL, key=stream)
    two = RiskExchange.from_url(second, REDIS_URL, key=stream)
    one.exchange(), two.exchange()
    redis.Redis.from_url(REDIS_URL).xadd(stream, {b"p": b"x", b"e": b"not json"})
    ask(first, pro(), q(1), MONDAY_9H)
    one.exchange()
    with caplog.at_level(logging.WARNING, logger="vigie.guard.sharing"):
        assert two.exchange() == 2
    assert "not Vigie's" in caplog.text


def test_a_batch_with_a_wrong_field_is_skipped_whole(
    stream: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = pair()
    one = RiskExchange.from_url(first, REDIS_URL, key=stream)
    # Well formed, but a NIR's order number as text: nothing of it is replayed.
    caller = b'"7": ["rpps:7", "nurse", "75", null]'
    good = b'[0, 7, 1, "75", 0, 5, false, true, 1, true, 1.0]'
    bad = b'[0, 7, 1, "75", 0, "x", false, true, 1, true, 1.0]'
    batch = b'{"c": {' + caller + b'}, "e": [' + good + b", " + bad + b"]}"
    redis.Redis.from_url(REDIS_URL).xadd(stream, {b"p": b"x", b"e": batch})
    ask(first, pro(), q(1), MONDAY_9H)
    one.exchange()
    two = RiskExchange.from_url(second, REDIS_URL, key=stream)
    with caplog.at_level(logging.WARNING, logger="vigie.guard.sharing"):
        assert two.exchange() == 2  # the first origin and the question from the first guard
    assert "not Vigie's" in caplog.text
    assert 7 not in second._accounts


def test_a_batch_that_cannot_be_replayed_is_logged_and_the_thread_goes_on(
    stream: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = pair()
    one = RiskExchange.from_url(first, REDIS_URL, key=stream)
    two = RiskExchange.from_url(second, REDIS_URL, key=stream)
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
    exchange = RiskExchange.from_url(guard, "redis://127.0.0.1:1/0")  # nothing listens there
    guard.outbox = [(FORGOTTEN, 1)]
    with pytest.raises(redis.RedisError):
        exchange.exchange()
    assert exchange.lost == 1
    with caplog.at_level(logging.WARNING, logger="vigie.guard.sharing"):
        exchange.close()  # the last exchange fails quietly, once logged
    assert "Redis unavailable" in caplog.text
    assert ask(guard, pro(), q(1), MONDAY_9H) is Decision.ALLOW


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
