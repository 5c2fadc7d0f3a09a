"""Professional registration."""

from __future__ import annotations

import pytest

from tests.factories import RPPS
from vigie.db.engine import write_transaction
from vigie.identity.identifiers import with_luhn_key
from vigie.identity.service import RegistrationError, add_professional, find_professional
from vigie.runtime import Runtime


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
