"""Tokens for rejection tests: each differs from a valid one in exactly one way."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey

from tests.factories import RPPS, professional_token
from vigie.db.engine import write_transaction
from vigie.identity import issuer_keys
from vigie.identity.identifiers import with_luhn_key
from vigie.identity.token_service import revoke_subject
from vigie.runtime import Runtime

ALG = issuer_keys.SIGNING_ALG


def claims(rt: Runtime, rpps: str = RPPS, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": rt.settings.local_issuer(),
        "aud": rt.settings.oidc_audience,
        "sub": f"rpps:{rpps}",
        "rpps": rpps,
        "profession": "pharmacist",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": f"forged-{now}-{len(changes)}-{sorted(changes)}",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: OKPKey, kid: str | None = None) -> str:
    header = {"alg": ALG, "kid": kid if kid is not None else key.kid}
    return jwt.encode(header, payload, key, algorithms=[ALG])


def our_key(rt: Runtime) -> OKPKey:
    return issuer_keys.load_or_create(rt.settings.issuer_keys_path()).active


def forged_tokens(rt: Runtime) -> dict[str, str]:
    """Label -> a token that must be refused (the professional RPPS is registered)."""
    professional_token(rt)  # registers RPPS
    ours = our_key(rt)
    stranger = OKPKey.generate_key("Ed25519", auto_kid=True)
    now = int(time.time())
    valid = sign(claims(rt), ours)
    head, body, signature = valid.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "bad signature": f"{head}.{body}.{flipped}",
        "signed by a stranger under our kid": sign(claims(rt), stranger, kid=ours.kid),
        "unknown key": sign(claims(rt), stranger),
        "wrong issuer": sign(claims(rt, iss="https://idp.example.invalid"), ours),
        "wrong audience": sign(claims(rt, aud="someone-else"), ours),
        "expired": sign(claims(rt, iat=now - 7200, nbf=now - 7200, exp=now - 3600), ours),
        "not yet valid": sign(claims(rt, nbf=now + 3600, exp=now + 7200), ours),
        "no expiry": sign(claims(rt, exp=None), ours),
        "unregistered professional": sign(claims(rt, rpps=with_luhn_key("1000000077")), ours),
        "alg none": f"{_b64({'alg': 'none'})}.{body}.",
        "revoked": revoked_token(rt),
    }


def revoked_token(rt: Runtime) -> str:
    rpps = with_luhn_key("1000000003")
    token = professional_token(rt, rpps=rpps, profession="nurse")
    with write_transaction(rt.engine) as conn:
        assert revoke_subject(conn, f"rpps:{rpps}") == 1
    return token


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
