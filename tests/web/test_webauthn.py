"""Security keys (WebAuthn) as the second factor, with a software authenticator: registration
after a step-up, sign-in with the key, and the refusals (wrong origin, replayed challenge,
cloned key, another user's key, missing CSRF)."""

from __future__ import annotations

import time

import pyotp
from fastapi.testclient import TestClient

from tests.web.authenticator import SoftKey
from tests.web.conftest import BASE, add_staff, enrol, field, login, session_csrf
from vigie.runtime import Runtime

EMAIL = "officer@example.org"


def _signed_in_with_key(portal: TestClient, runtime: Runtime) -> tuple[SoftKey, str]:
    add_staff(runtime, EMAIL, "security_officer")
    login(portal, EMAIL)
    secret, _ = enrol(portal)
    key = SoftKey(origin=BASE, rp_id="testserver")
    headers = {"X-CSRF-Token": session_csrf(portal)}
    options = portal.post("/auth/webauthn/register/options", headers=headers)
    assert options.status_code == 200, options.text
    assert options.json()["rp"]["id"] == "testserver"
    created = portal.post(
        "/auth/webauthn/register", content=key.create(options.json()), headers=headers
    )
    assert created.status_code == 200 and created.json()["registered"] is True
    portal.post("/auth/logout", headers=headers)
    return key, secret


def _key_sign_in(portal: TestClient, key: SoftKey, **get: int) -> int:
    login(portal, EMAIL)
    csrf = field(portal.get("/auth/second-factor").text, "csrf")
    headers = {"X-CSRF-Token": csrf}
    options = portal.post("/auth/webauthn/authenticate/options", headers=headers)
    assert options.status_code == 200, options.text
    answer = portal.post(
        "/auth/webauthn/authenticate", content=key.get(options.json(), **get), headers=headers
    )
    return answer.status_code


def test_a_security_key_signs_in(portal: TestClient, runtime: Runtime) -> None:
    key, _ = _signed_in_with_key(portal, runtime)
    assert _key_sign_in(portal, key) == 200
    assert portal.get("/portal").status_code == 200


def test_a_cloned_key_is_refused(portal: TestClient, runtime: Runtime) -> None:
    key, _ = _signed_in_with_key(portal, runtime)
    assert _key_sign_in(portal, key, step=5) == 200
    portal.post("/auth/logout", headers={"X-CSRF-Token": session_csrf(portal)})
    key.counter = 1  # a copy of the key, behind the original's counter
    assert _key_sign_in(portal, key, step=1) == 401
    assert portal.get("/portal").status_code == 401


def test_a_stranger_key_and_a_replayed_answer_are_refused(
    portal: TestClient, runtime: Runtime
) -> None:
    key, _ = _signed_in_with_key(portal, runtime)
    stranger = SoftKey(origin=BASE, rp_id="testserver")
    assert _key_sign_in(portal, stranger) == 401
    login(portal, EMAIL)
    headers = {"X-CSRF-Token": field(portal.get("/auth/second-factor").text, "csrf")}
    options = portal.post("/auth/webauthn/authenticate/options", headers=headers).json()
    answer = key.get(options)
    assert (
        portal.post("/auth/webauthn/authenticate", content=answer, headers=headers).status_code
        == 200
    )
    # The same answer again (the challenge was spent), from a new pending session.
    portal.post("/auth/logout", headers={"X-CSRF-Token": session_csrf(portal)})
    login(portal, EMAIL)
    headers = {"X-CSRF-Token": field(portal.get("/auth/second-factor").text, "csrf")}
    assert (
        portal.post("/auth/webauthn/authenticate", content=answer, headers=headers).status_code
        == 401
    )


def test_registration_needs_a_recent_step_up_the_right_origin_and_csrf(
    portal: TestClient, runtime: Runtime
) -> None:
    add_staff(runtime, EMAIL, "security_officer")
    login(portal, EMAIL)
    secret, _ = enrol(portal)
    csrf = session_csrf(portal)
    assert portal.post("/auth/webauthn/register/options").status_code == 403  # no CSRF token
    headers = {"X-CSRF-Token": csrf}
    options = portal.post("/auth/webauthn/register/options", headers=headers).json()
    phishing = SoftKey(origin="https://vigie-login.example", rp_id="testserver")
    created = portal.post(
        "/auth/webauthn/register", content=phishing.create(options), headers=headers
    )
    assert created.status_code == 401
    # The sign-in counts as a step-up for a while; later a new one is needed.
    runtime.settings = runtime.settings.model_copy(update={"step_up_minutes": 0})
    time.sleep(0.01)
    assert portal.post("/auth/webauthn/register/options", headers=headers).status_code == 403
    code = pyotp.TOTP(secret).at(time.time() + 30)
    assert portal.post("/auth/step-up", data={"code": code, "csrf": csrf}).status_code == 200
    runtime.settings = runtime.settings.model_copy(update={"step_up_minutes": 10})
    assert portal.post("/auth/webauthn/register/options", headers=headers).status_code == 200


def test_without_a_key_totp_is_the_way(portal: TestClient, runtime: Runtime) -> None:
    add_staff(runtime, EMAIL, "dpo")
    login(portal, EMAIL)
    enrol(portal)
    portal.post("/auth/logout", headers={"X-CSRF-Token": session_csrf(portal)})
    login(portal, EMAIL)
    headers = {"X-CSRF-Token": field(portal.get("/auth/second-factor").text, "csrf")}
    assert portal.post("/auth/webauthn/authenticate/options", headers=headers).status_code == 404
    assert portal.post("/auth/webauthn/authenticate/options").status_code == 403  # no CSRF
