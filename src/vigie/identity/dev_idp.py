"""The built-in development identity provider: authorization code flow with PKCE (S256) for the
portal, and direct issue for ``vigie token issue``. It proves nothing about who signs in (a
professional gives an RPPS, an insured person NIR + birth date + rank): development and demo
only, refused by production settings.

Invariant: a code is bound to its client, redirect URI and PKCE challenge, lives a minute, and is
redeemed at most once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from vigie.config import Settings
from vigie.crypto.keyring import Keyring
from vigie.identity.identifiers import is_valid_rpps
from vigie.identity.issuer_keys import SIGNING_ALG
from vigie.identity.models import AuthorizationCode
from vigie.identity.principal import Role
from vigie.identity.service import find_professional
from vigie.identity.token_principals import insured_subject
from vigie.rights.identifiers import IdentifierError, canonical_nir
from vigie.rights.models import Beneficiary
from vigie.rights.protected import cardless_message

PORTAL_CLIENT_ID = "vigie-portal"
CODE_LIFETIME = timedelta(minutes=1)


class DevSignInError(ValueError):
    """The development sign-in cannot proceed; the message is French and quotes no input."""


def discovery(settings: Settings) -> dict[str, Any]:
    issuer = settings.local_issuer()
    document: dict[str, Any] = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/oauth/jwks",
        "token_endpoint": f"{issuer}/oauth/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["Ed25519", "ES256", "RS256", "PS256"],
        "id_token_signing_alg_values_supported": [SIGNING_ALG],
        "scopes_supported": ["openid", "eligibility"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "code_challenge_methods_supported": ["S256"],
    }
    if settings.dev_idp:
        document["authorization_endpoint"] = f"{issuer}/oauth/authorize"
        document["grant_types_supported"] = ["authorization_code", "client_credentials"]
    return document


def portal_redirect_uri(settings: Settings) -> str:
    return settings.local_issuer() + "/auth/oidc/callback"


def professional_claims(conn: Connection, rpps: str) -> tuple[str, dict[str, Any]]:
    if not is_valid_rpps(rpps):
        raise DevSignInError("numéro RPPS invalide")
    view = find_professional(conn, rpps)
    if view is None:
        raise DevSignInError("professionnel inconnu de Vigie")
    return f"rpps:{rpps}", {"rpps": rpps, "profession": str(view.profession)}


def insured_claims(
    conn: Connection, keyring: Keyring, nir: str, birth_date: str, rank: str
) -> tuple[str, dict[str, Any]]:
    """The insured person's cardless blind index, if Vigie knows a beneficiary with it."""
    refused = DevSignInError("aucun bénéficiaire ne correspond à ces informations")
    try:
        message = cardless_message(
            canonical_nir(nir), date.fromisoformat(birth_date.strip()), int(rank)
        )
    except (IdentifierError, ValueError) as exc:
        raise refused from exc
    candidates = keyring.blind_index_candidates(message)
    found = conn.execute(
        select(Beneficiary.id).where(Beneficiary.cardless_index.in_(candidates)).limit(1)
    ).first()
    if found is None:
        raise refused
    index = keyring.blind_index(message)
    return insured_subject(index), {"vigie_role": str(Role.INSURED), "insured_index": index.hex()}


def create_code(
    conn: Connection,
    *,
    client_id: str,
    redirect_uri: str,
    challenge: str,
    subject: str,
    claims: dict[str, Any],
    now: datetime | None = None,
) -> str:
    now = now or datetime.now(UTC)
    code = secrets.token_urlsafe(32)
    conn.execute(
        insert(AuthorizationCode).values(
            digest=_digest(code),
            client_id=client_id,
            redirect_uri=redirect_uri,
            challenge=challenge,
            claims={**claims, "sub": subject},
            expires_at=now + CODE_LIFETIME,
        )
    )
    return code


def redeem_code(
    conn: Connection,
    *,
    code: str,
    client_id: str,
    redirect_uri: str,
    verifier: str,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The claims the code was issued for, once; None for anything wrong (same answer)."""
    now = now or datetime.now(UTC)
    row = conn.execute(
        select(AuthorizationCode).where(AuthorizationCode.digest == _digest(code))
    ).first()
    if row is None or row.used_at is not None or _aware(row.expires_at) <= now:
        return None
    spent = conn.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.digest == row.digest, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    matches = (
        hmac.compare_digest(row.client_id, client_id)
        and hmac.compare_digest(row.redirect_uri, redirect_uri)
        and hmac.compare_digest(row.challenge, s256(verifier))
    )
    if spent != 1 or not matches:
        return None
    claims: dict[str, Any] = dict(row.claims)
    return claims


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; every stored moment is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
