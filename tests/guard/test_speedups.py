"""The C twins (vigie.guard._speedups) against their Python references, on random input: the same
answers and the same states, bit for bit (and the same errors where the input is a question's).
On what only the guard itself builds (a quota's windows, the states' classes) the C side
refuses malformed input cleanly, with nothing half-done. The extension is part of the package:
a build that lost it fails here rather than running the slower Python quietly."""

from __future__ import annotations

import math
import struct
import sys
import threading
import uuid
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import date
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.guard.helpers import MONDAY_9H, new_guard, pro
from vigie.guard import _speedups, engine, features, gcra, redis_quotas, risk, signals
from vigie.guard.baselines import PEER_STEP, initial_peers
from vigie.guard.engine import Guard
from vigie.guard.features import Question
from vigie.guard.gcra import SLACK, take_in_one_pass
from vigie.guard.quotas import checks_for
from vigie.guard.redis_quotas import RedisQuotaStore
from vigie.guard.risk import AccountState, Shares
from vigie.guard.signals import Platform
from vigie.identity.identifiers import Profession


def bits(values: Any) -> list[bytes]:
    """Floats as their bytes: NaN equals NaN, 0.0 differs from -0.0."""
    return [struct.pack("<d", x) for x in values]


def test_the_package_runs_the_c_twins() -> None:
    assert gcra._take_in_one_pass is _speedups.take
    assert risk.learn is _speedups.learn


# --- GCRA: gcra.take_in_one_pass -------------------------------------------------------------

moments = st.one_of(
    st.floats(1.7e9, 1.8e9),
    st.sampled_from([gcra.NEVER, math.inf, math.nan, 0.0, -0.0]),
)
limits = st.sampled_from([(1, 60.0), (6, 60.0), (400, 86_400.0), (6_000, 2_592_000.0), (3, 7.0)])


@settings(max_examples=400, deadline=None)
@given(
    tats=st.lists(moments, min_size=1, max_size=20),
    picks=st.lists(st.tuples(st.integers(0, 19), limits), min_size=1, max_size=20),
    now=st.one_of(st.floats(1.7e9, 1.8e9), st.sampled_from([math.nan, math.inf, -math.inf])),
    behind=st.sampled_from([0.0, 1e-4, 0.5, 30.0]),
)
def test_take_in_c_is_take_in_python(
    tats: list[float], picks: list[tuple[int, tuple[int, float]]], now: float, behind: float
) -> None:
    windows, slots = [], set()
    for slot, (limit, period) in picks:
        slot %= len(tats)
        if slot not in slots:  # one pass: each slot once (gcra's own rule)
            slots.add(slot)
            windows.append((slot, period / limit, period))
    if math.isfinite(now):  # TATs just ahead of now: some windows full to the unit, some not
        tats = [t if not 1.7e9 <= t <= 1.8e9 else now + (t - 1.75e9) / 1e6 - behind for t in tats]
    ahead = tats
    in_python, in_c = array("d", ahead), array("d", ahead)
    expected = take_in_one_pass(in_python, tuple(windows), now, SLACK)
    found = _speedups.take(in_c, tuple(windows), now, SLACK)
    assert bits([found]) == bits([expected])
    assert bits(in_c) == bits(in_python)


def test_take_refuses_with_nothing_charged_and_says_the_longest_wait() -> None:
    now = 1_800_000_000.0
    tats = array("d", [now + 55.0, now + 86_000.0, gcra.NEVER])
    windows = ((2, 10.0, 60.0), (0, 10.0, 60.0), (1, 216.0, 86_400.0))
    assert _speedups.take(tats, windows, now, SLACK) == 5.0  # the minute's, not the day's
    assert list(tats) == [now + 55.0, now + 86_000.0, gcra.NEVER]  # the first put back


@pytest.mark.parametrize(
    ("tats", "windows", "error"),
    [
        ([0.0], ((1, 1.0, 60.0),), IndexError),
        ([0.0], ((-1, 1.0, 60.0),), IndexError),
        ([0.0], ((0, "1", 60.0),), TypeError),
        ([0.0], ((0, 1.0),), TypeError),
        ([0.0], [(0, 1.0, 60.0)], TypeError),
        ([0.0, 0.0], ((0, 1.0, 60.0), (1, None, 60.0)), TypeError),
    ],
)
def test_take_refuses_malformed_windows_and_leaves_nothing_charged(
    tats: list[float], windows: Any, error: type[Exception]
) -> None:
    held = array("d", tats)
    with pytest.raises(error):
        _speedups.take(held, windows, 100.0, SLACK)
    assert list(held) == tats


def test_take_needs_an_array_of_doubles() -> None:
    with pytest.raises(TypeError):
        _speedups.take(array("f", [0.0]), ((0, 1.0, 60.0),), 100.0, SLACK)
    with pytest.raises(TypeError):
        _speedups.take([0.0], ((0, 1.0, 60.0),), 100.0, SLACK)  # type: ignore[arg-type]


def test_take_beyond_the_stack_buffer() -> None:
    now = 1_800_000_000.0
    windows = tuple((i, 1.0, 60.0) for i in range(40))
    in_python, in_c = array("d", [now] * 40), array("d", [now] * 40)
    in_python[39] = in_c[39] = now + 60.0  # the last window refuses: 39 put back
    assert _speedups.take(in_c, windows, now, SLACK) == take_in_one_pass(
        in_python, windows, now, SLACK
    )
    assert bits(in_c) == bits(in_python) == bits([now] * 39 + [now + 60.0])


# --- risk: AccountState.learn ----------------------------------------------------------------


def state_of(st: AccountState) -> dict[str, object]:
    """Every field, the peers' and the views' shares included (floats by their bits)."""
    found: dict[str, object] = {}
    for f in fields(st):
        value = getattr(st, f.name)
        if f.name == "checks":
            continue
        if f.name == "views":
            value = {o: [getattr(v, g.name) for g in fields(Shares)] for o, v in value.items()}
        elif f.name == "peers":
            value = [getattr(value, g.name) for g in fields(value)]
        found[f.name] = repr(value) if not isinstance(value, float) else bits([value])
    return found


@contextmanager
def generation(size: int) -> Iterator[None]:
    """Patients remembered per generation, for a test (both twins read the constant)."""
    old = risk.SEEN_GENERATION
    risk.SEEN_GENERATION = size
    _speedups.bind(
        AccountState, type(pro()), Shares, type(initial_peers()[Profession.nurse]), risk.ALPHA,
        risk.CARDLESS_ALPHA, PEER_STEP, size, risk.LATE,
    )  # fmt: skip
    try:
        yield
    finally:
        risk.SEEN_GENERATION = old
        _speedups.bind(
            AccountState, type(pro()), Shares, type(initial_peers()[Profession.nurse]),
            risk.ALPHA, risk.CARDLESS_ALPHA, PEER_STEP, old, risk.LATE,
        )  # fmt: skip


questions = st.tuples(
    st.integers(0, 40),  # patient: few, so that some come back
    st.sampled_from(["75", "2A", "971", "13"]),
    st.integers(0, 3),  # series
    st.sampled_from([0, 1, 2, 3, 4, 7, 999, 2**70, -(2**70)]),  # order, some far from 3 digits
    st.booleans(),  # cardless
    st.booleans(),  # agree
    st.booleans(),  # positive
    st.sampled_from([0.0, 61.0, 3_000.0, -200.0, -4_000.0, 86_400.0]),  # time step
    st.integers(0, 2),  # origin
)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(questions, min_size=1, max_size=60))
def test_learn_in_c_is_learn_in_python(steps: list[tuple[Any, ...]]) -> None:
    caller = pro(3, Profession.pharmacist, "75", structure=9)
    peers_py, peers_c = initial_peers(), initial_peers()
    in_python = AccountState.fresh(caller, peers_py[caller.profession])
    in_c = AccountState.fresh(caller, peers_c[caller.profession])
    now = MONDAY_9H
    with generation(7):  # a small generation: the sets roll over too
        for patient, dep, series, order, cardless, agree, positive, step, origin in steps:
            now += step
            question = Question(patient, dep, series, order, cardless, agree)
            expected = AccountState.learn(
                in_python, question, positive, now, in_python.peers,
                in_python.view(origin, in_python.peers),
            )  # fmt: skip
            found = _speedups.learn(
                in_c, question, positive, now, in_c.peers, in_c.view(origin, in_c.peers)
            )
            assert found is expected
            assert state_of(in_c) == state_of(in_python)


def test_learn_refuses_what_is_not_an_account_state() -> None:
    caller = pro()
    peers = initial_peers()[caller.profession]
    account = AccountState.fresh(caller, peers)
    question = Question(1, "75", 1, 1, False, True)
    view = account.view(1, peers)
    with pytest.raises(TypeError):
        _speedups.learn(object(), question, True, MONDAY_9H, peers, view)
    with pytest.raises(TypeError):
        _speedups.learn(account, (1, "75"), True, MONDAY_9H, peers, view)
    with pytest.raises(TypeError):
        _speedups.learn(account, question, True, MONDAY_9H, view, peers)
    assert account.questions == 0


def test_bind_refuses_a_class_without_the_slots() -> None:
    class Plain:
        pass

    with pytest.raises(AttributeError):
        _speedups.bind(Plain, Plain, Plain, Plain, 0.1, 0.2, 0.1, 10, 300.0)
    assert risk.learn is _speedups.learn  # still bound to the real classes
    caller = pro()
    peers = initial_peers()[caller.profession]
    account = AccountState.fresh(caller, peers)
    assert not _speedups.learn(
        account, Question(1, "75", 1, 1, False, True), True, MONDAY_9H, peers,
        account.view(1, peers),
    )  # fmt: skip
    assert account.questions == 1


# --- features: question ----------------------------------------------------------------------


@contextmanager
def digests(key: bytes | None) -> Iterator[None]:
    """The process's digests keyed by ``key`` (None: Python's hash), then as they were."""
    saved = features._KEYED, features._HASH_KEY_RANDOM
    try:
        if key is not None:
            features.share_digests(key)
        yield
    finally:
        features._KEYED, features._HASH_KEY_RANDOM = saved
        features._bind_question()


nirs = st.one_of(
    st.from_regex(r"[12][0-9]{4}(2A|2B|97|98|[0-9]{2})[0-9]{6}([0-9]{2})?", fullmatch=True),
    st.text(alphabet="0123456789AB²٣ ", max_size=16),  # short, odd, Unicode digits
    st.sampled_from(["1850197", "1850198", "185019", "", "1" * 64, "1" * 65]),  # at the edges
)


@pytest.mark.parametrize("key", [None, b"deployment-key"])
@settings(max_examples=300, deadline=None)
@given(
    nir=nirs,
    born=st.dates(),
    # Within 64 bits (the C writes them itself), at their edges, beyond (the general path).
    rank=st.one_of(st.integers(1, 999), st.integers(-2, 0), st.integers(2**63 - 2, 2**64)),
    account=st.one_of(
        st.integers(-(2**40), 2**40),
        st.sampled_from([-(2**63), 2**63 - 1, 2**63, True]),
        st.integers(-(2**70), 2**70),
    ),
    cardless=st.booleans(),
    agree=st.booleans(),
)
def test_question_in_c_is_question_in_python(
    key: bytes | None, nir: str, born: date, rank: int, account: int, cardless: bool, agree: bool
) -> None:
    with digests(key):
        try:
            expected: Question | type[Exception] = features.question(
                nir, born, rank, account=account, cardless=cardless, agree=agree
            )
        except ValueError as error:  # int() of a Unicode digit that is not decimal ('²')
            expected = type(error)
        try:
            found: Question | type[Exception] = _speedups.question(
                nir, born, rank, account=account, cardless=cardless, agree=agree
            )
        except ValueError as error:
            found = type(error)
    assert found == expected
    assert type(found) is type(expected)
    assert hash(found) == hash(expected)


def test_the_gate_builds_its_questions_in_c() -> None:
    assert features.question_of is _speedups.question
    with pytest.raises(TypeError):
        _speedups.question("1850175123456", date(1985, 1, 1), 1, account=1, cardless=False)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _speedups.question(None, date(1985, 1, 1), 1, account=1, cardless=False, agree=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("moment", [math.nan, math.inf, -math.inf])
def test_learn_at_an_impossible_moment_fails_as_python_does(moment: float) -> None:
    caller = pro()
    errors = []
    for learn in (AccountState.learn, _speedups.learn):
        peers = initial_peers()[caller.profession]
        account = AccountState.fresh(caller, peers)
        with pytest.raises((ValueError, OverflowError)) as raised:
            learn(account, Question(1, "75", 1, 1, False, True), True, moment, peers,
                  account.view(1, peers))  # fmt: skip
        errors.append((raised.type, account.questions))
    assert errors[0] == errors[1]


# --- signals: quiet ----------------------------------------------------------------------------

# A fresh account (no signal) with a few of its fields moved: each to a value at, just over or
# just under one of assess()'s thresholds, or anywhere; a threshold relative to the peers' is
# met from the peers' value. Most examples leave a single signal in question.
EDGE = [0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.8, 0.95, 1.0, 12.0, 15.0, 20.0]
edges = st.builds(
    lambda x, nudge: x + nudge, st.sampled_from(EDGE), st.sampled_from([0.0, 1e-9, -1e-9])
)
anything = st.one_of(edges, st.floats(0.0, 500.0), st.sampled_from([math.nan, math.inf]))
whole = st.one_of(
    st.sampled_from([0, 2, 12, 13, 14, 15, 19, 20, 21, 2**50 + 1]), st.integers(0, 500)
)
SHARES = ("negative", "far", "unseen", "stranger", "sequence", "off", "cardless")
RELATIVE = {"far": "far", "stranger": "stranger", "off": "off_hours"}  # view field: peers'
knobs = st.one_of(
    st.tuples(st.just("view"), st.sampled_from(SHARES), anything),
    st.tuples(st.just("over peers"), st.sampled_from(sorted(RELATIVE)), edges),
    st.tuples(st.just("view"), st.just("questions"), whole),
    st.tuples(
        st.just("peers"), st.sampled_from(["daily", "far", "stranger", "off_hours"]), anything
    ),
    st.tuples(st.just("peers"), st.just("daily"), whole),
    st.tuples(st.just("account"), st.sampled_from(["baseline", "orphans"]), anything),
    st.tuples(st.just("account"), st.just("baseline"), whole),
    st.tuples(st.just("account"), st.sampled_from(["hour_count", "day_count"]), whole),
    st.tuples(
        st.just("throttles"),
        st.just(""),
        st.lists(st.sampled_from([0.0, -599.0, -600.0, -601.0]), max_size=4),
    ),
    st.tuples(
        st.just("origins"),
        st.just(""),
        st.lists(st.sampled_from([0.0, -86_399.0, -86_400.0, -90_000.0]), max_size=3),
    ),
    st.tuples(st.just("platform"), st.just(""), st.tuples(st.integers(1, 8), st.booleans())),
)


def quiet_as_assess(moves: list[tuple[str, str, Any]]) -> None:
    """A fresh account with ``moves`` applied: quiet() in C says what assess() finds."""
    now = MONDAY_9H
    caller = pro()
    peers = initial_peers()[caller.profession]
    account = AccountState.fresh(caller, peers)
    view = account.view(1, peers)
    platform = signals.QUIET
    for where, name, value in moves:
        if where == "view":
            setattr(view, name, value)
        elif where == "over peers":
            setattr(view, name, getattr(peers, RELATIVE[name]) + value)
        elif where == "peers":
            setattr(peers, name, value)
        elif where == "account":
            setattr(account, name, value)
        elif where == "throttles":
            account.throttle_times = [now + t for t in value]
        elif where == "origins":
            account.origins = {i: now + t if t else 0.0 for i, t in enumerate(value)}
        else:
            platform = Platform(value[0], burst=value[1])
    numbers = (view.questions, peers.daily, account.baseline, account.hour_count, account.day_count)
    plain = all(type(x) is not int or x <= 2**50 for x in numbers)  # what quiet() reads itself
    expected = plain and signals.no_signal(account, view, peers, platform, now)
    assert _speedups.quiet(account, view, peers, platform, now) is expected, moves


EDGES = [x + nudge for x in EDGE for nudge in (0.0, 1e-9, -1e-9)] + [math.nan, math.inf]
WHOLE = [0, 2, 5, 12, 13, 14, 15, 19, 20, 21, 26, 27, 60, 180, 181, 240, 241, 2**50 + 1]


def test_quiet_in_c_meets_each_threshold_where_assess_does() -> None:
    """One field at a time, at, just over and just under every threshold."""
    for name in SHARES:
        for value in EDGES:
            quiet_as_assess([("view", name, value)])
    for name in RELATIVE:
        for value in EDGES:
            quiet_as_assess([("over peers", name, value)])
    for value in WHOLE:
        quiet_as_assess([("view", "questions", value), ("view", "unseen", 0.96)])
        quiet_as_assess([("account", "hour_count", value)])
        quiet_as_assess([("account", "day_count", value)])
        quiet_as_assess([("account", "day_count", value), ("account", "baseline", 6.0)])
        quiet_as_assess([("account", "hour_count", value), ("account", "baseline", 0.5)])
        quiet_as_assess([("account", "day_count", 241), ("peers", "daily", value)])
        quiet_as_assess([("account", "day_count", value), ("peers", "daily", 1.0)])
        quiet_as_assess([("account", "day_count", 61), ("account", "baseline", value)])
    for value in EDGES:
        quiet_as_assess([("account", "orphans", value)])
        quiet_as_assess([("account", "day_count", 61), ("account", "baseline", value * 20)])
        quiet_as_assess([("peers", "stranger", value), ("view", "stranger", 0.8 + 1e-9)])
    for shared in range(1, 9):
        for burst in (False, True):
            quiet_as_assess([("platform", "", (shared, burst))])
    for times in ([0.0], [0.0, -599.0], [0.0, -600.0], [-601.0, -599.0, 0.0]):
        quiet_as_assess([("throttles", "", times)])
    for origins in ([0.0], [0.0, -86_399.0], [0.0, -86_400.0], [-90_000.0, 0.0, -86_401.0]):
        quiet_as_assess([("origins", "", origins)])


@settings(max_examples=1_000, deadline=None)
@given(moves=st.lists(knobs, max_size=3))
def test_quiet_in_c_is_assess_finding_nothing(moves: list[tuple[str, str, Any]]) -> None:
    """Several fields at once, anywhere."""
    quiet_as_assess(moves)


def test_quiet_leaves_what_it_cannot_read_plainly_to_assess() -> None:
    caller = pro()
    group = initial_peers()[caller.profession]
    account = AccountState.fresh(caller, group)
    view = account.view(1, group)
    assert _speedups.quiet(account, view, group, signals.QUIET, MONDAY_9H) is True
    account.hour_count = True  # a bool where an int is kept: assess() judges, not quiet()
    assert _speedups.quiet(account, view, group, signals.QUIET, MONDAY_9H) is False
    account.hour_count = 0
    account.throttle_times = [MONDAY_9H, 1]  # an int among the floats
    assert _speedups.quiet(account, view, group, signals.QUIET, MONDAY_9H) is False
    with pytest.raises(TypeError):
        _speedups.quiet(account, group, view, signals.QUIET, MONDAY_9H)
    assert signals.quiet is _speedups.quiet


# --- features: first_header --------------------------------------------------------------------

header_names = st.sampled_from(
    [b"user-agent", b"User-Agent", b"user-agen", b"host", b"", "user-agent"]
)


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(
        st.tuples(header_names, st.binary(max_size=8)).flatmap(
            lambda pair: st.sampled_from([pair, list(pair)])  # ASGI servers give either
        ),
        max_size=10,
    ),
    as_tuple=st.booleans(),
)
def test_first_header_in_c_is_first_header_in_python(headers: list[Any], as_tuple: bool) -> None:
    given_headers = tuple(headers) if as_tuple else headers
    expected = features.first_header(given_headers, b"user-agent")
    found = _speedups.first_header(given_headers, b"user-agent")
    assert found is expected  # the same object: the first pair's value, or None


@pytest.mark.parametrize(
    "headers", [None, [(b"user-agent",)], [b"user-agent"], [(b"a", b"b", b"c")]]
)
def test_first_header_refuses_what_is_not_a_list_of_pairs(headers: Any) -> None:
    with pytest.raises(TypeError):
        _speedups.first_header(headers, b"user-agent")
    with pytest.raises(TypeError):
        _speedups.first_header([], "user-agent")  # type: ignore[arg-type]


def test_the_gate_reads_the_user_agent_in_c() -> None:
    assert features.header_of is _speedups.first_header


# --- engine: the usual question (admit_usual, observe_usual) -----------------------------------

CALLERS = (
    pro(1, Profession.pharmacist, "75", structure=9),
    pro(2, Profession.pharmacist, "75", structure=9),  # the same pharmacy: one group
    pro(3, Profession.nurse, "13"),
    pro(4, Profession.audiologist, "2A"),
)
turns = st.tuples(
    st.integers(0, len(CALLERS) - 1),
    st.integers(0, 30),  # patient
    st.sampled_from(["75", "13", "2A", "971"]),
    st.integers(0, 3),  # series
    st.sampled_from([0, 1, 2, 4, 500]),  # order
    st.booleans(),  # cardless
    st.booleans(),  # agree
    st.sampled_from([True, True, True, False]),  # positive
    st.sampled_from([1, 1, 1, 2, 3]),  # origin: mostly the account's first
    st.sampled_from([0.0, 1.0, 5.0, 30.0, 61.0, 600.0, 3_601.0, 86_400.0]),  # time step
    st.booleans(),  # stepped up just now
)


def guard_state(guard: Guard) -> dict[str, object]:
    """Everything a question can change: accounts, peers, the platform's watch, the quotas."""
    store = guard.quotas
    assert isinstance(store, gcra.MemoryQuotaStore)
    return {
        "accounts": {a: state_of(s) for a, s in guard._accounts.items()},
        "peers": {p.value: repr(x) for p, x in guard.peers.items()},
        "platform": repr(vars(guard.platform)),
        "quotas": {key: bits([store._tat[slot]]) for key, slot in store._slots.items()},
        "outbox": repr(guard.outbox),
    }


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(turns, min_size=1, max_size=80), shared=st.booleans())
def test_the_usual_question_in_c_is_the_guard_in_python(
    steps: list[tuple[Any, ...]], shared: bool
) -> None:
    """Two guards, one with the C paths and one without, asked the same questions: the same
    verdicts after each, the same state after all (with the notes for other processes too)."""
    guards = []
    for in_c in (True, False):
        guard, _ = new_guard()
        guard.in_c = in_c
        if shared:
            guard.outbox = []
        guards.append(guard)
    now = MONDAY_9H
    for who, patient, dep, series, order, cardless, agree, positive, origin, step, up in steps:
        now += step
        caller, question = CALLERS[who], Question(patient, dep, series, order, cardless, agree)
        verdicts = []
        for guard in guards:
            verdict = guard.admit(caller, question, origin, now if up else None, now)
            if not verdict.refused:
                verdict = guard.observe(caller, question, origin, positive, now)
            verdicts.append(verdict)
        assert verdicts[0] == verdicts[1]
    assert guard_state(guards[0]) == guard_state(guards[1])


def test_the_usual_question_takes_the_c_paths() -> None:
    guard, _ = new_guard()
    caller, question = CALLERS[0], Question(1, "75", 1, 1, False, True)
    assert not engine.admit_usual(guard, caller, question, 1, MONDAY_9H)  # unknown: Python's
    assert engine.observe_usual(guard, caller, question, 1, True, MONDAY_9H) is None
    assert guard.admit(caller, question, 1, None, MONDAY_9H) is engine.ALLOW
    assert guard.observe(caller, question, 1, True, MONDAY_9H) is engine.ALLOW
    later = MONDAY_9H + 60
    assert engine.admit_usual(guard, caller, question, 1, later) is True
    assert engine.observe_usual(guard, caller, question, 1, True, later) is engine.ALLOW
    assert guard.state(caller).questions == 2


def test_the_c_paths_leave_a_question_to_python_while_the_lock_is_held() -> None:
    guard, _ = new_guard()
    caller, question = CALLERS[0], Question(1, "75", 1, 1, False, True)
    guard.admit(caller, question, 1, None, MONDAY_9H)
    guard.observe(caller, question, 1, True, MONDAY_9H)
    with guard._lock:  # another thread replaying the others' notes, say
        assert not engine.admit_usual(guard, caller, question, 1, MONDAY_9H + 60)
        assert engine.observe_usual(guard, caller, question, 1, True, MONDAY_9H + 60) is None
    assert guard.state(caller).questions == 1  # nothing done meanwhile
    assert not guard._lock.locked()


def test_a_watched_wave_goes_to_the_python_facts() -> None:
    results: list[tuple[object, ...]] = []
    for in_c in (True, False):
        guard, _ = new_guard()
        guard.in_c = in_c
        caller, question = CALLERS[0], Question(1, "75", 1, 1, False, True)
        guard.admit(caller, question, 1, None, MONDAY_9H)
        guard.observe(caller, question, 1, True, MONDAY_9H)
        guard.platform.burst_until = MONDAY_9H + 3_600
        guard.platform.cohort = {caller.account}
        for i in range(30):  # strangers in a wave: the cohort's pool moves, signals fire
            far = Question(100 + i, "971", 7, 1, False, True)
            now = MONDAY_9H + 60 * (i + 1)
            verdict = guard.admit(caller, far, 1, None, now)
            if not verdict.refused:
                verdict = guard.observe(caller, far, 1, True, now)
            results.append((in_c, i, verdict))
        results.append((in_c, "state", repr(guard_state(guard))))
    half = len(results) // 2
    assert [r[1:] for r in results[:half]] == [r[1:] for r in results[half:]]
    assert guard.platform.cohort_strangers != 0.3  # the pool did move


def test_the_c_paths_refuse_what_is_not_a_guards_question() -> None:
    guard, _ = new_guard()
    caller, question = CALLERS[0], Question(1, "75", 1, 1, False, True)
    with pytest.raises(TypeError):
        engine.admit_usual(object(), caller, question, 1, MONDAY_9H)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _speedups.admit_usual(guard, caller, question, 1)  # type: ignore[call-arg]
    guard.admit(caller, question, 1, None, MONDAY_9H)
    guard.observe(caller, question, 1, True, MONDAY_9H)
    later = MONDAY_9H + 60
    # What they do not read plainly is the Python's, with nothing done.
    assert engine.observe_usual(guard, caller, (1, "75"), 1, True, later) is None  # type: ignore[arg-type]
    assert engine.admit_usual(guard, caller, question, True, later) is False  # a bool origin
    odd = pro(1, Profession.pharmacist, "75", structure=True)
    assert engine.observe_usual(guard, odd, question, 1, True, later) is None
    assert guard.state(caller).questions == 1
    assert engine.admit_usual(guard, caller, question, 1, later) is True


# --- redis_quotas: RedisQuotaStore._spend_in_hand -----------------------------------------------


class Counted(threading.Condition):
    """A condition that counts its notify_all calls (the refill thread's wake-ups)."""

    def __init__(self) -> None:
        super().__init__()
        self.woken = 0

    def notify_all(self) -> None:
        self.woken += 1
        super().notify_all()


def lease_store() -> RedisQuotaStore:
    """A store whose usual case needs no Redis (nothing here connects) and no refill thread."""
    store = RedisQuotaStore(redis.Redis(), prefix="vigie:test:spend:")
    store._changed = Counted()
    store._closed = True  # its refill thread, started with the first lease, stops at once
    return store


def leases_state(store: RedisQuotaStore) -> list[object]:
    found: list[object] = [
        repr((x.windows, x.units, x.size, bits([x.last, x.expires]), x.refilling))
        for x in store._leases.values()
    ]
    woken = store._changed.woken if isinstance(store._changed, Counted) else None
    return [*found, repr([x.windows for x in store._queue]), bits([store._latest]), woken]


lease_fields = st.tuples(
    st.integers(0, 3),  # units
    st.sampled_from([-1.0, 0.0, 1e-9, 30.0, math.nan]),  # expires, from now
    st.integers(0, 4),  # size
    st.sampled_from([0.0, -30.0, -59.999, -60.0, -61.0, -math.inf]),  # last, from now
    st.booleans(),  # refilling
)


@settings(max_examples=300, deadline=None)
@given(
    profession=st.sampled_from([Profession.pharmacist, Profession.nurse, Profession.hospital]),
    structure=st.sampled_from([None, 7]),
    cardless=st.booleans(),
    slowed=st.booleans(),
    groups=st.lists(lease_fields, min_size=3, max_size=3),
    idle=st.booleans(),
    behind=st.booleans(),
)
def test_spend_in_hand_in_c_is_spend_in_hand_in_python(
    profession: Profession, structure: int | None, cardless: bool, slowed: bool,
    groups: list[tuple[Any, ...]], idle: bool, behind: bool,
) -> None:  # fmt: skip
    now = MONDAY_9H
    stores, checks = [], []
    for _ in range(2):
        store = lease_store()
        found = checks_for(profession, 3, structure, cardless=cardless, slowed=slowed)
        leases = store._leases_of(found, now - 5)
        if store._worker is not None:  # stopped (closed): nothing of it runs meanwhile
            store._worker.join(5)
        for lease, (units, expires, size, last, refilling) in zip(leases, groups, strict=False):
            lease.units, lease.expires, lease.size = units, now + expires, size
            lease.last, lease.refilling = now + last, refilling
        store._idle = idle
        if behind:
            store._latest = now + 1  # a question seen later than this one
        stores.append(store)
        checks.append(found)
    spent = _speedups.spend_in_hand(stores[0], checks[0], now)
    if not spent:  # the take goes on in Python: its lookup notes the moment, as it would have
        with stores[0]._changed:
            stores[0]._leases_of(checks[0], now)
    with stores[1]._changed:
        expected = stores[1]._spend_in_hand(stores[1]._leases_of(checks[1], now), now)
    assert spent is expected
    assert leases_state(stores[0]) == leases_state(stores[1])


def test_spend_in_hand_leaves_a_stale_note_to_python() -> None:
    store = lease_store()
    found = checks_for(Profession.pharmacist, 3, None, cardless=False, slowed=False)
    for lease in store._leases_of(found, MONDAY_9H):
        lease.units, lease.expires = 2, MONDAY_9H + 60
    store._generation += 1  # a lease forgotten meanwhile: every note is looked up again
    assert _speedups.spend_in_hand(store, found, MONDAY_9H) is False
    assert [lease.units for lease in store._leases.values()] == [2]
    with pytest.raises(TypeError):
        _speedups.spend_in_hand(store, list(found), MONDAY_9H)  # not a Checks: no note


refill_fields = st.tuples(
    st.integers(0, 6),  # units
    st.integers(0, 8),  # size
    st.sampled_from([0.0, -1.5, 1e-9, 12.25]),  # last, from now
    st.integers(0, 7),  # units leased back
)


@settings(max_examples=200, deadline=None)
@given(groups=st.lists(refill_fields, min_size=0, max_size=6), cardless=st.booleans())
def test_refills_in_c_are_refills_in_python(
    groups: list[tuple[int, int, float, int]], cardless: bool
) -> None:
    now, stores = MONDAY_9H, []
    for _ in range(2):
        store = lease_store()
        leases = []
        for i in range(len(groups)):  # two or three groups each (the slowed have three)
            found = checks_for(
                Profession.hospital, i, 100 + i, cardless=cardless, slowed=i % 2 == 1
            )
            leases.extend(store._leases_of(found, now))
        for j, lease in enumerate(leases):
            units, size, last, _ = groups[j % len(groups)]
            lease.units, lease.size, lease.last = units, size, now + last
        stores.append((store, leases))
    (c_store, c_leases), (py_store, py_leases) = stores
    request = _speedups.refill_request(c_leases)
    assert request is not None
    assert request == redis_quotas.refill_request(py_leases)
    keys, blob = request
    assert keys == [lease.key for lease in c_leases]
    leased = [groups[j % len(groups)][3] for j in range(len(c_leases))]
    for lease in c_leases + py_leases:
        lease.last += 30  # asked again meanwhile: the expiry follows the ask's moment
    _speedups.credit_refills(c_leases, blob, leased)
    redis_quotas.credit_refills(py_leases, blob, leased)
    assert leases_state(c_store) == leases_state(py_store)
    for j, lease in enumerate(c_leases):
        held, _, _, units = groups[j % len(groups)]
        assert lease.units == held + units
        if units:
            assert lease.expires == lease.last - 30 + redis_quotas.LEASE_SECONDS


def test_refills_leave_fields_they_do_not_read_plainly_to_python() -> None:
    store = lease_store()
    found = checks_for(Profession.pharmacist, 3, None, cardless=False, slowed=False)
    (lease,) = store._leases_of(found, MONDAY_9H)
    lease.size = 2
    request = _speedups.refill_request([lease])
    assert request is not None
    keys, blob = request
    head = struct.unpack_from("<ddddd", blob)
    assert keys == [lease.key] and len(blob) == 40 + 48
    assert head == (3.0, float("-inf"), 0.0, 1.0, 0.0)  # min(size, cap - units): the cap, 1
    lease.units = True
    assert _speedups.refill_request([lease]) is None
    lease.units = 0
    lease.spec = lease.spec[:-1]
    assert _speedups.refill_request([lease]) is None
    lease.spec += b"\x00"
    for credit in (_speedups.credit_refills, redis_quotas.credit_refills):
        for bad_blob, counts in (
            (blob, [1, 1]),
            (blob + b"\x00", [1]),
            (blob, [-1]),
            (blob, ["1"]),
        ):
            with pytest.raises(ValueError):  # counts or a blob that are not these leases'
                credit([lease], bad_blob, counts)  # type: ignore[arg-type]
    assert lease.units == 0  # nothing credited by a call that failed
    lease.units = True
    with pytest.raises(TypeError):  # not read plainly: the Python twin credits it (_credit)
        _speedups.credit_refills([lease], blob, [1])
    redis_quotas._credit([lease], blob, [1])
    assert lease.units == 2
    lease.units, lease.last, lease.cap = 0, 2**60, -1  # fields the credit does not read
    _speedups.credit_refills([lease], blob, [1])
    assert (lease.units, lease.expires) == (1, float("-inf"))


def test_the_c_paths_release_the_lock_on_an_error() -> None:
    guard, _ = new_guard()
    caller, question = CALLERS[0], Question(1, "75", 1, 1, False, True)
    guard.admit(caller, question, 1, None, MONDAY_9H)
    guard.observe(caller, question, 1, True, MONDAY_9H)
    guard.outbox = 5  # type: ignore[assignment]  # no list: the note cannot be appended
    with pytest.raises(AttributeError):
        engine.observe_usual(guard, caller, question, 1, True, MONDAY_9H + 60)
    assert not guard._lock.locked()
    with guard.quotas._lock:  # type: ignore[attr-defined]  # a sweep in another thread, say
        assert engine.admit_usual(guard, caller, question, 1, MONDAY_9H + 60) is False
    assert not guard._lock.locked()


REDIS_URL = "redis://127.0.0.1:6379/0"


def test_the_c_paths_spend_units_leased_from_redis() -> None:
    store = RedisQuotaStore.from_url(REDIS_URL, prefix=f"vigie:test:{uuid.uuid4().hex}:")
    guard, _ = new_guard()
    guard.quotas = store
    caller, question = CALLERS[2], Question(1, "13", 1, 1, False, True)
    try:
        now = MONDAY_9H
        for _ in range(3):  # a round trip, then units leased ahead by the refill thread
            assert guard.admit(caller, question, 1, None, now) is engine.ALLOW
            guard.observe(caller, question, 1, True, now)
            store.settle()
            now += 20
        (lease,) = store._leases.values()
        assert lease.units >= 1
        held = lease.units
        assert engine.admit_usual(guard, caller, question, 1, now) is True
        assert lease.units == held - 1
        store.settle()
        held = lease.units
        assert held >= 1  # refilled
        taken, done = threading.Event(), threading.Event()

        def refilling() -> None:  # another thread in the store (its refills), for a while
            with store._changed:
                taken.set()
                done.wait(5)

        other = threading.Thread(target=refilling)
        other.start()
        taken.wait(5)
        try:  # the store's condition held elsewhere: the Python's (which waits for it)
            assert engine.admit_usual(guard, caller, question, 1, now + 1) is False
        finally:
            done.set()
            other.join(5)
        assert lease.units == held
        assert not guard._lock.locked()
    finally:
        store.close()


def test_the_usual_question_leaves_no_object_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reference counts: the C paths some twenty thousand times leave the interpreter's blocks
    flat (each of 200 pharmacists asking every 200 s: no quota refuses, no signal fires)."""
    guard, containment = new_guard()
    callers = [pro(i, Profession.pharmacist, "75", structure=i // 3) for i in range(200)]
    now = MONDAY_9H
    usual = [0]

    def counted(*args: Any) -> bool:
        admitted = _speedups.admit_usual(*args)
        usual[0] += admitted
        return admitted

    monkeypatch.setattr(engine, "admit_usual", counted)

    def ask(i: int) -> None:
        nonlocal now
        now += 1.0
        caller = callers[i % 200]
        question = Question(i // 200 % 20, "75", 1, i % 50, False, bool(i % 2))
        if not guard.admit(caller, question, 1, None, now).refused:
            guard.observe(caller, question, 1, i % 9 != 0, now)
        _speedups.first_header([(b"host", b"x"), [b"user-agent", b"y"]], b"user-agent")

    for i in range(2_000):  # warm: every account known, every patient seen
        ask(i)
    before, usual[0] = sys.getallocatedblocks(), 0
    for i in range(20_000):
        ask(i)
    assert sys.getallocatedblocks() - before < 2_000  # a leak a question would be 20,000
    # On the C paths but after each hourly sweep of the quotas (each account once: Python).
    assert usual[0] >= 18_000 and not containment.suspended


# --- features: siphash24 (the digests shared between processes) --------------------------------

# The reference vectors of SipHash-2-4's paper (key 00..0f, message 00..n-1), as 64-bit ints.
VECTORS = {0: 0x726FDB47DD0E0E31, 7: 0xAB0200F58B01D137, 15: 0xA129CA6149BE45E5,
           63: 0x958A324CEB064572}  # fmt: skip


@pytest.mark.parametrize(("length", "expected"), sorted(VECTORS.items()))
def test_siphash_meets_the_reference_vectors(length: int, expected: int) -> None:
    key, data = bytes(range(16)), bytes(range(length))
    assert features.siphash24(key, data) == _speedups.siphash24(key, data) == expected


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), data=st.binary(max_size=80))
def test_siphash_in_c_is_siphash_in_python(key: bytes, data: bytes) -> None:
    assert _speedups.siphash24(key, data) == features.siphash24(key, data)


def test_the_digests_key_is_sixteen_bytes() -> None:
    with pytest.raises(TypeError):
        _speedups.siphash24(b"short", b"")
    with pytest.raises(TypeError):
        _speedups.bind_question(Question, b"salt", b"not sixteen")
