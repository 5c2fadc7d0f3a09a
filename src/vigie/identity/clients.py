"""Practice-software clients: one key pair per client of a structure, ``private_key_jwt``
(RFC 7523) at the token endpoint, no shared secret anywhere.

Invariant: a client assertion is accepted once (its ``jti`` is spent), only with the client's
registered public key, only while the client is not revoked; the access token it buys names a
professional of the client's own structure and at most the client's scopes.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from joserfc.jws import extract_compact
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from vigie.config import Settings
from vigie.identity.identifiers import is_valid_finess, is_valid_rpps
from vigie.identity.issuer_keys import IssuerKeys
from vigie.identity.models import ApiClient, Structure, UsedAssertion
from vigie.identity.service import RegistrationError, find_professional
from vigie.identity.token_service import issue_access_token, revoke_client_tokens

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPES = frozenset({"eligibility"})
ASSERTION_ALGORITHMS = ("Ed25519", "ES256", "RS256", "PS256")
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)


class ClientError(Exception):
    """The token request is refused; ``error`` is the OAuth code, the message is French."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class IssuedAccess:
    access_token: str
    expires_in: int
    scope: str


def add_client(
    conn: Connection,
    *,
    finess: str,
    name: str,
    public_jwk: dict[str, Any],
    scopes: frozenset[str],
    now: datetime | None = None,
) -> str:
    """Register a client of the structure ``finess``; returns its new ``client_id``."""
    if not is_valid_finess(finess):
        raise RegistrationError("numéro FINESS invalide (9 chiffres, clé de Luhn)")
    structure = conn.execute(select(Structure.id).where(Structure.finess == finess)).scalar()
    if structure is None:
        raise RegistrationError("structure inconnue : enregistrez d'abord ses professionnels")
    if not scopes or not scopes <= SCOPES:
        raise RegistrationError("portées possibles : " + ", ".join(sorted(SCOPES)))
    public = _public_key(public_jwk)
    client_id = "cl_" + secrets.token_urlsafe(12)
    conn.execute(
        insert(ApiClient).values(
            client_id=client_id,
            structure_id=structure,
            name=name.strip()[:200] or "logiciel",
            public_jwk=public,
            scopes=" ".join(sorted(scopes)),
            created_at=now or datetime.now(UTC),
        )
    )
    return client_id


def _public_key(jwk: dict[str, Any]) -> dict[str, Any]:
    if "d" in jwk or "p" in jwk:
        raise RegistrationError("donnez la clé publique seulement, jamais la clé privée")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise RegistrationError("clé publique JWK illisible") from exc
    if key.key_type not in ("OKP", "EC", "RSA"):
        raise RegistrationError("clé asymétrique attendue (OKP, EC ou RSA)")
    return dict(key.as_dict(private=False))


def revoke_client(conn: Connection, client_id: str, *, now: datetime | None = None) -> bool:
    """Revoke the client and every token it holds; False if there is no such active client."""
    now = now or datetime.now(UTC)
    done = conn.execute(
        update(ApiClient)
        .where(ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    revoke_client_tokens(conn, client_id, now=now)
    return bool(done)


def client_credentials(
    conn: Connection,
    keys: IssuerKeys,
    settings: Settings,
    *,
    assertion: str,
    rpps: str,
    scope: str | None,
    now: datetime | None = None,
) -> IssuedAccess:
    """The client_credentials grant: check the assertion, spend it, sign an access token."""
    now = now or datetime.now(UTC)
    claims, client = _checked_assertion(conn, settings, assertion, now)
    if not is_valid_rpps(rpps):
        raise ClientError("invalid_request", "numéro RPPS du professionnel attendu (rpps)")
    view = find_professional(conn, rpps)
    if view is None or view.structure_id != client.structure_id:
        raise ClientError("invalid_grant", "ce professionnel n'exerce pas dans cette structure")
    allowed = frozenset(client.scopes.split())
    wanted = frozenset(scope.split()) if scope else allowed
    if not wanted or not wanted <= allowed:
        raise ClientError("invalid_scope", "portée non autorisée pour ce client")
    _spend(conn, f"{client.client_id}:{claims['jti']}", datetime.fromtimestamp(claims["exp"], UTC))
    ttl = timedelta(minutes=settings.access_token_minutes)
    token = issue_access_token(
        conn,
        keys,
        settings,
        subject=f"rpps:{rpps}",
        claims={"rpps": rpps, "profession": view.profession, "scope": " ".join(sorted(wanted))},
        ttl=ttl,
        client_id=client.client_id,
        now=now,
    )
    return IssuedAccess(token, int(ttl.total_seconds()), " ".join(sorted(wanted)))


def _checked_assertion(
    conn: Connection, settings: Settings, assertion: str, now: datetime
) -> tuple[dict[str, Any], Any]:
    invalid = ClientError("invalid_client", "authentification du client refusée")
    try:
        unverified = json.loads(extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise invalid from exc
    client_id = unverified.get("iss") if isinstance(unverified, dict) else None
    if not isinstance(client_id, str) or unverified.get("sub") != client_id:
        raise invalid
    client = conn.execute(
        select(ApiClient).where(ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None))
    ).first()
    if client is None:
        raise invalid
    try:
        key = JWKRegistry.import_key(client.public_jwk)
        decoded = jwt.decode(assertion, key, algorithms=list(ASSERTION_ALGORITHMS))
        jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=settings.oidc_leeway_seconds,
            aud={"essential": True, "value": token_endpoint(settings)},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise invalid from exc
    exp = decoded.claims["exp"]
    if exp - now.timestamp() > MAX_ASSERTION_LIFETIME.total_seconds():
        raise invalid
    return decoded.claims, client


def _spend(conn: Connection, key: str, expires: datetime) -> None:
    """Record a single-use proof; a second use is refused as a replay."""
    values = {"key": key[:300], "expires_at": expires}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(UsedAssertion)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(UsedAssertion.key)
    )
    if conn.execute(statement).first() is None:
        raise ClientError("invalid_client", "assertion déjà utilisée (rejeu refusé)")


def token_endpoint(settings: Settings) -> str:
    return settings.local_issuer() + "/oauth/token"
