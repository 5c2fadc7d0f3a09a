"""WebAuthn security keys as the second factor of staff accounts: registration (from a signed-in
session with a recent step-up) and authentication (instead of a TOTP code).

Invariant: each challenge is stored on the session that asked for it and spent by the first
answer, right or wrong; a key's signature counter must move forward (a cloned key is refused).
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    UserVerificationRequirement,
)

from vigie.config import Settings
from vigie.identity.models import Session as SessionRow
from vigie.identity.models import User, WebAuthnCredential
from vigie.identity.sessions import digest

RP_NAME = "Vigie"


def relying_party(settings: Settings) -> tuple[str, str]:
    """(RP id, origin) from the public URL: the browser checks both."""
    parts = urllib.parse.urlsplit(settings.local_issuer())
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def registration_options(
    conn: Connection, settings: Settings, session_token: str, user_id: int
) -> str:
    rp_id, _ = relying_party(settings)
    email = conn.execute(select(User.email).where(User.id == user_id)).scalar_one()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_name=email,
        user_id=f"user:{user_id}".encode(),
        exclude_credentials=_descriptors(conn, user_id),
        authenticator_selection=AuthenticatorSelectionCriteria(
            user_verification=UserVerificationRequirement.PREFERRED
        ),
    )
    _remember(conn, session_token, options.challenge)
    return options_to_json(options)


def register(
    conn: Connection, settings: Settings, session_token: str, user_id: int, credential: str
) -> bool:
    challenge = _spend(conn, session_token)
    rp_id, origin = relying_party(settings)
    if challenge is None:
        return False
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return False
    known = conn.execute(
        select(WebAuthnCredential.id).where(
            WebAuthnCredential.credential_id == verified.credential_id
        )
    ).first()
    if known is not None:
        return False
    conn.execute(
        insert(WebAuthnCredential).values(
            user_id=user_id,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            created_at=datetime.now(UTC),
        )
    )
    return True


def authentication_options(
    conn: Connection, settings: Settings, session_token: str, user_id: int
) -> str | None:
    """Options for the user's keys; None when the user has none (TOTP then)."""
    allowed = _descriptors(conn, user_id)
    if not allowed:
        return None
    rp_id, _ = relying_party(settings)
    options = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _remember(conn, session_token, options.challenge)
    return options_to_json(options)


def authenticate(
    conn: Connection, settings: Settings, session_token: str, user_id: int, credential: str
) -> bool:
    challenge = _spend(conn, session_token)
    if challenge is None:
        return False
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return False
    stored = conn.execute(
        select(WebAuthnCredential).where(
            WebAuthnCredential.credential_id == parsed.raw_id,
            WebAuthnCredential.user_id == user_id,
        )
    ).first()
    if stored is None:
        return False
    rp_id, origin = relying_party(settings)
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=stored.public_key,
            credential_current_sign_count=stored.sign_count,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return False
    conn.execute(
        update(WebAuthnCredential)
        .where(WebAuthnCredential.id == stored.id)
        .values(sign_count=verified.new_sign_count)
    )
    return True


def _descriptors(conn: Connection, user_id: int) -> list[PublicKeyCredentialDescriptor]:
    ids = conn.execute(
        select(WebAuthnCredential.credential_id).where(WebAuthnCredential.user_id == user_id)
    ).scalars()
    return [PublicKeyCredentialDescriptor(id=bytes(i)) for i in ids]


def _remember(conn: Connection, session_token: str, challenge: bytes) -> None:
    conn.execute(
        update(SessionRow)
        .where(SessionRow.digest == digest(session_token))
        .values(challenge=challenge)
    )


def _spend(conn: Connection, session_token: str) -> bytes | None:
    key = digest(session_token)
    challenge = conn.execute(select(SessionRow.challenge).where(SessionRow.digest == key)).scalar()
    conn.execute(update(SessionRow).where(SessionRow.digest == key).values(challenge=None))
    return bytes(challenge) if challenge else None
