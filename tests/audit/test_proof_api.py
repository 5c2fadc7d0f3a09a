"""The proof API: signed heads and proofs for the security officer and the DPO, an insured person's
own entries only, French 400s for bad parameters; tools/verify_proof.py, run on its own, checks
what the server returned."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.audit.helpers import run_round
from tests.factories import ALICE, BOB, request
from vigie.api.deps import current_principal
from vigie.identity.principal import Principal, Role
from vigie.rights.protected import cardless_message
from vigie.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "tools" / "verify_proof.py"


def as_role(client: TestClient, principal: Principal) -> None:
    async def override() -> Principal:
        return principal

    client.app.dependency_overrides[current_principal] = override  # type: ignore[attr-defined]


def insured(runtime: Runtime, person: Any) -> Principal:
    index = runtime.keyring.blind_index(
        cardless_message(person.nir, person.birth_date, person.birth_rank)
    )
    return Principal(Role.INSURED, "insured:1", insured_index=index)


DPO = Principal(Role.DPO, "user:dpo")
OFFICER = Principal(Role.SECURITY_OFFICER, "user:officer")


@pytest.fixture
def logged(runtime: Runtime, client: TestClient, auth: dict[str, str]) -> Iterator[TestClient]:
    """Alice checked twice, Bob once, all sequenced under a signed head."""
    for person in (ALICE, BOB, ALICE):
        assert client.post("/v1/eligibility", json=request(person), headers=auth).status_code == 200
    run_round(runtime, force=True)
    yield client
    client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def verify(tmp_path: Path, document: dict[str, Any], key: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(path), "--public-key", key],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_standalone_verifier_checks_server_proofs(logged: TestClient, tmp_path: Path) -> None:
    as_role(logged, DPO)
    head = logged.get("/v1/audit/tree-head").json()
    key, size = head["public_key"], head["tree_head"]["tree_size"]
    assert size == 3
    for index in range(size):
        document = logged.get(f"/v1/audit/proofs/inclusion?leaf_index={index}").json()
        done = verify(tmp_path, document, key)
        assert done.returncode == 0 and done.stdout.startswith("OK inclusion"), done.stderr
    by_entry = logged.get("/v1/audit/proofs/entries/2").json()
    assert by_entry["entry_id"] == 2 and verify(tmp_path, by_entry, key).returncode == 0
    consistency = logged.get(f"/v1/audit/proofs/consistency?old_size={size}").json()
    assert verify(tmp_path, consistency, key).returncode == 0
    forged = dict(document, leaf_index=0 if document["leaf_index"] else 1)
    failed = verify(tmp_path, forged, key)
    assert failed.returncode == 1 and failed.stderr.startswith("FAIL")


def test_consistency_between_two_signed_heads(
    runtime: Runtime, logged: TestClient, auth: dict[str, str], tmp_path: Path
) -> None:
    logged.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert logged.post("/v1/eligibility", json=request(BOB), headers=auth).status_code == 200
    run_round(runtime)
    as_role(logged, OFFICER)
    document = logged.get("/v1/audit/proofs/consistency?old_size=3&tree_size=4").json()
    assert document["old_tree_head"]["tree_size"] == 3 and document["proof"]
    assert verify(tmp_path, document, document["public_key"]).returncode == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("/v1/audit/proofs/inclusion", "paramètre leaf_index manquant"),
        ("/v1/audit/proofs/inclusion?leaf_index=abc", "paramètre leaf_index invalide"),
        ("/v1/audit/proofs/inclusion?leaf_index=-1", "paramètre leaf_index invalide"),
        ("/v1/audit/proofs/inclusion?leaf_index=3", "pas dans l'arbre"),
        ("/v1/audit/proofs/inclusion?leaf_index=0&tree_size=9", "aucune tête d'arbre signée"),
        ("/v1/audit/proofs/inclusion?leaf_index=99999999999999999999", "invalide"),
        ("/v1/audit/proofs/entries/x1", "paramètre entry_id invalide"),
        ("/v1/audit/proofs/entries/77", "introuvable"),
        ("/v1/audit/proofs/consistency", "paramètre old_size manquant"),
        ("/v1/audit/proofs/consistency?old_size=4", "dépasse"),
        ("/v1/audit/proofs/consistency?old_size=1&tree_size=9", "aucune tête d'arbre signée"),
    ],
)
def test_bad_parameters_get_a_clear_400(logged: TestClient, query: str, message: str) -> None:
    as_role(logged, DPO)
    response = logged.get(query)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_roles(runtime: Runtime, logged: TestClient, auth: dict[str, str]) -> None:
    logged.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert logged.get("/v1/audit/tree-head", headers=auth).status_code == 403  # professional
    as_role(logged, insured(runtime, ALICE))
    assert logged.get("/v1/audit/tree-head").status_code == 200
    assert logged.get("/v1/audit/proofs/inclusion?leaf_index=0").status_code == 200
    bob = logged.get("/v1/audit/proofs/inclusion?leaf_index=1")  # Bob's entry: as if missing
    assert bob.status_code == 400 and "introuvable" in bob.json()["message"]
    assert logged.get("/v1/audit/proofs/entries/3").status_code == 200
    as_role(logged, Principal(Role.MUTUELLE_ADMIN, "user:amc", amcs=frozenset({ALICE.amc})))
    assert logged.get("/v1/audit/proofs/inclusion?leaf_index=0").status_code == 403


def test_an_insured_person_sees_every_check_with_a_proof(
    runtime: Runtime, logged: TestClient, tmp_path: Path
) -> None:
    as_role(logged, insured(runtime, ALICE))
    history = logged.get("/v1/audit/my-accesses").json()
    accesses = history["accesses"]
    assert [a["answer"] for a in accesses] == ["droits confirmés", "droits confirmés"]
    assert {a["profession"] for a in accesses} == {"pharmacien"}
    for access in accesses:
        document = {
            "kind": "inclusion",
            "tree_head": history["tree_head"],
            **{k: access["proof"][k] for k in ("leaf_index", "leaf_entry", "audit_path")},
        }
        assert verify(tmp_path, document, history["public_key"]).returncode == 0
    for value in (ALICE.nir, ALICE.last_name, ALICE.member):
        assert value not in json.dumps(history)
    as_role(logged, DPO)
    assert logged.get("/v1/audit/my-accesses").status_code == 403


def test_the_server_signs_heads_by_itself(
    client: TestClient, auth: dict[str, str], tmp_path: Path
) -> None:
    assert client.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code == 200
    as_role(client, OFFICER)
    deadline = time.monotonic() + 5.0
    while (head := client.get("/v1/audit/tree-head")).status_code == 404:
        assert time.monotonic() < deadline, "no head signed by the background sequencer"
        time.sleep(0.1)
    assert head.json()["tree_head"]["tree_size"] == 1
    client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
