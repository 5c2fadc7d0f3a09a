"""The guard at the API: throttle, step-up, suspension, lift, and fail-closed quotas."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.factories import ALICE, BOB, load_people, professional_token, request
from vigie.api.app import create_app
from vigie.api.guard_gate import Callers, Gate, Origins
from vigie.api.guard_routes import officer_only
from vigie.audit.models import LogEntry
from vigie.db.engine import read_transaction, write_transaction
from vigie.guard import sharing
from vigie.guard.engine import Alert
from vigie.guard.features import Caller, origin_of
from vigie.guard.quotas import ACCOUNT
from vigie.guard.redis_quotas import RedisQuotaStore
from vigie.guard.service import save_suspension
from vigie.guard.signals import Signal
from vigie.identity.identifiers import Profession
from vigie.identity.principal import Principal, Role
from vigie.identity.service import ProfessionalView
from vigie.runtime import Runtime

FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture
def client(guarded_runtime: Runtime) -> Iterator[TestClient]:
    load_people(guarded_runtime)
    with TestClient(create_app(guarded_runtime), raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def auth(guarded_runtime: Runtime) -> dict[str, str]:
    return {"Authorization": f"Bearer {professional_token(guarded_runtime)}"}


def _log(runtime: Runtime) -> list[tuple[str, str, str]]:
    with read_transaction(runtime.engine) as conn:
        rows = conn.execute(select(LogEntry.kind, LogEntry.actor, LogEntry.outcome))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_over_the_minute_quota_answers_429_and_logs_it(
    client: TestClient, auth: dict[str, str], guarded_runtime: Runtime
) -> None:
    burst = ACCOUNT[Profession.pharmacist].minute
    answers = [
        client.post("/v1/eligibility", json=request(p), headers=auth).status_code
        for p in (ALICE, BOB) * (burst // 2)
    ]
    assert answers == [200] * burst  # a pharmacist's burst
    refused = client.post("/v1/eligibility", json=request(ALICE), headers=auth)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["reason"] == "quota_exceeded"
    assert "réessayez" in refused.json()["message"]
    assert ALICE.nir not in refused.text
    assert ("guard", "rpps:" + auth_rpps(), "throttle") in _log(guarded_runtime)


def auth_rpps() -> str:
    from tests.factories import RPPS

    return RPPS


def test_a_new_origin_asks_for_step_up(client: TestClient, auth: dict[str, str]) -> None:
    first = {**auth, "user-agent": "logiciel-officine/1.0"}
    assert client.post("/v1/eligibility", json=request(ALICE), headers=first).status_code == 200
    other = {**auth, "user-agent": "inconnu/9"}
    refused = client.post("/v1/eligibility", json=request(ALICE), headers=other)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "step_up_required"
    assert refused.json()["step_up"] == "/auth/step-up"
    fhir = client.post("/fhir/CoverageEligibilityRequest", content=b"{}", headers={**other, **FHIR})
    assert fhir.status_code == 400  # malformed FHIR is refused before the guard looks
    assert client.post("/v1/eligibility", json=request(ALICE), headers=first).status_code == 200


def test_a_fresh_token_is_the_step_up_of_practice_software(
    client: TestClient, auth: dict[str, str], guarded_runtime: Runtime
) -> None:
    first = {**auth, "user-agent": "logiciel-officine/1.0"}
    assert client.post("/v1/eligibility", json=request(ALICE), headers=first).status_code == 200
    other = {**auth, "user-agent": "logiciel-officine/2.0"}
    assert client.post("/v1/eligibility", json=request(ALICE), headers=other).status_code == 401
    time.sleep(1.1)  # a token's iat counts in whole seconds: the new one must postdate the refusal
    fresh = {"Authorization": f"Bearer {professional_token(guarded_runtime)}"}
    again = {**fresh, "user-agent": "logiciel-officine/2.0"}
    assert client.post("/v1/eligibility", json=request(ALICE), headers=again).status_code == 200
    # Once proved, the origin is the account's: the older token works from it too.
    assert client.post("/v1/eligibility", json=request(BOB), headers=other).status_code == 200


def _suspend(runtime: Runtime, account: int) -> None:
    caller = Caller(account, "rpps:" + auth_rpps(), Profession.pharmacist, "75", None)
    signal = Signal("etrangers", 4, 0.93, 0.3, "patients lointains et inconnus")
    with write_transaction(runtime.engine) as conn:
        save_suspension(conn, Alert(caller, time.time(), 8, 7, (signal, signal)))


def test_a_suspended_account_is_refused_until_an_officer_lifts_it(
    client: TestClient, auth: dict[str, str], guarded_runtime: Runtime
) -> None:
    assert client.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code == 200
    _suspend(guarded_runtime, 1)
    client.app.state.guard.containment._loaded = -1e18  # type: ignore[attr-defined]
    refused = client.post("/v1/eligibility", json=request(ALICE), headers=auth)
    assert refused.status_code == 403
    assert refused.json()["reason"] == "account_suspended"
    # A professional cannot read alerts; a security officer can.
    assert client.get("/v1/guard/alerts", headers=auth).status_code == 403
    officer = Principal(Role.SECURITY_OFFICER, "user:officier")
    # require_roles calls current_principal itself (not through Depends) in this branch:
    # the officer dependency is what can be overridden until identity lands.
    client.app.dependency_overrides[officer_only] = lambda: officer  # type: ignore[attr-defined]
    alerts = client.get("/v1/guard/alerts?active=true").json()["alerts"]
    assert len(alerts) == 1
    assert "patients lointains et inconnus : 0.93 (référence 0.30)" in alerts[0]["summary"]
    suspension = alerts[0]["suspension"]
    lifted = client.post(f"/v1/guard/suspensions/{suspension}/lift", json={"reason": "appelé"})
    assert lifted.status_code == 200
    again = client.post(f"/v1/guard/suspensions/{suspension}/lift", json={"reason": "appelé"})
    assert again.status_code == 409
    assert client.post("/v1/guard/suspensions/999/lift", json={"reason": "x y"}).status_code == 404
    assert client.get("/v1/guard/alerts?active=true").json()["alerts"] == []
    del client.app.dependency_overrides[officer_only]  # type: ignore[attr-defined]
    assert client.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code == 200
    log = _log(guarded_runtime)
    assert ("guard", "user:officier", "lift") in log
    assert ("guard", "rpps:" + auth_rpps(), "suspend") in log


def test_redis_down_fails_closed_with_503(guarded_runtime: Runtime) -> None:
    settings = guarded_runtime.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    runtime = Runtime(
        settings, guarded_runtime.engine, guarded_runtime.keys, guarded_runtime.keyring
    )
    load_people(runtime)
    auth = {"Authorization": f"Bearer {professional_token(runtime)}"}
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        refused = client.post("/v1/eligibility", json=request(ALICE), headers=auth)
        assert refused.status_code == 503
        assert refused.json()["reason"] == "guard_unavailable"
        assert refused.headers["retry-after"] == "1"
        assert ALICE.nir not in refused.text


def _admissions(
    runtime: Runtime, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, questions: int
) -> tuple[Any, list[tuple[bool, bool]]]:
    """Questions through a fresh app; each admit as (ran off the loop's thread, its ``wait``)."""
    app = create_app(runtime)
    loop_thread: list[threading.Thread] = []
    seen: list[tuple[bool, bool]] = []
    real_admit = Gate.admit

    def admit(gate: Gate, wait: bool = True) -> Any:
        seen.append((threading.current_thread() is not loop_thread[0], wait))
        return real_admit(gate, wait)

    monkeypatch.setattr(Gate, "admit", admit)
    with TestClient(app) as client:
        assert client.portal is not None
        client.portal.call(lambda: loop_thread.append(threading.current_thread()))
        for _ in range(questions):
            answer = client.post("/v1/eligibility", json=request(ALICE), headers=auth)
            assert answer.status_code == 200, answer.text
    return app, seen


def test_only_checks_that_need_redis_leave_the_event_loop(
    guarded_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis quotas a check whose unit is not in hand goes where store calls go (threads
    on PostgreSQL) to ask Redis; one with a unit leased ahead stays where quota checks in memory
    do (the loop, whenever store calls do not use threads)."""
    update = {"redis_url": "redis://127.0.0.1:6379/15"}
    shared = Runtime(
        guarded_runtime.settings.model_copy(update=update), guarded_runtime.engine,
        guarded_runtime.keys, guarded_runtime.keyring,
    )  # fmt: skip
    load_people(shared)
    auth = {"Authorization": f"Bearer {professional_token(shared)}"}
    prefix, real = f"vigie:test:{uuid.uuid4().hex}:", RedisQuotaStore.from_url
    monkeypatch.setattr(RedisQuotaStore, "from_url", lambda url: real(url, prefix=prefix))
    try:
        for runtime, waits in ((shared, True), (guarded_runtime, False)):
            app, seen = _admissions(runtime, auth, monkeypatch, 3)
            assert app.state.guard.waits is waits
            services = app.state.services
            light, heavy = not services.light_inline, not services.inline
            if waits and not light:
                # A pharmacist's first question leases nothing, the second one unit ahead (both ask
                # Redis, after a try that took nothing); the third is admitted from that unit.
                tried, asked = (light, False), (heavy, True)
                assert seen == [tried, asked, tried, asked, tried], runtime.engine.dialect.name
            else:  # quotas in memory, or every store call in threads: one try, waiting if need be
                assert seen == [(light, True)] * 3
            if runtime.engine.dialect.name == "postgresql":  # store calls: threads or the loop
                assert (heavy, light) == (True, False)
    finally:  # the risk notes this deployment's apps published
        redis.Redis.from_url(update["redis_url"]).delete(sharing.deployment(shared.keyring)[0])


def test_shared_quota_through_redis_between_two_apps(guarded_runtime: Runtime) -> None:
    """Two applications (as two server processes would) share one Redis quota."""

    from vigie.guard.redis_quotas import RedisQuotaStore

    load_people(guarded_runtime)
    auth = {"Authorization": f"Bearer {professional_token(guarded_runtime)}"}
    prefix = f"vigie:test:{uuid.uuid4().hex}:"
    apps = [create_app(guarded_runtime) for _ in range(2)]
    for app in apps:
        app.state.guard.guard.quotas = RedisQuotaStore.from_url(
            "redis://127.0.0.1:6379/0", prefix=prefix
        )
    statuses = []
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        for i in range(ACCOUNT[Profession.pharmacist].minute + 2):
            client = one if i % 2 else two
            statuses.append(
                client.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code
            )
    assert statuses.count(200) == ACCOUNT[Profession.pharmacist].minute
    assert statuses.count(429) == 2


def test_two_apps_with_redis_share_their_risk_state(
    guarded_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis, what one server process learns about an account reaches the other within
    moments: the second judges the account on every question, not on its own share."""
    shared = Runtime(
        guarded_runtime.settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"}),
        guarded_runtime.engine, guarded_runtime.keys, guarded_runtime.keyring,
    )  # fmt: skip
    load_people(shared)
    auth = {"Authorization": f"Bearer {professional_token(shared)}"}
    prefix, real = f"vigie:test:{uuid.uuid4().hex}:", RedisQuotaStore.from_url
    monkeypatch.setattr(RedisQuotaStore, "from_url", lambda url: real(url, prefix=prefix))
    apps = [create_app(shared) for _ in range(2)]
    exchanges = [app.state.guard.exchange for app in apps]
    assert exchanges[0] is not None and exchanges[0]._key == exchanges[1]._key  # one deployment
    try:
        with TestClient(apps[0]) as one, TestClient(apps[1]):
            for person in (ALICE, BOB, ALICE):
                assert one.post("/v1/eligibility", json=request(person), headers=auth).is_success
            learnt = apps[1].state.guard.guard._accounts
            deadline = time.monotonic() + 5
            while not learnt and time.monotonic() < deadline:
                time.sleep(0.05)
            while time.monotonic() < deadline and next(iter(learnt.values())).questions < 3:
                time.sleep(0.05)
            (state,) = learnt.values()
            assert state.questions == 3 and len(state.seen) == 2  # Alice once, and Bob
    finally:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").delete(exchanges[0]._key)


def test_cardless_questions_spend_their_own_budget(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = request(ALICE)
    del body["card"]
    assert client.post("/v1/eligibility", json=body, headers=auth).json()["eligible"] is True
    refused = client.post("/v1/eligibility", json=body, headers=auth)
    assert refused.status_code == 429  # one card-less question a minute
    assert client.post("/v1/eligibility", json=request(BOB), headers=auth).status_code == 200


def test_fhir_refusals_are_operation_outcomes_with_a_reason(
    client: TestClient, auth: dict[str, str]
) -> None:
    from tests.api.test_fhir_api import fhir_request

    headers = {**auth, **FHIR, "user-agent": "logiciel/1"}
    burst = ACCOUNT[Profession.pharmacist].minute
    for _ in range(burst):
        ok = client.post(
            "/fhir/CoverageEligibilityRequest", json=fhir_request(ALICE), headers=headers
        )
        assert ok.status_code == 200, ok.text
    refused = client.post(
        "/fhir/CoverageEligibilityRequest", json=fhir_request(ALICE), headers=headers
    )
    assert refused.status_code == 429
    issue = refused.json()["issue"][0]
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert issue["code"] == "throttled"
    assert issue["details"]["coding"][0]["code"] == "quota_exceeded"
    assert ALICE.nir not in refused.text
    moved = {**headers, "user-agent": "autre/2"}
    step_up = client.post(
        "/fhir/CoverageEligibilityRequest", json=fhir_request(ALICE), headers=moved
    )
    assert step_up.status_code == 401
    assert step_up.json()["issue"][0]["details"]["coding"][0]["code"] == "step_up_required"


def test_an_agreement_whose_answer_is_withheld_is_cancelled(
    client: TestClient,
    auth: dict[str, str],
    guarded_runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A suspension decided on the answer (observe) withholds it; its agreement is undone."""
    from starlette.responses import Response

    from vigie.api import guard_gate
    from vigie.eligibility.models import Agreement

    suspended = Response(b'{"error":403}', 403, media_type="application/json")
    monkeypatch.setattr(guard_gate.Gate, "observe", lambda _self, _positive: suspended)
    refused = client.post("/v1/eligibility", json=request(ALICE, mode="agree"), headers=auth)
    assert refused.status_code == 403
    with read_transaction(guarded_runtime.engine) as conn:
        agreements = conn.execute(select(Agreement.number, Agreement.cancelled_at)).all()
    assert len(agreements) == 1 and agreements[0].cancelled_at is not None
    assert ("cancellation", "rpps:" + auth_rpps(), "cancelled") in _log(guarded_runtime)


def test_stopping_the_server_gives_held_quota_back(guarded_runtime: Runtime) -> None:
    app = create_app(guarded_runtime)
    real = app.state.guard.guard.quotas
    closed: list[bool] = []

    class Recording:
        def take(self, checks: object, now: float, *, wait: bool = True) -> float:
            return float(real.take(checks, now, wait=wait))

        def close(self) -> None:
            closed.append(True)
            real.close()

    app.state.guard.guard.quotas = Recording()
    with TestClient(app):
        assert not closed
    assert closed == [True]


def test_a_caller_is_built_once_per_account_and_again_when_the_account_changes() -> None:
    callers = Callers()
    view = ProfessionalView(7, "10000000007", Profession.nurse, "75011", None)
    first = callers.of(view)
    assert first == Caller(7, "rpps:10000000007", Profession.nurse, "75", None)
    renewed = ProfessionalView(7, "10000000007", Profession.nurse, "75011", None)
    assert callers.of(renewed) is first
    assert callers.known[7] == (renewed, first) and callers.known[7][0] is renewed
    moved = callers.of(ProfessionalView(7, "10000000007", Profession.nurse, "13001", 3))
    assert (moved.departement, moved.structure) == ("13", 3)
    assert callers.of(ProfessionalView(8, "10000000008", Profession.nurse, "75011", None)) != moved


def test_an_origin_is_computed_once_per_address_and_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    origins = Origins()
    first = origins.of("192.0.2.7", b"logiciel/1.0")
    assert first == origin_of("192.0.2.7", "logiciel/1.0")
    assert origins.of("192.0.2.9", b"logiciel/1.0") == first  # the same /24 network
    assert origins.of("192.0.2.7", None) == origin_of("192.0.2.7", None)
    assert origins.of(None, None) == origin_of(None, None)
    assert origins.of("192.0.2.7", b"autre") != first
    # A flood of new agents (an attacker rotating them) forgets them all, never grows past MAX.
    monkeypatch.setattr(Origins, "MAX", 3)
    for i in range(10):
        origins.of("198.51.100.1", b"agent/%d" % i)
        assert len(origins.known) <= 3
    assert origins.of("192.0.2.7", b"logiciel/1.0") == first
