"""From a verified access token to a Principal.

Decisions: a professional named by a token but not registered in Vigie is refused (registration
comes from the professionals' directory import, which also gives the structure and postcode the
guard's quotas rely on); only Vigie's own token service may assert a Vigie role (insured) or a
client identity: an outside issuer's tokens only ever name professionals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from vigie.identity.identifiers import is_valid_rpps
from vigie.identity.jwt_verify import VerifiedToken
from vigie.identity.models import ApiClient
from vigie.identity.principal import Principal, Role
from vigie.identity.service import find_professional


def principal_of(
    conn: Connection, token: VerifiedToken, *, rpps_claim: str = "rpps"
) -> Principal | None:
    claims = token.claims
    if token.issuer.local and claims.get("vigie_role") == Role.INSURED:
        return _insured(claims.get("insured_index"))
    rpps = claims.get("rpps") if token.issuer.local else national_rpps(claims.get(rpps_claim))
    if not isinstance(rpps, str) or not is_valid_rpps(rpps):
        return None
    view = find_professional(conn, rpps)
    if view is None:
        return None
    scopes: frozenset[str] | None = None
    client_id = claims.get("client_id") if token.issuer.local else None
    if client_id is not None:
        structure = conn.execute(
            select(ApiClient.structure_id).where(
                ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None)
            )
        ).scalar()
        if structure is None or structure != view.structure_id:
            return None
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    return Principal(
        Role.PROFESSIONAL,
        f"rpps:{view.rpps}",
        professional=view,
        scopes=scopes,
        step_up_at=authenticated_at(claims),
        via="bearer",
    )


def authenticated_at(claims: Mapping[str, object]) -> datetime | None:
    """When the holder last proved who they are: OIDC's ``auth_time``, else the token's ``iat``
    (a new token is a new proof: a sign-in at the issuer, or a client's signed assertion). The
    guard's step-up asks for a token fresher than this."""
    moment = claims.get("auth_time", claims.get("iat"))
    if isinstance(moment, bool) or not isinstance(moment, int | float):
        return None
    return datetime.fromtimestamp(moment, UTC)


def national_rpps(value: object) -> str | None:
    """An RPPS from an outside claim: as is, or a national id "8" + RPPS (Pro Santé Connect)."""
    if not isinstance(value, str):
        return None
    if len(value) == 12 and value.startswith("8"):
        return value[1:]
    return value


def _insured(index_hex: object) -> Principal | None:
    if not isinstance(index_hex, str) or len(index_hex) != 64:
        return None
    try:
        index = bytes.fromhex(index_hex)
    except ValueError:
        return None
    return Principal(Role.INSURED, insured_subject(index), insured_index=index, via="bearer")


def insured_subject(index: bytes) -> str:
    """A stable pseudonym for logs: a digest of the blind index, never the index itself."""
    return "insured:" + hashlib.sha256(b"vigie:subject:" + index).hexdigest()[:20]
