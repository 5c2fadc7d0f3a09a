"""Key rotation: nothing lost, old keys still open records until the rotation completes."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from tests.factories import PEOPLE, load_people, request
from vigie.crypto import keyfile
from vigie.crypto.keyfile import KeyFileError
from vigie.crypto.keyring import load_keyring
from vigie.crypto.models import DataKey
from vigie.eligibility.schemas import EligibilityRequest
from vigie.eligibility.service import PlanCache, find_coverage
from vigie.rights.models import Beneficiary
from vigie.rights.protected import unseal
from vigie.rights.rekey import rotate
from vigie.runtime import Runtime, open_runtime


def everyone_is_found(rt: Runtime) -> bool:
    plans = PlanCache()
    with rt.engine.connect() as conn:
        for person in PEOPLE:
            body = EligibilityRequest.model_validate(request(person, day="2026-03-02"))
            if find_coverage(conn, rt.keyring, body, plans, lock=False) is None:
                return False
    return True


def identities(rt: Runtime) -> set[tuple[str, str, date]]:
    with rt.engine.connect() as conn:
        rows = conn.execute(select(Beneficiary.amc, Beneficiary.key_id, Beneficiary.pii)).all()
    opened = (unseal(rt.keyring, amc, key_id, pii) for amc, key_id, pii in rows)
    return {(p.nir, p.last_name, p.birth_date) for p in opened}


def key_ids(rt: Runtime) -> set[str]:
    with rt.engine.connect() as conn:
        return set(conn.execute(select(Beneficiary.key_id)).scalars())


def test_full_rotation_keeps_every_record(runtime: Runtime) -> None:
    load_people(runtime)
    before_ids, before = key_ids(runtime), identities(runtime)
    old_master = runtime.keys.active_master().id
    report = rotate(runtime, batch=2)
    assert report.complete and report.records == len(PEOPLE)
    assert key_ids(runtime) == {report.data_key_id} and key_ids(runtime) != before_ids
    assert identities(runtime) == before and everyone_is_found(runtime)
    stored = json.loads(runtime.settings.keys.read_text())
    assert [k["state"] for k in stored["master_keys"]] == ["active"]
    assert stored["master_keys"][0]["id"] != old_master
    with runtime.engine.connect() as conn:
        assert conn.execute(select(DataKey.state)).scalars().all() == ["active"]


def test_interrupted_rotation_still_reads_and_finds_everyone(runtime: Runtime) -> None:
    load_people(runtime)
    before = identities(runtime)
    report = rotate(runtime, batch=2, max_batches=1)
    assert not report.complete and report.records == 2
    assert len(key_ids(runtime)) == 2, "old and new data keys both in use"
    assert runtime.keys.rotating()
    # A process that starts now (a server, say) reads the half-rotated store.
    fresh = open_runtime(runtime.settings, pool_size=1)
    assert identities(fresh) == before and everyone_is_found(fresh)
    fresh.engine.dispose()
    resumed = rotate(runtime, batch=2)
    assert resumed.complete and resumed.records == len(PEOPLE) - 2
    assert identities(runtime) == before and everyone_is_found(runtime)
    assert not runtime.keys.rotating()


def test_an_import_during_rotation_matches_moved_and_unmoved_records(runtime: Runtime) -> None:
    load_people(runtime)
    rotate(runtime, batch=2, max_batches=1)
    load_people(runtime)  # the same file again: everyone is known, nothing is duplicated
    with runtime.engine.connect() as conn:
        assert len(conn.execute(select(Beneficiary.id)).all()) == len(PEOPLE)
    assert rotate(runtime).complete and everyone_is_found(runtime)


def test_the_old_key_file_cannot_read_rotated_data(runtime: Runtime) -> None:
    load_people(runtime)
    old = keyfile.load(runtime.settings.keys)
    rotate(runtime)
    # The new data key is wrapped under a master key that the old file does not hold.
    with runtime.engine.connect() as conn, pytest.raises(KeyFileError, match="master key"):
        load_keyring(conn, old)
