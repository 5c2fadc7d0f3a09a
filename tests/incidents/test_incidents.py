"""Incident scope per mutuelle from the access log, the CNIL notification, the letters and the
mail-merge CSV; the declaration and the production of letters are logged."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.factories import ALICE, AMC, BOB, CAROL, OTHER_AMC, TWIN_1
from tests.incidents.conftest import STOLEN_RPPS, Traffic
from vigie.audit.categories import DataCategory
from vigie.incidents import flows, render
from vigie.incidents.service import Declaration, DeclarationError
from vigie.runtime import Runtime

NOW = datetime.now(UTC)
HOUR = timedelta(hours=1)


def accounts_incident(**changes: object) -> Declaration:
    fields: dict[str, object] = {
        "kind": "accounts",
        "detected_at": NOW,
        "description": "Identifiants d'une pharmacie hameçonnés.",
        "accounts": [STOLEN_RPPS],
        "start": NOW - HOUR,
        "end": NOW + HOUR,
        "measures_taken": ["compte suspendu", "jetons révoqués"],
        "measures_planned": ["double authentification obligatoire"],
    }
    fields.update(changes)
    return Declaration(**fields)  # type: ignore[arg-type]


def scope_of(runtime: Runtime, declaration: Declaration) -> flows.Assessment:
    incident_id = flows.declare_incident(runtime, declaration, "user:dpo")
    return flows.assess(runtime, incident_id)


def test_scope_per_mutuelle(runtime: Runtime, traffic: Traffic) -> None:
    scope = scope_of(runtime, accounts_incident()).scope
    by_amc = {m.amc: m for m in scope.mutuelles}
    assert set(by_amc) == {AMC, OTHER_AMC}
    assert (by_amc[AMC].people, by_amc[AMC].records, by_amc[AMC].refused) == (2, 3, 1)
    assert (by_amc[OTHER_AMC].people, by_amc[OTHER_AMC].records) == (1, 1)
    assert by_amc[AMC].categories == DataCategory.COVERAGE_STATUS | DataCategory.AMOUNTS
    assert (scope.people, scope.records) == (3, 4)


def test_scope_by_structure_and_by_window(runtime: Runtime, traffic: Traffic) -> None:
    assert traffic.stolen.structure_id is not None
    by_structure = accounts_incident(accounts=[], structures=[traffic.stolen.structure_id])
    assert scope_of(runtime, by_structure).scope.people == 3
    earlier = accounts_incident(start=NOW - 3 * HOUR, end=NOW - 2 * HOUR)
    assert scope_of(runtime, earlier).scope.mutuelles == []


def test_a_database_copy_exposes_everyone_stored(runtime: Runtime, traffic: Traffic) -> None:
    copy = Declaration(kind="database_copy", detected_at=NOW, description="Sauvegarde volée.")
    assessment = scope_of(runtime, copy)
    assert {m.amc: m.people for m in assessment.scope.mutuelles} == {AMC: 4, OTHER_AMC: 1}
    assert "chiffrées" in (assessment.notification["chiffrement"] or "")


def test_bad_declarations_are_refused(runtime: Runtime) -> None:
    for bad in (
        accounts_incident(end=NOW - 2 * HOUR),
        accounts_incident(accounts=[], structures=[]),
        accounts_incident(accounts=["nope"]),
        accounts_incident(description=" "),
    ):
        with pytest.raises(DeclarationError):
            flows.declare_incident(runtime, bad, "user:dpo")


def test_the_cnil_notification(runtime: Runtime, traffic: Traffic) -> None:
    notification = scope_of(runtime, accounts_incident(detected_at=NOW - 70 * HOUR)).notification
    assert notification["nombre_approximatif_de_personnes"] == 3
    assert notification["nombre_approximatif_d_enregistrements"] == 4
    assert notification["chronologie"]["dans_le_delai"] is True
    assert notification["chronologie"]["heures_restantes"] == 1
    assert notification["mesures_prises"] == ["compte suspendu", "jetons révoqués"]
    assert [r["amc"] for r in notification["responsables_de_traitement"]] == [AMC, OTHER_AMC]
    assert notification["contact_dpo"]
    late = scope_of(runtime, accounts_incident(detected_at=NOW - 80 * HOUR)).notification
    assert late["chronologie"]["dans_le_delai"] is False
    text_form = repr(notification) + render.notification_html(notification)
    for value in (ALICE.nir, ALICE.last_name, BOB.first_name, ALICE.member):
        assert value not in text_form
    assert "72 heures" in render.notification_html(notification)


def test_documents_and_letters(runtime: Runtime, traffic: Traffic, tmp_path: Path) -> None:
    incident_id = flows.declare_incident(runtime, accounts_incident(), "user:dpo")
    written = flows.write_documents(runtime, incident_id, tmp_path, actor="user:dpo")
    names = {p.name for p in written}
    assert names == {
        "notification-cnil.json",
        "notification-cnil.pdf",
        f"lettres-{AMC}.csv",
        f"lettres-{AMC}.pdf",
        f"lettres-{OTHER_AMC}.csv",
        f"lettres-{OTHER_AMC}.pdf",
    }
    for path in written:
        if path.suffix == ".pdf":
            assert path.read_bytes().startswith(b"%PDF")
    with (tmp_path / f"lettres-{AMC}.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert sorted((r["prenom"], r["nom"]) for r in rows) == [
        ("Alice", "Zorglub"),
        ("Bob", "Quetzal"),
    ]
    assert TWIN_1.first_name not in (tmp_path / f"lettres-{AMC}.csv").read_text(
        encoding="utf-8-sig"
    )
    with (tmp_path / f"lettres-{OTHER_AMC}.csv").open(encoding="utf-8-sig") as handle:
        assert [r["nom"] for r in csv.DictReader(handle, delimiter=";")] == [CAROL.last_name]
    with runtime.engine.connect() as conn:
        logged = list(conn.execute(text("SELECT outcome FROM access_log WHERE kind = 'incident'")))
    assert [r.outcome for r in logged] == ["declared", "letters"]


def test_letters_are_clear_french_without_links(runtime: Runtime, traffic: Traffic) -> None:
    from vigie.incidents.letters import Recipient
    from vigie.incidents.service import IncidentView

    view = IncidentView(1, NOW, "user:dpo", accounts_incident().checked())
    people = [Recipient(AMC, "M0001", "Zorglub", "Alice", "75011")]
    html = render.letters_html(people, view, int(DataCategory.COVERAGE_STATUS))
    body = html.split("<body>", 1)[1]
    assert "Ne cliquez sur aucun lien" in body and "carte de tiers payant" in body
    assert "Alice Zorglub" in body and "statut de couverture complémentaire" in body
    for forbidden in ("http", "www.", "@", "href"):
        assert forbidden not in body


def test_letters_and_history_survive_a_key_rotation(
    runtime: Runtime, traffic: Traffic, tmp_path: Path
) -> None:
    """Pseudonyms do not depend on the index keys: after a rotation, the entries logged before
    it still lead to the same people."""
    from vigie.audit.reader import own_pseudonym
    from vigie.identity.principal import Principal, Role
    from vigie.rights.protected import cardless_message
    from vigie.rights.rekey import rotate

    before = runtime.keyring.blind_index(
        cardless_message(ALICE.nir, ALICE.birth_date, ALICE.birth_rank)
    )
    assert rotate(runtime).complete
    after = runtime.keyring.blind_index(
        cardless_message(ALICE.nir, ALICE.birth_date, ALICE.birth_rank)
    )
    assert after != before
    incident_id = flows.declare_incident(runtime, accounts_incident(), "user:dpo")
    flows.write_documents(runtime, incident_id, tmp_path, actor="user:dpo")
    with (tmp_path / f"lettres-{AMC}.csv").open(encoding="utf-8-sig") as handle:
        assert {r["prenom"] for r in csv.DictReader(handle, delimiter=";")} == {"Alice", "Bob"}
    alice = Principal(Role.INSURED, "insured:1", insured_index=after)
    with runtime.engine.connect() as conn:
        logged = conn.execute(
            text("SELECT COUNT(*) FROM access_log WHERE insured = :p"),
            {"p": own_pseudonym(runtime, alice)},
        ).scalar_one()
    assert logged == 2  # Alice's two checks, logged before the rotation
