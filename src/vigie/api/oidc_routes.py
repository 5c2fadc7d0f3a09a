"""Vigie's token service over HTTP: discovery, JWKS, and the token endpoint (client credentials
with private_key_jwt; authorization code with PKCE for the development identity provider).

Public routes: they are how a caller gets credentials in the first place.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from vigie.api.deps import AppServices
from vigie.db.engine import write_transaction
from vigie.identity import clients, dev_idp
from vigie.identity.token_service import issue_access_token
from vigie.runtime import Runtime

router = APIRouter(tags=["oidc"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(error: str, message: str, status: int = 400) -> Response:
    return JSONResponse(
        {"error": error, "error_description": message}, status_code=status, headers=NO_STORE
    )


@router.get("/.well-known/openid-configuration")
async def discovery(services: AppServices) -> JSONResponse:
    return JSONResponse(dev_idp.discovery(services.runtime.settings))


@router.get("/oauth/jwks")
async def jwks(services: AppServices) -> JSONResponse:
    return JSONResponse(services.auth.keys.public_jwks(), headers={"Cache-Control": "max-age=300"})


@router.post("/oauth/token")
async def token(request: Request, services: AppServices) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    grant = fields.get("grant_type")
    if grant == "client_credentials":
        return await services.call(_client_credentials, services, fields)
    if grant == "authorization_code" and services.runtime.settings.dev_idp:
        return await services.call(_authorization_code, services, fields)
    return oauth_error("unsupported_grant_type", "type d'autorisation non pris en charge")


def _client_credentials(services: AppServices, fields: dict[str, str]) -> Response:
    if fields.get("client_assertion_type") != clients.ASSERTION_TYPE:
        return oauth_error("invalid_client", "authentification private_key_jwt attendue", 401)
    runtime: Runtime = services.runtime
    try:
        with write_transaction(runtime.engine) as conn:
            issued = clients.client_credentials(
                conn,
                services.auth.keys,
                runtime.settings,
                assertion=fields.get("client_assertion", ""),
                rpps=fields.get("rpps", ""),
                scope=fields.get("scope"),
            )
    except clients.ClientError as exc:
        return oauth_error(exc.error, str(exc), 401 if exc.error == "invalid_client" else 400)
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }
    return JSONResponse(body, headers=NO_STORE)


def _authorization_code(services: AppServices, fields: dict[str, str]) -> Response:
    runtime = services.runtime
    with write_transaction(runtime.engine) as conn:
        claims = dev_idp.redeem_code(
            conn,
            code=fields.get("code", ""),
            client_id=fields.get("client_id", ""),
            redirect_uri=fields.get("redirect_uri", ""),
            verifier=fields.get("code_verifier", ""),
        )
        if claims is None:
            return oauth_error("invalid_grant", "code invalide, expiré ou déjà utilisé")
        subject = str(claims.pop("sub"))
        access = issue_access_token(
            conn, services.auth.keys, runtime.settings, subject=subject, claims=claims
        )
    minutes = runtime.settings.access_token_minutes
    body = {"access_token": access, "token_type": "Bearer", "expires_in": minutes * 60}
    return JSONResponse(body, headers=NO_STORE)
