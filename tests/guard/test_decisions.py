"""Each signal and each decision, through the same Guard the API uses."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.guard.helpers import MONDAY_9H, ask, new_guard, pro, q
from vigie.guard.baselines import GROWTH_CAP, next_baseline
from vigie.guard.engine import Alert, Decision, Guard
from vigie.guard.features import Caller
from vigie.guard.gcra import MemoryQuotaStore, WouldWait
from vigie.guard.memory import MemoryContainment
from vigie.guard.quotas import CARDLESS, Check
from vigie.guard.signals import SHARED_ORIGIN, SUSPEND_AT, Platform, assess
from vigie.identity.identifiers import Profession


def fired_names(alerts: list[Alert]) -> set[str]:
    return {s.name for alert in alerts for s in alert.signals}


def firing(guard: Guard, caller: Caller, now: float, origin: int = 1) -> list[str]:
    """The signals an account's next question from ``origin`` would meet."""
    state = guard.state(caller)
    peers = guard.peers[caller.profession]
    return [s.name for s in assess(state, state.view(origin, peers), peers, Platform(), now)]


def test_honest_pharmacy_with_local_repeat_patients_is_never_refused() -> None:
    guard, containment = new_guard()
    caller, decisions = pro(), []
    for day in range(10):
        for i in range(60):
            now = MONDAY_9H + day * 86_400 + i * 540  # one every 9 minutes, 9h-18h
            patient = (day * 37 + i * 11) % 400  # 400 regular patients
            dept = "75" if patient % 3 else "93"
            decisions.append(ask(guard, caller, q(patient, dept), now, positive=patient % 29 != 0))
    assert set(decisions) == {Decision.ALLOW}
    assert containment.alerts == []


def test_a_scraper_is_throttled_then_suspended_within_20_answers() -> None:
    guard, containment = new_guard()
    caller, answered = pro(), 0
    for i in range(10_000):
        decision = ask(guard, caller, q(10_000 + i, str(1 + i % 90).zfill(2)), MONDAY_9H + i * 0.2)
        answered += decision is Decision.ALLOW
        if decision is Decision.SUSPEND:
            break
    assert decision is Decision.SUSPEND
    assert answered <= 20
    assert {"rafale", "etrangers"} <= fired_names(containment.alerts)
    assert ask(guard, caller, q(1), MONDAY_9H + 86_400) is Decision.SUSPEND  # it stays


def test_guessing_negative_answers_and_sequential_nirs_are_suspended() -> None:
    guard, containment = new_guard()
    caller = pro(profession=Profession.nurse)
    for i in range(40):
        decision = ask(
            guard, caller, q(i, series=7, order=100 + i), MONDAY_9H + i * 120, positive=False
        )
        if decision is Decision.SUSPEND:
            break
    assert decision is Decision.SUSPEND
    assert {"negatifs", "sequence"} <= fired_names(containment.alerts)


def test_cardless_questions_have_their_own_tight_budget() -> None:
    guard, containment = new_guard()
    caller = pro(profession=Profession.pharmacist)
    allowed = CARDLESS[Profession.pharmacist].day
    decisions = [
        ask(guard, caller, q(i, cardless=True), MONDAY_9H + i * 1_200) for i in range(allowed + 2)
    ]
    assert decisions == [Decision.ALLOW] * allowed + [Decision.THROTTLE] * 2
    assert containment.alerts == []
    later = MONDAY_9H + 10 * 1_200  # the refusals are past ten minutes
    assert firing(guard, caller, later) == ["sans_carte"]  # weighs, contains nobody alone
    # Full-card questions are not charged to the card-less budget.
    assert ask(guard, caller, q(99), MONDAY_9H + 9 * 1_200) is Decision.ALLOW


def test_a_new_origin_needs_a_step_up_then_counts_as_new_for_a_day() -> None:
    guard, _ = new_guard()
    caller = pro()
    assert ask(guard, caller, q(1), MONDAY_9H, origin=1) is Decision.ALLOW
    assert ask(guard, caller, q(2), MONDAY_9H + 60, origin=2) is Decision.STEP_UP
    assert ask(guard, caller, q(2), MONDAY_9H + 70, origin=2, stepped_up_at=MONDAY_9H) is (
        Decision.STEP_UP  # re-authenticated before the new origin appeared: not enough
    )
    after = MONDAY_9H + 80
    assert ask(guard, caller, q(2), after, origin=2, stepped_up_at=after) is Decision.ALLOW
    assert guard.state(caller).new_origin(after + 3_600)
    assert not guard.state(caller).new_origin(after + 86_401)


def test_accounts_of_many_structures_on_one_origin_are_flagged() -> None:
    guard, _ = new_guard()
    for account in range(1, SHARED_ORIGIN + 1):
        ask(guard, pro(account, structure=account), q(account), MONDAY_9H, origin=42)
    caller = pro(1, structure=1)
    facts = guard._platform(caller, 42, MONDAY_9H)
    assert facts.accounts_on_origin == SHARED_ORIGIN
    state = guard.state(caller)
    view = state.view(42, guard.peers[caller.profession])
    fired = assess(state, view, guard.peers[caller.profession], facts, MONDAY_9H)
    assert [s.name for s in fired] == ["origine_partagee"]
    # Colleagues of one structure behind one address are one group; and context alone
    # neither slows nor suspends.
    guard2, containment = new_guard()
    for account in range(1, 10):
        ask(guard2, pro(account, structure=9), q(account), MONDAY_9H, origin=42)
    assert len(guard2.platform._origins[42]) == 1  # one group: the structure
    assert containment.alerts == [] and guard.state(caller).slowed_at is None


def test_a_wave_of_new_origins_sets_the_platform_burst() -> None:
    guard, _ = new_guard()
    for account in range(1, 40):
        caller = pro(account, Profession.nurse)
        ask(guard, caller, q(account), MONDAY_9H - 86_400, origin=account)
        now = MONDAY_9H + account * 10
        ask(guard, caller, q(account), now, origin=10_000 + account, stepped_up_at=now)
    assert guard.platform.burst_until > MONDAY_9H


def test_far_unknown_patients_at_a_steady_pace_are_contained() -> None:
    """Low and slow: 30 a day, under every quota, patients from everywhere, never twice."""
    guard, containment = new_guard()
    caller, exposed = pro(), 0
    for i in range(600):
        now = MONDAY_9H + (i // 30) * 86_400 + (i % 30) * 1_000
        decision = ask(guard, caller, q(50_000 + i, str(1 + i % 95).zfill(2), agree=False), now)
        exposed += decision is Decision.ALLOW
        if decision is Decision.SUSPEND:
            break
    assert decision is Decision.SUSPEND and exposed <= 50
    assert "etrangers" in fired_names(containment.alerts)
    alert = containment.alerts[0]
    assert alert.score >= SUSPEND_AT or "persistance" in fired_names(containment.alerts)
    assert "patients lointains et inconnus" in alert.summary()


def test_volume_against_own_baseline_and_peers() -> None:
    guard, _ = new_guard()
    caller = pro(profession=Profession.audiologist)
    for i in range(19):
        ask(guard, caller, q(i % 5), MONDAY_9H + i * 1_500)
    state = guard.state(caller)
    state.day_count = 40  # an audiologist's day: 2 usually
    state.hour_count = 16
    assert {"volume_compte", "volume_pairs", "volume_heure"} <= set(
        firing(guard, caller, MONDAY_9H)
    )


def test_baseline_growth_is_capped() -> None:
    baseline = 10.0
    for _ in range(5):
        baseline = next_baseline(baseline, 1_000, floor=1.0)
    assert baseline <= 10.0 * GROWTH_CAP**5 + 1e-9
    assert next_baseline(10.0, 0, floor=4.0) >= 4.0


def test_off_hours_and_orphan_estimates_fire() -> None:
    guard, _ = new_guard()
    caller = pro(profession=Profession.optician)
    night = MONDAY_9H + 15 * 3_600  # midnight
    for i in range(12):
        ask(guard, caller, q(i, agree=False), night + i * 600)
    ask(guard, caller, q(99), night + 86_400)  # the next day: yesterday's estimates are orphans
    assert {"horaires", "devis_orphelins"} <= set(firing(guard, caller, night))


def test_origin_is_the_network_and_the_device() -> None:
    from vigie.guard.features import nir_departement, origin_of, practice_departement

    assert origin_of("203.0.113.7", "ui/1") == origin_of("203.0.113.200", "ui/1")
    assert origin_of("203.0.113.7", "ui/1") != origin_of("198.51.100.7", "ui/1")
    assert origin_of("203.0.113.7", "ui/1") != origin_of("203.0.113.7", "ui/2")
    assert origin_of("2001:db8:1:2::1", "x") == origin_of("2001:db8:1:ffff::9", "x")
    assert nir_departement("2850475056011") == "75"
    assert nir_departement("185012A056011") == "2A"
    assert nir_departement("1850197305601") == "973"
    assert practice_departement("20000") == "2A" and practice_departement("20290") == "2B"
    assert practice_departement("97300") == "973" and practice_departement("69001") == "69"


class NetworkFirst(MemoryQuotaStore):
    """Quotas that, asked not to wait, always say they would (as Redis with no unit leased)."""

    def take(self, checks: Sequence[Check], now: float, *, wait: bool = True) -> float:
        if not wait:
            raise WouldWait
        return super().take(checks, now)


def test_an_admission_tried_without_waiting_then_again_counts_once() -> None:
    """The API tries ``admit`` on the event loop and, on WouldWait, again in a thread: a new
    origin admitted after a step-up counts as one move, and one quota unit is taken."""
    guard = Guard(NetworkFirst(), MemoryContainment())
    caller, now = pro(), MONDAY_9H
    assert guard.admit(caller, q(1), 1, None, now).decision is Decision.ALLOW
    assert guard.admit(caller, q(2), 2, None, now + 60).decision is Decision.STEP_UP
    moved, later = guard.platform._day_count, now + 80
    with pytest.raises(WouldWait):  # admits the origin, then finds the quotas need the network
        guard.admit(caller, q(2), 2, later, later, wait=False)
    assert guard.admit(caller, q(2), 2, later, later).decision is Decision.ALLOW
    assert guard.platform._day_count == moved + 1 and set(guard.state(caller).origins) == {1, 2}
    quotas = guard.quotas
    assert isinstance(quotas, MemoryQuotaStore)
    minute = f"a:{caller.account}:f:60"
    assert quotas.due(minute) == later + 10.0  # one unit of 6 a minute at `later`, not two
