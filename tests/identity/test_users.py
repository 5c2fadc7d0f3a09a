"""Staff accounts: the password rule, throttling then locking, TOTP replay, sessions' timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from vigie.audit.models import LogEntry
from vigie.db.engine import write_transaction
from vigie.identity import issuer_keys, sessions, users
from vigie.identity.passwords import PasswordRejected, check_policy
from vigie.identity.principal import Role
from vigie.identity.service import RegistrationError
from vigie.identity.sessions import SessionIdentity
from vigie.identity.token_service import issue_access_token, purge_expired
from vigie.runtime import Runtime

PASSWORD = "Correct-Horse-42-battery"
EMAIL = "admin@mutuelle.example"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "password",
    [
        "Aa1!aaaaaaaa",  # 12 characters of 4 kinds
        "Abcdefgh1234xy",  # 14 characters of 3 kinds (CNIL example 2)
        "cheval agrafe correct pile lune vert orange",  # a passphrase of 7 words
    ],
)
def test_the_cnil_rule_accepts(password: str) -> None:
    check_policy(password, EMAIL)


@pytest.mark.parametrize(
    "password",
    [
        "Aa1!aaaaaaa",  # 11 characters
        "abcdefghijklmn",  # one kind
        "cheval agrafe correct pile",  # 4 words
        "Admin-42-mutuelle!",  # contains the account name
    ],
)
def test_the_cnil_rule_refuses(password: str) -> None:
    with pytest.raises(PasswordRejected):
        check_policy(password, EMAIL)


def _add(rt: Runtime, role: str = "mutuelle_admin", amcs: list[str] | None = None) -> int:
    with write_transaction(rt.engine) as conn:
        return users.add_user(
            conn, email=EMAIL, role=role, password=PASSWORD, amcs=amcs or ["123456789"]
        )


def test_registration_rules(runtime: Runtime) -> None:
    bad: list[dict[str, object]] = [
        {"role": "professional", "amcs": None},
        {"role": "mutuelle_admin", "amcs": []},
        {"role": "dpo", "amcs": ["123456789"]},
        {"role": "mutuelle_admin", "amcs": ["12345"]},
    ]
    for values in bad:
        with pytest.raises(RegistrationError), write_transaction(runtime.engine) as conn:
            users.add_user(conn, email=EMAIL, password=PASSWORD, **values)  # type: ignore[arg-type]
    _add(runtime)
    with pytest.raises(RegistrationError, match="existe"), write_transaction(runtime.engine) as c:
        users.add_user(c, email=EMAIL.upper(), role="dpo", password=PASSWORD)


def test_failures_slow_down_then_lock(runtime: Runtime) -> None:
    user_id = _add(runtime)
    moment = NOW
    with write_transaction(runtime.engine) as conn:
        for _ in range(users.SLOW_AFTER):
            assert users.check_password(conn, EMAIL, "wrong", now=moment) is None
        # Throttled: even the right password is refused until the delay has passed.
        assert users.check_password(conn, EMAIL, PASSWORD, now=moment) is None
        moment += timedelta(seconds=2)
        assert users.check_password(conn, EMAIL, PASSWORD, now=moment) is not None
        for _ in range(users.LOCK_AFTER):
            moment += timedelta(minutes=2)  # past every throttle: each attempt is counted
            assert users.check_password(conn, EMAIL, "wrong", now=moment) is None
        assert users.is_blocked(conn, user_id, now=moment)
        moment += timedelta(minutes=5)
        assert users.check_password(conn, EMAIL, PASSWORD, now=moment) is None  # locked
        moment += users.LOCK_FOR
        assert users.check_password(conn, EMAIL, PASSWORD, now=moment) is not None
        users.signed_in(conn, user_id)
        assert not users.is_blocked(conn, user_id, now=moment)


def test_totp_codes_count_once_and_failures_count_too(runtime: Runtime) -> None:
    user_id = _add(runtime)
    keys = issuer_keys.load_or_create(runtime.settings.issuer_keys_path())
    with write_transaction(runtime.engine) as conn:
        secret, uri = users.totp_enrolment(conn, keys, user_id)
        assert uri.startswith("otpauth://totp/") and secret in uri
        assert users.totp_enrolment(conn, keys, user_id)[0] == secret  # same until confirmed
        code = pyotp.TOTP(secret).at(NOW)
        codes = users.confirm_enrolment(conn, keys, user_id, code, now=NOW)
        assert codes is not None and len(codes) == users.RECOVERY_CODES
        assert not users.verify_totp(conn, keys, user_id, code, now=NOW)  # replay
        later = NOW + timedelta(seconds=30)
        assert users.verify_totp(conn, keys, user_id, pyotp.TOTP(secret).at(later), now=later)
        assert not users.verify_totp(conn, keys, user_id, "12345x", now=later)
        assert users.use_recovery_code(conn, user_id, codes[0])
        assert not users.use_recovery_code(conn, user_id, codes[0])
        with pytest.raises(RegistrationError):
            users.totp_enrolment(conn, keys, user_id)


def test_the_totp_secret_is_not_stored_in_clear(runtime: Runtime) -> None:
    user_id = _add(runtime)
    keys = issuer_keys.load_or_create(runtime.settings.issuer_keys_path())
    with write_transaction(runtime.engine) as conn:
        secret, _ = users.totp_enrolment(conn, keys, user_id)
        stored = conn.exec_driver_sql("SELECT totp_secret, password_hash FROM users").one()
    assert secret.encode() not in bytes(stored[0])
    assert stored[1].startswith("$argon2id$") and PASSWORD not in stored[1]


def test_sessions_idle_and_absolute_timeouts(runtime: Runtime) -> None:
    settings = runtime.settings
    identity = SessionIdentity(Role.DPO, "user:1")
    with write_transaction(runtime.engine) as conn:
        token, _ = sessions.create_session(conn, settings, identity, stage="active", now=NOW)
        idle = timedelta(minutes=settings.session_idle_minutes)
        moment = NOW
        # Kept alive by use, until the absolute limit.
        while moment + idle / 2 < NOW + timedelta(hours=settings.session_absolute_hours):
            moment += idle / 2
            assert sessions.load_session(conn, settings, token, now=moment) is not None
        moment = NOW + timedelta(hours=settings.session_absolute_hours)
        assert sessions.load_session(conn, settings, token, now=moment) is None
        token, _ = sessions.create_session(conn, settings, identity, stage="active", now=NOW)
        assert sessions.load_session(conn, settings, token, now=NOW + idle) is None
        # A pending (password only) session lives a few minutes.
        token, _ = sessions.create_session(conn, settings, identity, stage="enrol", now=NOW)
        assert sessions.load_session(conn, settings, token, now=NOW + timedelta(minutes=6)) is None


def test_purge_removes_only_what_expired(runtime: Runtime) -> None:
    identity = SessionIdentity(Role.DPO, "user:1")
    keys = issuer_keys.load_or_create(runtime.settings.issuer_keys_path())
    with write_transaction(runtime.engine) as conn:
        sessions.create_session(conn, runtime.settings, identity, stage="active", now=NOW)
        live, _ = sessions.create_session(conn, runtime.settings, identity, stage="active")
        issue_access_token(conn, keys, runtime.settings, subject="s", claims={}, now=NOW)
        issue_access_token(conn, keys, runtime.settings, subject="s", claims={})
        assert purge_expired(conn) == 2
        assert sessions.load_session(conn, runtime.settings, live) is not None
        assert purge_expired(conn) == 0


def test_sign_in_steps_are_recorded_without_personal_data(runtime: Runtime) -> None:
    user_id = _add(runtime)
    with write_transaction(runtime.engine) as conn:
        assert users.check_password(conn, EMAIL, "wrong", now=NOW) is None
        assert users.check_password(conn, "nobody@example.org", "x", now=NOW) is None
        users.signed_in(conn, user_id)
        rows = conn.execute(select(LogEntry.actor, LogEntry.outcome, LogEntry.detail)).all()
    assert [(r.actor, r.outcome) for r in rows] == [
        (f"user:{user_id}", "refused"),  # the unknown account leaves no entry naming it
        (f"user:{user_id}", "ok"),
    ]
    assert all("example" not in r.detail and "wrong" not in r.detail for r in rows)
