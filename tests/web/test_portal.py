"""Portal sign-in for staff: password, mandatory second factor (enrolled at first sign-in),
recovery codes, CSRF on every form, sessions, step-up, logout."""

from __future__ import annotations

import time

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.web.conftest import PASSWORD, add_staff, enrol, field, login, session_csrf
from vigie.identity.models import Session as SessionRow
from vigie.identity.sessions import COOKIE
from vigie.runtime import Runtime

EMAIL = "officer@example.org"


def test_first_sign_in_enrols_totp_then_opens_the_portal(
    portal: TestClient, runtime: Runtime
) -> None:
    add_staff(runtime, EMAIL, "security_officer")
    assert login(portal, EMAIL) == 303
    _secret, codes = enrol(portal)
    assert len(codes) == 10 and len(set(codes)) == 10
    home = portal.get("/portal")
    assert home.status_code == 200 and "responsable de la sécurité" in home.text
    cookie = portal.cookies.get(COOKIE)
    assert cookie
    headers = portal.get("/portal").headers
    assert (
        headers["cache-control"] == "no-store"
        and "frame-ancestors" in headers["content-security-policy"]
    )


def test_session_cookie_flags(portal: TestClient, runtime: Runtime) -> None:
    add_staff(runtime, EMAIL, "dpo")
    page = portal.get("/auth/login")
    form = {"email": EMAIL, "password": PASSWORD, "csrf": field(page.text, "csrf")}
    answer = portal.post("/auth/login", data=form, follow_redirects=False)
    set_cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "secure" in set_cookie and "samesite=strict" in set_cookie


def test_a_password_alone_opens_nothing(portal: TestClient, runtime: Runtime) -> None:
    add_staff(runtime, EMAIL, "security_officer")
    assert login(portal, EMAIL) == 303
    enrol(portal)
    portal.post("/auth/logout", data={"csrf": session_csrf(portal)})
    assert login(portal, EMAIL) == 303  # correct password: only the second-factor page opens
    assert portal.get("/auth/second-factor").status_code == 200
    for route in ("/portal", "/v1/admin/plans"):
        assert portal.get(route).status_code == 401


def test_second_sign_in_asks_the_totp_and_refuses_a_replayed_code(
    portal: TestClient, runtime: Runtime
) -> None:
    add_staff(runtime, EMAIL, "security_officer")
    login(portal, EMAIL)
    enrolled_at = time.time()  # the replay below must be the enrolment's code, whatever the clock
    secret, _codes = enrol(portal, at=enrolled_at)
    portal.post("/auth/logout", data={"csrf": session_csrf(portal)})
    assert portal.get("/portal").status_code == 401
    login(portal, EMAIL)
    page = portal.get("/auth/second-factor")
    csrf = field(page.text, "csrf")
    used = pyotp.TOTP(secret).at(enrolled_at)  # spent by the enrolment
    replay = portal.post("/auth/second-factor", data={"code": used, "csrf": csrf})
    assert replay.status_code == 401
    fresh = pyotp.TOTP(secret).at(enrolled_at + 30)
    ok = portal.post("/auth/second-factor", data={"code": fresh, "csrf": csrf})
    assert ok.status_code == 200 and "Accueil" in ok.text


def test_a_recovery_code_works_once(portal: TestClient, runtime: Runtime) -> None:
    add_staff(runtime, EMAIL, "dpo")
    login(portal, EMAIL)
    _secret, codes = enrol(portal)
    for attempt in (200, 401):
        portal.post("/auth/logout", data={"csrf": session_csrf(portal)})
        login(portal, EMAIL)
        csrf = field(portal.get("/auth/second-factor").text, "csrf")
        answer = portal.post("/auth/second-factor", data={"code": codes[0], "csrf": csrf})
        assert answer.status_code == attempt
        if attempt == 401:
            break


def test_unknown_account_and_wrong_password_get_the_same_answer(
    portal: TestClient, runtime: Runtime
) -> None:
    add_staff(runtime, EMAIL, "dpo")
    page = portal.get("/auth/login")
    csrf = field(page.text, "csrf")
    wrong = portal.post(
        "/auth/login", data={"email": EMAIL, "password": "Nope-nope-42-x", "csrf": csrf}
    )
    unknown = portal.post(
        "/auth/login", data={"email": "nobody@example.org", "password": PASSWORD, "csrf": csrf}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert _alert(wrong.text) == _alert(unknown.text) != ""
    assert "nobody" not in unknown.text


def test_missing_or_bad_csrf_is_refused(portal: TestClient, runtime: Runtime) -> None:
    add_staff(runtime, EMAIL, "security_officer")
    portal.get("/auth/login")
    form = {"email": EMAIL, "password": PASSWORD}
    assert portal.post("/auth/login", data=form).status_code == 403
    assert portal.post("/auth/login", data={**form, "csrf": "x" * 43}).status_code == 403
    assert login(portal, EMAIL) == 303
    page = portal.get("/auth/enrol")
    assert portal.post("/auth/enrol", data={"code": "123456"}).status_code == 403
    assert field(page.text, "csrf")
    enrol(portal)
    # An active session: a state-changing request without the session's token is refused.
    assert portal.post("/auth/logout").status_code == 403
    assert portal.post("/auth/logout", data={"csrf": "forged"}).status_code == 403
    assert portal.post("/auth/step-up", data={"code": "123456"}).status_code == 403
    assert portal.get("/portal").status_code == 200  # still signed in
    headers = {"X-CSRF-Token": session_csrf(portal)}
    assert portal.post("/auth/logout", headers=headers, follow_redirects=False).status_code == 303


def test_step_up_records_the_time_on_the_session(portal: TestClient, runtime: Runtime) -> None:
    add_staff(runtime, EMAIL, "security_officer")
    login(portal, EMAIL)
    secret, _codes = enrol(portal)
    csrf = session_csrf(portal)
    refused = portal.post("/auth/step-up", data={"code": "000000", "csrf": csrf})
    assert refused.status_code == 401
    code = pyotp.TOTP(secret).at(time.time() + 30)
    done = portal.post("/auth/step-up", data={"code": code, "csrf": csrf})
    assert done.status_code == 200 and done.json()["step_up_at"]
    with runtime.engine.connect() as conn:
        steps = conn.execute(select(SessionRow.step_up_at)).scalars().all()
    assert len(steps) == 1 and steps[0] is not None


def test_logout_ends_the_session_server_side(portal: TestClient, runtime: Runtime) -> None:
    add_staff(runtime, EMAIL, "dpo")
    login(portal, EMAIL)
    enrol(portal)
    cookie = portal.cookies.get(COOKIE)
    portal.post("/auth/logout", data={"csrf": session_csrf(portal)})
    portal.cookies.clear()
    portal.cookies.set(COOKIE, cookie or "")
    assert portal.get("/portal").status_code == 401  # the old identifier is dead


def _alert(html: str) -> str:
    start = html.find('role="alert">')
    return html[start : html.find("<", start + 13)] if start >= 0 else ""
