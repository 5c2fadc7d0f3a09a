"""The development identity provider: discovery, JWKS, authorization code + PKCE (S256) for the
portal (professional and insured), and its refusal in production."""

from __future__ import annotations

import re
import secrets
import urllib.parse

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tests.factories import ALICE, RPPS, load_people, professional_token, request
from tests.web.conftest import BASE, field
from vigie.config import Settings
from vigie.identity import dev_idp
from vigie.rights.protected import cardless_message
from vigie.runtime import Runtime


def _authorize(client: TestClient, **override: str) -> tuple[dict[str, str], str]:
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": dev_idp.PORTAL_CLIENT_ID,
        "redirect_uri": f"{BASE}/auth/oidc/callback",
        "state": "s" * 20,
        "code_challenge": dev_idp.s256(verifier),
        "code_challenge_method": "S256",
        "scope": "openid",
        **override,
    }
    return params, verifier


def _code(client: TestClient, params: dict[str, str], **fields: str) -> str | None:
    page = client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    form = {**params, "csrf": field(page.text, "csrf"), **fields}
    answer = client.post("/oauth/authorize", data=form, follow_redirects=False)
    if answer.status_code != 303:
        return None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(answer.headers["location"]).query)
    assert query["state"] == [params["state"]]
    return query["code"][0]


def _exchange(client: TestClient, params: dict[str, str], code: str, verifier: str) -> int:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": params["client_id"],
        "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier,
    }
    answer = client.post("/oauth/token", data=form)
    return answer.status_code if answer.status_code != 200 else 200


def test_discovery_and_jwks(portal: TestClient) -> None:
    document = portal.get("/.well-known/openid-configuration").json()
    assert document["issuer"] == BASE and document["code_challenge_methods_supported"] == ["S256"]
    keys = portal.get(urllib.parse.urlsplit(document["jwks_uri"]).path).json()["keys"]
    assert keys and all("d" not in k for k in keys)  # public halves only


def test_code_flow_with_pkce(portal: TestClient, runtime: Runtime) -> None:
    load_people(runtime)
    professional_token(runtime)  # registers the professional
    params, verifier = _authorize(portal)
    code = _code(portal, params, kind="professional", rpps=RPPS)
    assert code is not None
    assert _exchange(portal, params, code, "wrong-" + verifier) == 400  # PKCE mismatch spends it
    params, verifier = _authorize(portal)
    code = _code(portal, params, kind="professional", rpps=RPPS)
    assert code is not None
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": params["client_id"],
        "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier,
    }
    answer = portal.post("/oauth/token", data=form)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    token = answer.json()["access_token"]
    eligibility = portal.post(
        "/v1/eligibility", json=request(ALICE), headers={"Authorization": f"Bearer {token}"}
    )
    assert eligibility.status_code == 200 and eligibility.json()["eligible"] is True
    assert portal.post("/oauth/token", data=form).status_code == 400  # a code is used once


@pytest.mark.parametrize(
    "override",
    [
        {"client_id": "someone"},
        {"redirect_uri": "https://evil.example/cb"},
        {"code_challenge_method": "plain"},
        {"code_challenge": "short"},
    ],
)
def test_bad_authorization_requests_are_refused(
    portal: TestClient, override: dict[str, str]
) -> None:
    params, _ = _authorize(portal, **override)
    assert portal.get("/oauth/authorize", params=params).status_code == 400


def test_unknown_professional_gets_no_code(portal: TestClient) -> None:
    params, _ = _authorize(portal)
    assert _code(portal, params, kind="professional", rpps=RPPS) is None


def test_portal_sign_in_as_professional_and_insured(portal: TestClient, runtime: Runtime) -> None:
    load_people(runtime)
    professional_token(runtime)
    start = portal.get("/auth/oidc/start", follow_redirects=False)
    assert start.status_code == 303
    authorize = urllib.parse.urlsplit(start.headers["location"])
    params = dict(urllib.parse.parse_qsl(authorize.query))
    page = portal.get("/oauth/authorize", params=params)
    form = {**params, "csrf": field(page.text, "csrf"), "kind": "professional", "rpps": RPPS}
    home = portal.post("/oauth/authorize", data=form)
    assert home.status_code == 200 and "professionnel de santé" in home.text
    portal.cookies.clear()

    start = portal.get("/auth/oidc/start", follow_redirects=False)
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["location"]).query))
    page = portal.get("/oauth/authorize", params=params)
    form = {
        **params,
        "csrf": field(page.text, "csrf"),
        "kind": "insured",
        "nir": ALICE.nir,
        "birth_date": ALICE.birth_date.isoformat(),
        "rank": str(ALICE.birth_rank),
    }
    home = portal.post("/oauth/authorize", data=form)
    assert home.status_code == 200 and "assuré" in home.text
    assert ALICE.nir not in home.text and not re.search(r"[0-9a-f]{64}", home.text)
    who = portal.app.state.services.auth  # type: ignore[attr-defined]
    found = who.session(portal.cookies.get("vigie_session"))
    assert found is not None and found[0].insured_index == runtime.keyring.blind_index(
        cardless_message(ALICE.nir, ALICE.birth_date, ALICE.birth_rank)
    )


def test_callback_refuses_a_state_mismatch(portal: TestClient) -> None:
    portal.get("/auth/oidc/start", follow_redirects=False)
    answer = portal.get("/auth/oidc/callback", params={"code": "x", "state": "forged"})
    assert answer.status_code == 401


def test_production_refuses_the_development_provider(tmp_path: object) -> None:
    with pytest.raises(ValidationError, match="production"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="COOKIE_SECURE"):
        Settings(environment="production", dev_idp=False, cookie_secure=False)
    assert not Settings(environment="production", dev_idp=False).dev_idp


def test_without_the_development_provider_there_is_no_authorize(
    portal: TestClient, runtime: Runtime
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"dev_idp": False})
    params, _ = _authorize(portal)
    assert portal.get("/oauth/authorize", params=params).status_code == 404
    assert "authorization_endpoint" not in portal.get("/.well-known/openid-configuration").json()
    form = {"grant_type": "authorization_code", "code": "x"}
    assert portal.post("/oauth/token", data=form).json()["error"] == "unsupported_grant_type"
