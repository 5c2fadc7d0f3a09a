"""A serving process follows a key rotation made by another process."""

from __future__ import annotations

import os

from tests.factories import PEOPLE, load_people, request
from vigie.eligibility.schemas import EligibilityRequest
from vigie.eligibility.service import PlanCache, find_coverage
from vigie.rights.rekey import rotate
from vigie.runtime import Runtime, open_runtime


def found(rt: Runtime) -> int:
    plans, count = PlanCache(), 0
    keyring = rt.current_keyring()
    with rt.engine.connect() as conn:
        for person in PEOPLE:
            body = EligibilityRequest.model_validate(request(person))
            count += find_coverage(conn, keyring, body, plans, lock=False) is not None
    return count


def test_server_reloads_the_key_file_after_a_rotation(runtime: Runtime) -> None:
    load_people(runtime)
    server = open_runtime(runtime.settings, pool_size=1)
    assert found(server) == len(PEOPLE)
    before = server.current_keyring().active_key_id
    rotate(runtime)  # another process: the command line
    # Make sure the file's timestamp moves even on a coarse clock, then let the check run.
    stat = runtime.settings.keys.stat()
    os.utime(runtime.settings.keys, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    server._checked_at = 0.0
    assert found(server) == len(PEOPLE)
    assert server.current_keyring().active_key_id != before
    server.engine.dispose()
