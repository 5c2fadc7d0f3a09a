"""Practice-software clients: private_key_jwt at the token endpoint, scoped short-lived tokens,
single-use assertions, revocation."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey

from tests.factories import ALICE, RPPS, load_people, request
from tests.web.conftest import BASE
from vigie.db.engine import write_transaction
from vigie.identity import clients
from vigie.identity.clients import ASSERTION_TYPE
from vigie.identity.identifiers import with_luhn_key
from vigie.identity.service import RegistrationError, add_professional
from vigie.runtime import Runtime

FINESS = with_luhn_key("75000001")
OTHER_FINESS = with_luhn_key("69000001")
OTHER_RPPS = with_luhn_key("1000000005")


@pytest.fixture
def client_key(runtime: Runtime) -> tuple[str, OKPKey]:
    """A registered client of FINESS, its private key kept by the practice software."""
    key = OKPKey.generate_key("Ed25519", auto_kid=True)
    with write_transaction(runtime.engine) as conn:
        for rpps, finess, name in ((RPPS, FINESS, "Pharmacie"), (OTHER_RPPS, OTHER_FINESS, "Lab")):
            add_professional(
                conn,
                rpps=rpps,
                profession="pharmacist",
                postcode="75011",
                structure_finess=finess,
                structure_name=name,
            )
        client_id = clients.add_client(
            conn,
            finess=FINESS,
            name="LGO",
            public_jwk=dict(key.as_dict(private=False)),
            scopes=frozenset({"eligibility"}),
        )
    return client_id, key


def assertion(client_id: str, key: Any, alg: str = "Ed25519", **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{BASE}/oauth/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        **changes,
    }
    payload = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg}, payload, key, algorithms=[alg])


def ask(portal: TestClient, signed: str, rpps: str = RPPS, **extra: str) -> Any:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
        "rpps": rpps,
        **extra,
    }
    return portal.post("/oauth/token", data=form)


def test_a_client_gets_a_scoped_short_token(
    portal: TestClient, runtime: Runtime, client_key: tuple[str, OKPKey]
) -> None:
    load_people(runtime)
    client_id, key = client_key
    answer = ask(portal, assertion(client_id, key), scope="eligibility")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["scope"] == "eligibility" and body["expires_in"] == 600
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert portal.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code == 200
    assert portal.get("/v1/admin/plans", headers=auth).status_code == 403


def test_a_replayed_assertion_is_refused(
    portal: TestClient, client_key: tuple[str, OKPKey]
) -> None:
    client_id, key = client_key
    signed = assertion(client_id, key)
    assert ask(portal, signed).status_code == 200
    replay = ask(portal, signed)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


def test_bad_assertions_are_refused(portal: TestClient, client_key: tuple[str, OKPKey]) -> None:
    client_id, key = client_key
    stranger = OKPKey.generate_key("Ed25519", auto_kid=True)
    now = int(time.time())
    bad = {
        "signed by another key": assertion(client_id, stranger),
        "wrong audience": assertion(client_id, key, aud="https://elsewhere/token"),
        "expired": assertion(client_id, key, iat=now - 600, exp=now - 300),
        "too long-lived": assertion(client_id, key, exp=now + 3600),
        "no jti": assertion(client_id, key, jti=None),
        "sub is not the client": assertion(client_id, key, sub="cl_other"),
        "unknown client": assertion("cl_unknown", key),
        "not a JWT": "not.a.jwt",
    }
    for label, signed in bad.items():
        answer = ask(portal, signed)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client", label
    form = {"grant_type": "client_credentials", "client_assertion": assertion(client_id, key)}
    assert portal.post("/oauth/token", data=form).status_code == 401  # no assertion type


def test_scope_and_structure_are_bounded(
    portal: TestClient, client_key: tuple[str, OKPKey]
) -> None:
    client_id, key = client_key
    wider = ask(portal, assertion(client_id, key), scope="eligibility admin")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    elsewhere = ask(portal, assertion(client_id, key), rpps=OTHER_RPPS)
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_grant"


def test_revoking_a_client_revokes_its_tokens(
    portal: TestClient, runtime: Runtime, client_key: tuple[str, OKPKey]
) -> None:
    load_people(runtime)
    client_id, key = client_key
    token = ask(portal, assertion(client_id, key)).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert portal.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code == 200
    with write_transaction(runtime.engine) as conn:
        assert clients.revoke_client(conn, client_id)
        assert not clients.revoke_client(conn, client_id)
    assert portal.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code == 401
    assert ask(portal, assertion(client_id, key)).status_code == 401


def test_registration_takes_public_keys_only(runtime: Runtime, client_key: Any) -> None:
    ec = ECKey.generate_key("P-256", auto_kid=True)
    with write_transaction(runtime.engine) as conn:
        with pytest.raises(RegistrationError, match="publique"):
            clients.add_client(
                conn,
                finess=FINESS,
                name="x",
                public_jwk=dict(ec.as_dict(private=True)),
                scopes=frozenset({"eligibility"}),
            )
        with pytest.raises(RegistrationError, match="portées"):
            clients.add_client(
                conn,
                finess=FINESS,
                name="x",
                public_jwk=dict(ec.as_dict(private=False)),
                scopes=frozenset({"everything"}),
            )
        assert clients.add_client(
            conn,
            finess=FINESS,
            name="x",
            public_jwk=dict(ec.as_dict(private=False)),
            scopes=frozenset({"eligibility"}),
        ).startswith("cl_")
