"""Staff accounts of the portal: password, then a mandatory second factor (TOTP or a recovery
code), with throttling and a temporary lock after repeated failures.

Invariant: no sign-in step says whether an account exists or why it failed; a password alone
never makes a session active; the failure counter counts both factors and resets only on a full
sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from sqlalchemy import Connection, delete, insert, select, update

from vigie.audit.log import Event, record
from vigie.identity.issuer_keys import IssuerKeys
from vigie.identity.models import RecoveryCode, User, UserAmc
from vigie.identity.passwords import check_policy, hash_password, verify_password
from vigie.identity.principal import Role
from vigie.identity.service import RegistrationError
from vigie.rights.identifiers import IdentifierError, canonical_amc

STAFF_ROLES = (Role.MUTUELLE_ADMIN, Role.SECURITY_OFFICER, Role.DPO)
SLOW_AFTER = 3  # failures before each further attempt has to wait (1 s, 2 s, 4 s, ...)
LOCK_AFTER = 10  # failures that lock the account
LOCK_FOR = timedelta(minutes=15)
RECOVERY_CODES = 10
TOTP_ISSUER = "Vigie"


@dataclass(frozen=True)
class StaffAccount:
    id: int
    email: str
    role: Role
    amcs: frozenset[str]
    totp_confirmed: bool


def add_user(
    conn: Connection, *, email: str, role: str, password: str, amcs: list[str] | None = None
) -> int:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254 or not email.isascii():
        raise RegistrationError("adresse électronique invalide")
    if role not in {str(r) for r in STAFF_ROLES}:
        raise RegistrationError("rôle possible : " + ", ".join(STAFF_ROLES))
    try:
        tenants = sorted({canonical_amc(a) for a in amcs or []})
    except IdentifierError as exc:
        raise RegistrationError(str(exc)) from exc
    if (role == Role.MUTUELLE_ADMIN) != bool(tenants):
        raise RegistrationError("un administrateur de mutuelle, et lui seul, a des numéros AMC")
    check_policy(password, email)
    if conn.execute(select(User.id).where(User.email == email)).first() is not None:
        raise RegistrationError("ce compte existe déjà")
    user_id = int(
        conn.execute(
            insert(User)
            .values(
                email=email,
                role=role,
                password_hash=hash_password(password),
                totp_confirmed=False,
                failed_attempts=0,
                created_at=datetime.now(UTC),
            )
            .returning(User.id)
        ).scalar_one()
    )
    for amc in tenants:
        conn.execute(insert(UserAmc).values(user_id=user_id, amc=amc))
    return user_id


def account(conn: Connection, user_id: int) -> StaffAccount:
    row = conn.execute(select(User).where(User.id == user_id)).one()
    amcs = conn.execute(select(UserAmc.amc).where(UserAmc.user_id == user_id)).scalars()
    return StaffAccount(row.id, row.email, Role(row.role), frozenset(amcs), row.totp_confirmed)


def check_password(
    conn: Connection, email: str, password: str, *, now: datetime | None = None
) -> StaffAccount | None:
    """First factor. None for an unknown account, a wrong password, a throttled or locked
    account: the same answer and the same cost (one argon2 verification) every time."""
    now = now or datetime.now(UTC)
    row = conn.execute(select(User).where(User.email == email.strip().lower()[:254])).first()
    if row is None or _blocked(row, now):
        verify_password(None, password)
        return None
    if not verify_password(row.password_hash, password):
        register_failure(conn, row.id, step="password", now=now)
        return None
    return account(conn, row.id)


def _blocked(row: Any, now: datetime) -> bool:
    return any(
        moment is not None and _aware(moment) > now
        for moment in (row.locked_until, row.throttled_until)
    )


def is_blocked(conn: Connection, user_id: int, *, now: datetime | None = None) -> bool:
    row = conn.execute(select(User).where(User.id == user_id)).one()
    return _blocked(row, now or datetime.now(UTC))


def register_failure(
    conn: Connection, user_id: int, *, step: str = "second_factor", now: datetime | None = None
) -> None:
    """Count a failed factor (and record it in the access log, for the guard's detectors)."""
    now = now or datetime.now(UTC)
    failures = (
        int(conn.execute(select(User.failed_attempts).where(User.id == user_id)).scalar_one()) + 1
    )
    values: dict[str, object] = {"failed_attempts": failures}
    if failures >= LOCK_AFTER:
        values.update(failed_attempts=0, locked_until=now + LOCK_FOR, throttled_until=None)
    elif failures >= SLOW_AFTER:
        values["throttled_until"] = now + timedelta(seconds=2 ** (failures - SLOW_AFTER))
    conn.execute(update(User).where(User.id == user_id).values(**values))
    detail: dict[str, str | int | bool | None] = {"step": step, "locked": failures >= LOCK_AFTER}
    event = Event("sign_in", f"user:{user_id}", "refused", detail=detail)
    record(conn, event, at_us=int(now.timestamp() * 1_000_000))


def signed_in(conn: Connection, user_id: int, *, step: str = "second_factor") -> None:
    """A full sign-in (both factors): the failure counter starts again; recorded."""
    record(conn, Event("sign_in", f"user:{user_id}", "ok", detail={"step": step}))
    conn.execute(
        update(User)
        .where(User.id == user_id)
        .values(failed_attempts=0, throttled_until=None, locked_until=None)
    )


# --- Second factor ---------------------------------------------------------------------------


def _context(user_id: int) -> bytes:
    return b"vigie:totp:" + str(user_id).encode()


def totp_enrolment(conn: Connection, keys: IssuerKeys, user_id: int) -> tuple[str, str]:
    """The secret to enrol and its otpauth:// URI; the same one until it is confirmed."""
    row = conn.execute(select(User).where(User.id == user_id)).one()
    if row.totp_confirmed:
        raise RegistrationError("second facteur déjà enrôlé")
    if row.totp_secret is not None:
        secret = keys.open(row.totp_secret, _context(user_id)).decode()
    else:
        secret = pyotp.random_base32()
        conn.execute(
            update(User)
            .where(User.id == user_id)
            .values(totp_secret=keys.seal(secret.encode(), _context(user_id)), totp_key_id="v1")
        )
    uri = pyotp.TOTP(secret).provisioning_uri(name=row.email, issuer_name=TOTP_ISSUER)
    return secret, uri


def confirm_enrolment(
    conn: Connection, keys: IssuerKeys, user_id: int, code: str, *, now: datetime | None = None
) -> list[str] | None:
    """Confirm the TOTP enrolment with a first code; returns fresh recovery codes (shown once)."""
    if not verify_totp(conn, keys, user_id, code, now=now):
        return None
    conn.execute(update(User).where(User.id == user_id).values(totp_confirmed=True))
    return new_recovery_codes(conn, user_id)


def verify_totp(
    conn: Connection, keys: IssuerKeys, user_id: int, code: str, *, now: datetime | None = None
) -> bool:
    """A current code (±30 s), never one already used: each time step counts once."""
    now = now or datetime.now(UTC)
    row = conn.execute(select(User).where(User.id == user_id)).one()
    code = code.strip().replace(" ", "")
    if row.totp_secret is None or len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(keys.open(row.totp_secret, _context(user_id)).decode())
    current = int(now.timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if row.totp_last_step is not None and step <= row.totp_last_step:
                return False  # replayed code
            conn.execute(update(User).where(User.id == user_id).values(totp_last_step=step))
            return True
    return False


def new_recovery_codes(conn: Connection, user_id: int) -> list[str]:
    conn.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    for code in codes:
        conn.execute(insert(RecoveryCode).values(user_id=user_id, digest=_code_digest(code)))
    return codes


def use_recovery_code(
    conn: Connection, user_id: int, code: str, *, now: datetime | None = None
) -> bool:
    spent = conn.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.digest == _code_digest(code.strip().lower()),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now or datetime.now(UTC))
    ).rowcount
    return bool(spent)


def _code_digest(code: str) -> bytes:
    # 64 random bits per code: a fast digest is enough (nothing to guess offline cheaply).
    return hashlib.sha256(b"vigie:recovery:" + code.encode()).digest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def demo_account(
    conn: Connection, keys: IssuerKeys, *, email: str, role: str, amcs: list[str] | None = None
) -> tuple[str, str]:
    """Development only (``vigie demo-request``): an account with a fresh random password and an
    already enrolled TOTP secret, both returned to be printed. An existing one is reset."""
    password = "Demo-" + secrets.token_urlsafe(12) + "-9a"
    secret = pyotp.random_base32()
    existing = conn.execute(select(User.id).where(User.email == email)).scalar()
    if existing is None:
        user_id = add_user(conn, email=email, role=role, password=password, amcs=amcs)
    else:
        user_id = int(existing)
        conn.execute(
            update(User).where(User.id == user_id).values(password_hash=hash_password(password))
        )
    conn.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            totp_secret=keys.seal(secret.encode(), _context(user_id)),
            totp_key_id="v1",
            totp_confirmed=True,
            totp_last_step=None,
            failed_attempts=0,
            throttled_until=None,
            locked_until=None,
        )
    )
    return password, secret
