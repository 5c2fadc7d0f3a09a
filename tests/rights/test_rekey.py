"""Key rotation: nothing lost, old keys still open records until the rotation completes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select

from tests.factories import (
    ALICE,
    BOB,
    HEADER,
    PEOPLE,
    TWIN_1,
    TWIN_2,
    load_people,
    request,
    rights_csv,
)
from vigie.crypto import keyfile
from vigie.crypto.keyfile import KeyFileError
from vigie.crypto.keyring import load_keyring
from vigie.crypto.models import DataKey
from vigie.db.engine import write_transaction
from vigie.eligibility.schemas import EligibilityRequest
from vigie.eligibility.service import PlanCache, find_coverage
from vigie.rights.errors import ImportRejected
from vigie.rights.importer import import_rights
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


def test_a_rotation_racing_an_import_loses_no_record(runtime: Runtime) -> None:
    """The import holds its data key; the rotation waits for it, then moves what it wrote."""
    load_people(runtime, ALICE, BOB)
    importer = open_runtime(runtime.settings, pool_size=2)
    halfway, go = threading.Event(), threading.Event()

    def lines() -> Iterator[str]:
        yield HEADER + "\n"
        yield TWIN_1.csv() + "\n"
        halfway.set()
        go.wait(10)
        yield TWIN_2.csv() + "\n"

    def run_import() -> None:
        with write_transaction(importer.engine) as conn:
            import_rights(conn, importer.keyring, lines())

    worker = threading.Thread(target=run_import)
    worker.start()
    assert halfway.wait(10)
    threading.Timer(0.5, go.set).start()  # the rotation starts while the import is open
    report = rotate(runtime)
    worker.join(10)
    assert report.complete
    assert identities(runtime) >= {(TWIN_1.nir, "Zorglub", TWIN_1.birth_date)}
    assert key_ids(runtime) == {runtime.keyring.active_key_id}
    plans = PlanCache()
    with runtime.engine.connect() as conn:
        for person in (ALICE, BOB, TWIN_1, TWIN_2):
            body = EligibilityRequest.model_validate(request(person))
            assert find_coverage(conn, runtime.keyring, body, plans, lock=False) is not None
    importer.engine.dispose()


def test_an_import_whose_key_was_retired_is_refused(runtime: Runtime) -> None:
    load_people(runtime, ALICE)
    stale = open_runtime(runtime.settings, pool_size=2)
    rotate(runtime)
    with pytest.raises(ImportRejected) as caught, write_transaction(stale.engine) as conn:
        import_rights(conn, stale.keyring, rights_csv(BOB).splitlines(keepends=True))
    assert "rotation" in caught.value.errors[0].reason
    stale.engine.dispose()
