"""WebAuthn endpoints (JSON, for the browser's navigator.credentials): register a security key
from a signed-in staff session with a recent step-up; use it as the second factor at sign-in.

State-changing like forms: each call carries the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import JSONResponse, Response

from vigie.api.deps import AppServices, CurrentPrincipal, Services
from vigie.db.engine import write_transaction
from vigie.identity import security_keys, sessions, users
from vigie.identity.principal import Principal
from vigie.web import pages
from vigie.web.auth_routes import CSRF_ERROR, Pending

router = APIRouter(prefix="/auth/webauthn", tags=["portal"])
script_router = APIRouter(tags=["portal"])
SCRIPT = (Path(__file__).parent / "static" / "webauthn.js").read_bytes()
# The portal's style sheet: a file, not inline, so that the pages' CSP (default-src 'self') holds.
STYLE = (Path(__file__).parent / "static" / "portal.css").read_bytes()
MAX_CREDENTIAL = 16 * 1024


@script_router.get("/auth/webauthn.js")
async def script() -> Response:
    """The portal's WebAuthn script (public, like the login page that uses it)."""
    headers = {"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(SCRIPT, media_type="text/javascript", headers=headers)


@script_router.get("/auth/portal.css")
async def style() -> Response:
    """The portal's style sheet (public, like the login page that uses it)."""
    headers = {"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(STYLE, media_type="text/css", headers=headers)


def refused() -> Response:
    return JSONResponse({"error": 401, "message": "clé de sécurité refusée"}, status_code=401)


def _staff(principal: Principal, services: Services) -> int:
    if principal.via != "session" or not principal.subject.startswith("user:"):
        raise HTTPException(403, "réservé aux comptes du portail")
    recent = timedelta(minutes=services.runtime.settings.step_up_minutes)
    if principal.step_up_at is None or datetime.now(UTC) - principal.step_up_at > recent:
        raise HTTPException(403, "confirmez d'abord votre identité (POST /auth/step-up)")
    return int(principal.subject.removeprefix("user:"))


@router.post("/register/options")
async def register_options(
    request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    user_id = _staff(principal, services)
    cookie = request.cookies.get(sessions.COOKIE, "")

    def options() -> str:
        with write_transaction(services.runtime.engine) as conn:
            return security_keys.registration_options(
                conn, services.runtime.settings, cookie, user_id
            )

    return Response(await services.call(options), media_type="application/json")


@router.post("/register")
async def register(
    request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    user_id = _staff(principal, services)
    cookie = request.cookies.get(sessions.COOKIE, "")
    credential = await _credential(request)

    def done() -> bool:
        with write_transaction(services.runtime.engine) as conn:
            return security_keys.register(
                conn, services.runtime.settings, cookie, user_id, credential
            )

    if not await services.call(done):
        return refused()
    return JSONResponse({"registered": True})


@router.post("/authenticate/options")
async def authenticate_options(
    request: Request, pending: Pending, services: AppServices
) -> Response:
    _pending_csrf(request, pending)
    user_id = pending.identity.user_id
    assert user_id is not None

    def options() -> str | None:
        with write_transaction(services.runtime.engine) as conn:
            return security_keys.authentication_options(
                conn, services.runtime.settings, pending.token, user_id
            )

    found = await services.call(options)
    if found is None:
        return JSONResponse({"error": 404, "message": "aucune clé enregistrée"}, status_code=404)
    return Response(found, media_type="application/json")


@router.post("/authenticate")
async def authenticate(request: Request, pending: Pending, services: AppServices) -> Response:
    _pending_csrf(request, pending)
    credential = await _credential(request)
    cookie = await services.call(_second_factor, services, pending, credential)
    if cookie is None:
        return refused()
    response = JSONResponse({"redirect": "/portal"})
    pages.set_session_cookie(response, services.runtime.settings, cookie)
    return response


def _second_factor(
    services: Services, pending: sessions.LoadedSession, credential: str
) -> str | None:
    user_id = pending.identity.user_id
    settings = services.runtime.settings
    if user_id is None or pending.stage != sessions.SECOND_FACTOR:
        return None
    with write_transaction(services.runtime.engine) as conn:
        if users.is_blocked(conn, user_id):
            return None
        if not security_keys.authenticate(conn, settings, pending.token, user_id, credential):
            users.register_failure(conn, user_id, step="webauthn")
            return None
        users.signed_in(conn, user_id, step="webauthn")
        cookie, _ = sessions.advance(conn, settings, pending, stage=sessions.ACTIVE)
    return cookie


def _pending_csrf(request: Request, pending: sessions.LoadedSession) -> None:
    if not pages.same_token(request.headers.get("x-csrf-token"), pending.csrf):
        raise CSRF_ERROR


async def _credential(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_CREDENTIAL:
        raise HTTPException(413, "requête trop volumineuse")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "requête mal formée") from exc
