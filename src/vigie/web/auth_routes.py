"""Staff sign-in: password, then the second factor (enrolled at the first sign-in); step-up;
logout; and the home page of every role.

Public: GET/POST /auth/login only. The second-factor and enrolment pages need the pending
session that a correct password opened; everything else needs an active session (or a token).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from starlette.responses import JSONResponse, Response

from vigie.api.deps import UNAUTHENTICATED, AppServices, CurrentPrincipal, Services
from vigie.audit.log import Event, record
from vigie.db.engine import write_transaction
from vigie.identity import sessions, users
from vigie.identity.principal import Principal, Role
from vigie.identity.sessions import SessionIdentity
from vigie.web import pages

router = APIRouter(tags=["portal"])
REFUSED = "Connexion refusée : identifiants incorrects, ou compte temporairement verrouillé."
BAD_CODE = "Code refusé. Après plusieurs échecs, le compte est verrouillé quelques minutes."
ROLE_LABELS = {
    Role.PROFESSIONAL: "professionnel de santé",
    Role.MUTUELLE_ADMIN: "administrateur de mutuelle",
    Role.SECURITY_OFFICER: "responsable de la sécurité",
    Role.DPO: "délégué à la protection des données",
    Role.INSURED: "assuré",
}
CSRF_ERROR = HTTPException(403, "jeton anti-CSRF absent ou invalide")
FormStr = Annotated[str, Form(max_length=300)]
OptionalField = Annotated[str | None, Form(max_length=300)]


@router.get("/auth/login")
async def login_page(request: Request, services: AppServices) -> Response:
    csrf = pages.form_csrf(request)
    oidc = services.runtime.settings.dev_idp or bool(services.runtime.settings.oidc_issuer)
    response = pages.render(request, "login.html", {"csrf": csrf, "oidc": oidc})
    pages.keep_form_csrf(response, services.runtime.settings, csrf)
    return response


@router.post("/auth/login")
async def login(
    request: Request,
    services: AppServices,
    email: FormStr = "",
    password: FormStr = "",
    csrf: OptionalField = None,
) -> Response:
    if not pages.double_submit_ok(request, csrf):
        raise CSRF_ERROR
    settings = services.runtime.settings
    opened = await services.call(_check_password, services, email, password)
    if opened is None:
        token = pages.form_csrf(request)
        context = {"csrf": token, "error": REFUSED, "oidc": settings.dev_idp}
        return pages.render(request, "login.html", context, status=401)
    cookie, stage = opened
    response = pages.redirect("/auth/second-factor" if stage == "second_factor" else "/auth/enrol")
    pages.set_session_cookie(response, settings, cookie)
    return response


def _check_password(services: Services, email: str, password: str) -> tuple[str, str] | None:
    settings = services.runtime.settings
    with write_transaction(services.runtime.engine) as conn:
        found = users.check_password(conn, email, password)
        if found is None:
            return None
        stage = sessions.SECOND_FACTOR if found.totp_confirmed else sessions.ENROL
        identity = SessionIdentity(found.role, f"user:{found.id}", found.id, found.amcs)
        cookie, _csrf = sessions.create_session(conn, settings, identity, stage=stage)
    return cookie, stage


async def pending_session(request: Request, services: AppServices) -> sessions.LoadedSession:
    cookie = request.cookies.get(sessions.COOKIE)
    found = await services.call(services.auth.pending, cookie) if cookie else None
    if found is None:
        raise UNAUTHENTICATED
    return found


Pending = Annotated[sessions.LoadedSession, Depends(pending_session)]


@router.get("/auth/second-factor")
async def second_factor_page(request: Request, pending: Pending) -> Response:
    if pending.stage != sessions.SECOND_FACTOR:
        return pages.redirect("/auth/enrol")
    return pages.render(request, "second_factor.html", {"csrf": pending.csrf})


@router.post("/auth/second-factor")
async def second_factor(
    request: Request,
    pending: Pending,
    services: AppServices,
    code: FormStr = "",
    csrf: OptionalField = None,
) -> Response:
    if not pages.same_token(csrf, pending.csrf):
        raise CSRF_ERROR
    if pending.stage != sessions.SECOND_FACTOR:
        return pages.redirect("/auth/enrol")
    cookie = await services.call(_second_factor, services, pending, code)
    if cookie is None:
        context = {"csrf": pending.csrf, "error": BAD_CODE}
        return pages.render(request, "second_factor.html", context, status=401)
    response = pages.redirect("/portal")
    pages.set_session_cookie(response, services.runtime.settings, cookie)
    return response


def _second_factor(services: Services, pending: sessions.LoadedSession, code: str) -> str | None:
    user_id = pending.identity.user_id
    assert user_id is not None
    keys = services.auth.keys
    with write_transaction(services.runtime.engine) as conn:
        if users.is_blocked(conn, user_id):
            return None
        if not (
            users.verify_totp(conn, keys, user_id, code)
            or users.use_recovery_code(conn, user_id, code)
        ):
            users.register_failure(conn, user_id)
            return None
        users.signed_in(conn, user_id)
        cookie, _ = sessions.advance(conn, services.runtime.settings, pending, stage="active")
    return cookie


@router.get("/auth/enrol")
async def enrol_page(request: Request, pending: Pending, services: AppServices) -> Response:
    if pending.stage != sessions.ENROL:
        return pages.redirect("/auth/second-factor")
    secret, uri = await services.call(_enrolment, services, pending)
    return pages.render(request, "enrol.html", {"csrf": pending.csrf, "secret": secret, "uri": uri})


def _enrolment(services: Services, pending: sessions.LoadedSession) -> tuple[str, str]:
    assert pending.identity.user_id is not None
    with write_transaction(services.runtime.engine) as conn:
        return users.totp_enrolment(conn, services.auth.keys, pending.identity.user_id)


@router.post("/auth/enrol")
async def enrol(
    request: Request,
    pending: Pending,
    services: AppServices,
    code: FormStr = "",
    csrf: OptionalField = None,
) -> Response:
    if not pages.same_token(csrf, pending.csrf):
        raise CSRF_ERROR
    if pending.stage != sessions.ENROL:
        return pages.redirect("/auth/second-factor")
    done = await services.call(_confirm, services, pending, code)
    if done is None:
        secret, uri = await services.call(_enrolment, services, pending)
        context = {"csrf": pending.csrf, "secret": secret, "uri": uri, "error": BAD_CODE}
        return pages.render(request, "enrol.html", context, status=401)
    cookie, codes = done
    response = pages.render(request, "recovery.html", {"codes": codes})
    pages.set_session_cookie(response, services.runtime.settings, cookie)
    return response


def _confirm(
    services: Services, pending: sessions.LoadedSession, code: str
) -> tuple[str, list[str]] | None:
    user_id = pending.identity.user_id
    assert user_id is not None
    with write_transaction(services.runtime.engine) as conn:
        if users.is_blocked(conn, user_id):
            return None
        codes = users.confirm_enrolment(conn, services.auth.keys, user_id, code)
        if codes is None:
            users.register_failure(conn, user_id)
            return None
        users.signed_in(conn, user_id, step="enrol")
        cookie, _ = sessions.advance(conn, services.runtime.settings, pending, stage="active")
    return cookie, codes


@router.post("/auth/step-up")
async def step_up(
    request: Request, principal: CurrentPrincipal, services: AppServices, code: FormStr = ""
) -> Response:
    """Prove the second factor again; the session records when (the guard asks for it)."""
    if principal.via != "session" or not principal.subject.startswith("user:"):
        raise HTTPException(403, "renforcement réservé aux sessions du portail avec second facteur")
    cookie = request.cookies.get(sessions.COOKIE, "")
    when = await services.call(_step_up, services, principal, cookie, code)
    if when is None:
        return JSONResponse({"error": 401, "message": BAD_CODE}, status_code=401)
    return JSONResponse({"step_up_at": when.isoformat()})


def _step_up(services: Services, principal: Principal, cookie: str, code: str) -> datetime | None:
    user_id = int(principal.subject.removeprefix("user:"))
    now = datetime.now(UTC)
    with write_transaction(services.runtime.engine) as conn:
        if users.is_blocked(conn, user_id) or not users.verify_totp(
            conn, services.auth.keys, user_id, code, now=now
        ):
            users.register_failure(conn, user_id, step="step_up", now=now)
            return None
        sessions.record_step_up(conn, cookie, now=now)
        record(conn, Event("sign_in", principal.subject, "ok", detail={"step": "step_up"}))
    return now


@router.post("/auth/logout")
async def logout(request: Request, principal: CurrentPrincipal, services: AppServices) -> Response:
    del principal  # authenticated (and CSRF-checked) by the dependency
    cookie = request.cookies.get(sessions.COOKIE, "")
    await services.call(_logout, services, cookie)
    response = pages.redirect("/auth/login")
    pages.clear_session_cookie(response, services.runtime.settings)
    return response


def _logout(services: Services, cookie: str) -> None:
    with write_transaction(services.runtime.engine) as conn:
        sessions.end_session(conn, cookie)


@router.get("/portal")
async def home(request: Request, principal: CurrentPrincipal) -> Response:
    session = getattr(request.state, "session", None)
    csrf = session.csrf if session is not None else ""
    context = {
        "principal": principal,
        "role_label": ROLE_LABELS[principal.role],
        "amcs": sorted(principal.amcs),
        "csrf": csrf,
        "staff": principal.subject.startswith("user:") and principal.via == "session",
    }
    return pages.render(request, "home.html", context)
