"""Portal sign-in through OIDC (authorization code + PKCE S256), and the development identity
provider's authorization page.

Public: the portal's start and callback, and the development provider's authorize page (absent
unless VIGIE_DEV_IDP is on). The callback trusts nothing it is given: the code is exchanged with
the PKCE verifier kept in an HttpOnly cookie, and the resulting token is verified like any bearer.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
import urllib.request
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from starlette.responses import Response

from vigie.api.deps import AppServices, Services
from vigie.audit.log import Event, record
from vigie.db.engine import write_transaction
from vigie.identity import dev_idp, sessions
from vigie.identity.principal import Principal, Role
from vigie.identity.sessions import SessionIdentity
from vigie.identity.token_service import issue_access_token
from vigie.web import pages

router = APIRouter(tags=["portal"])
FLOW_COOKIE = "vigie_oidc"
Field = Annotated[str, Form(max_length=300)]
NOT_AVAILABLE = HTTPException(404, "ressource introuvable")
FAILED = HTTPException(401, "connexion refusée par le fournisseur d'identité")
AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
    "scope",
)


@router.get("/auth/oidc/start")
async def start(services: AppServices) -> Response:
    settings = services.runtime.settings
    if settings.oidc_authorization_url:
        endpoint, client_id = settings.oidc_authorization_url, settings.oidc_client_id
    elif settings.dev_idp:
        endpoint, client_id = settings.local_issuer() + "/oauth/authorize", dev_idp.PORTAL_CLIENT_ID
    else:
        raise NOT_AVAILABLE
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": dev_idp.portal_redirect_uri(settings),
        "state": state,
        "code_challenge": dev_idp.s256(verifier),
        "code_challenge_method": "S256",
        "scope": "openid",
    }
    response = pages.redirect(endpoint + "?" + urllib.parse.urlencode(query))
    # Lax: the identity provider sends the browser back with a top-level cross-site redirect.
    response.set_cookie(
        FLOW_COOKIE,
        f"{state}.{verifier}",
        max_age=600,
        path="/auth/oidc",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/auth/oidc/callback")
async def callback(request: Request, services: AppServices) -> Response:
    state, _, verifier = request.cookies.get(FLOW_COOKIE, "").partition(".")
    sent_state = request.query_params.get("state", "")
    code = request.query_params.get("code", "")
    if not state or not code or not pages.same_token(sent_state, state):
        raise FAILED
    token = await services.call(_exchange, services, code, verifier)
    principal = await services.call(services.auth.bearer, token) if token else None
    if principal is None or principal.role not in (Role.PROFESSIONAL, Role.INSURED):
        raise FAILED
    cookie = await services.call(_open_session, services, principal)
    response = pages.redirect("/portal")
    response.delete_cookie(FLOW_COOKIE, path="/auth/oidc")
    pages.set_session_cookie(response, services.runtime.settings, cookie)
    return response


def _exchange(services: Services, code: str, verifier: str) -> str | None:
    """The code for an access token: in process for the development provider, else over HTTP."""
    settings = services.runtime.settings
    redirect_uri = dev_idp.portal_redirect_uri(settings)
    if not settings.oidc_token_url:
        with write_transaction(services.runtime.engine) as conn:
            claims = dev_idp.redeem_code(
                conn,
                code=code,
                client_id=dev_idp.PORTAL_CLIENT_ID,
                redirect_uri=redirect_uri,
                verifier=verifier,
            )
            if claims is None:
                return None
            subject = str(claims.pop("sub"))
            return issue_access_token(
                conn, services.auth.keys, settings, subject=subject, claims=claims
            )
    body = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": settings.oidc_client_id,
            "code_verifier": verifier,
        }
    ).encode()
    if not settings.oidc_token_url.startswith("https://"):
        return None
    request = urllib.request.Request(settings.oidc_token_url, data=body, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (https checked)
            token = json.loads(answer.read(65536)).get("access_token")
    except (OSError, ValueError):
        return None
    return token if isinstance(token, str) else None


def _open_session(services: Services, principal: Principal) -> str:
    professional = principal.professional
    identity = SessionIdentity(
        principal.role,
        principal.subject,
        professional_id=professional.id if professional else None,
        insured_index=principal.insured_index,
    )
    with write_transaction(services.runtime.engine) as conn:
        cookie, _ = sessions.create_session(
            conn, services.runtime.settings, identity, stage=sessions.ACTIVE
        )
        record(conn, Event("sign_in", principal.subject, "ok", detail={"step": "oidc"}))
    return cookie


# --- The development identity provider's authorization page ----------------------------------


def _authorize_params(services: Services, values: dict[str, str]) -> dict[str, str]:
    settings = services.runtime.settings
    if not settings.dev_idp:
        raise NOT_AVAILABLE
    params = {name: values.get(name, "") for name in AUTHORIZE_PARAMS}
    valid = (
        params["response_type"] == "code"
        and params["client_id"] == dev_idp.PORTAL_CLIENT_ID
        and params["redirect_uri"] == dev_idp.portal_redirect_uri(settings)
        and params["code_challenge_method"] == "S256"
        and 43 <= len(params["code_challenge"]) <= 128
        and 0 < len(params["state"]) <= 200
    )
    if not valid:
        raise HTTPException(400, "demande d'autorisation invalide (client, redirection ou PKCE)")
    return params


@router.get("/oauth/authorize")
async def authorize_page(request: Request, services: AppServices) -> Response:
    params = _authorize_params(services, dict(request.query_params))
    csrf = pages.form_csrf(request)
    response = pages.render(request, "authorize.html", {"csrf": csrf, "params": params})
    pages.keep_form_csrf(response, services.runtime.settings, csrf)
    return response


@router.post("/oauth/authorize")
async def authorize(request: Request, services: AppServices) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    params = _authorize_params(services, form)
    if not pages.double_submit_ok(request, form.get("csrf")):
        raise HTTPException(403, "jeton anti-CSRF absent ou invalide")
    code = await services.call(_code_for, services, params, form)
    if code is None:
        context = {
            "csrf": form.get("csrf", ""),
            "params": params,
            "error": "Connexion refusée : informations non reconnues.",
        }
        return pages.render(request, "authorize.html", context, status=401)
    query = urllib.parse.urlencode({"code": code, "state": params["state"]})
    return pages.redirect(params["redirect_uri"] + "?" + query)


def _code_for(services: Services, params: dict[str, str], form: dict[str, str]) -> str | None:
    runtime = services.runtime
    keyring = runtime.current_keyring()
    with write_transaction(runtime.engine) as conn:
        try:
            if form.get("kind") == "insured":
                subject, claims = dev_idp.insured_claims(
                    conn,
                    keyring,
                    form.get("nir", ""),
                    form.get("birth_date", ""),
                    form.get("rank", ""),
                )
            else:
                subject, claims = dev_idp.professional_claims(conn, form.get("rpps", "").strip())
        except dev_idp.DevSignInError:
            return None
        return dev_idp.create_code(
            conn,
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            challenge=params["code_challenge"],
            subject=subject,
            claims=claims,
        )
