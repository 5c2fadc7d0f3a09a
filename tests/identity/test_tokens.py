"""Provisional bearer tokens and professional registration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.factories import RPPS
from vigie.db.engine import write_transaction
from vigie.identity.identifiers import with_luhn_key
from vigie.identity.models import ApiToken
from vigie.identity.service import RegistrationError, add_professional, find_professional
from vigie.identity.tokens import TokenCache, issue_token, revoke_tokens, verify_token
from vigie.runtime import Runtime

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _issue(rt: Runtime, ttl: timedelta = timedelta(hours=1)) -> tuple[int, str]:
    with write_transaction(rt.engine) as conn:
        view = add_professional(conn, rpps=RPPS, profession="nurse", postcode="13001")
        return view.id, issue_token(conn, view.id, ttl=ttl, now=NOW)


def test_token_verifies_until_it_expires(runtime: Runtime) -> None:
    pid, token = _issue(runtime)
    with runtime.engine.connect() as conn:
        caller = verify_token(conn, token, now=NOW + timedelta(minutes=59))
        assert caller is not None and caller.id == pid and caller.profession == "nurse"
        assert verify_token(conn, token, now=NOW + timedelta(hours=1)) is None


def test_revoked_token_no_longer_verifies(runtime: Runtime) -> None:
    pid, token = _issue(runtime)
    with write_transaction(runtime.engine) as conn:
        assert revoke_tokens(conn, pid, now=NOW) == 1
    with runtime.engine.connect() as conn:
        assert verify_token(conn, token, now=NOW) is None


def test_only_a_digest_is_stored(runtime: Runtime) -> None:
    _, token = _issue(runtime)
    with runtime.engine.connect() as conn:
        stored = conn.execute(select(ApiToken.digest)).scalar_one()
    assert token.encode() not in stored and len(stored) == 32


@pytest.mark.parametrize("token", ["", "vg_", "nope", "vg_" + "a" * 200, "Bearer vg_x"])
def test_malformed_tokens_do_not_verify(runtime: Runtime, token: str) -> None:
    _issue(runtime)
    with runtime.engine.connect() as conn:
        assert verify_token(conn, token, now=NOW) is None


def test_cache_forgets_after_its_delay(runtime: Runtime) -> None:
    _, token = _issue(runtime)
    with runtime.engine.connect() as conn:
        caller = verify_token(conn, token, now=NOW)
    assert caller is not None
    cache = TokenCache(seconds=0)
    cache.put(token, caller)
    assert cache.get(token) is None
    cache = TokenCache(seconds=60)
    cache.put(token, caller)
    assert cache.get(token) == caller and cache.get(token + "x") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rpps": "12345678901"}, "RPPS"),
        ({"rpps": "1234"}, "RPPS"),
        ({"profession": "wizard"}, "profession"),
        ({"postcode": "7501"}, "code postal"),
        ({"structure_finess": "123456789"}, "FINESS"),
        ({"structure_finess": with_luhn_key("75000001")}, "nom"),
        ({"structure_name": "Sans numéro"}, "FINESS"),
    ],
)
def test_bad_registrations_are_refused(
    runtime: Runtime, kwargs: dict[str, str], message: str
) -> None:
    values = {"rpps": RPPS, "profession": "pharmacist", "postcode": "75011", **kwargs}
    with pytest.raises(RegistrationError, match=message), write_transaction(runtime.engine) as conn:
        add_professional(conn, **values)
    with runtime.engine.connect() as conn:
        assert find_professional(conn, RPPS) is None


def test_structure_is_shared_and_registration_updates(runtime: Runtime) -> None:
    finess = with_luhn_key("75000001")
    with write_transaction(runtime.engine) as conn:
        first = add_professional(
            conn,
            rpps=RPPS,
            profession="pharmacist",
            postcode="75011",
            structure_finess=finess,
            structure_name="Pharmacie Test",
        )
        second = add_professional(
            conn,
            rpps=with_luhn_key("1000000009"),
            profession="pharmacist",
            postcode="75011",
            structure_finess=finess,
        )
        moved = add_professional(conn, rpps=RPPS, profession="pharmacist", postcode="69001")
    assert first.structure_id == second.structure_id is not None
    assert moved.id == first.id and moved.postcode == "69001" and moved.structure_id is None
