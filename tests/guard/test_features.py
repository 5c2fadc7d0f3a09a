"""The guard's digests: equal parts, equal digests within a process; another process (another
salt) gives others; with PYTHONHASHSEED fixed, a keyed SipHash-2-4 is used instead of hash()."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest

from vigie.guard.features import digest, origin_of, question

PROBE = (
    "from datetime import date; from vigie.guard import features as f; "
    "d = f.digest(7, '185017512345678', date(1985, 1, 1), 1); "
    "q = f.question('185017512345678', date(1985, 1, 1), 1, account=7, cardless=True, "
    "agree=False); "
    "o = f.origin_of('192.0.2.7', 'ua') == f.digest('192.0.2', 'ua'); "
    "c = f.question_of('185017512345678', date(1985, 1, 1), 1, account=7, cardless=True, "
    "agree=False) == q; "
    "print(f._HASH_KEY_RANDOM, d, q.patient == d and q.series == f.digest(7, '1850175123') and c,"
    " o)"
)


def test_a_digest_tells_equal_parts_from_different_ones() -> None:
    same = digest("185017512345678", date(1985, 1, 1), 1)
    assert same == digest("185017512345678", date(1985, 1, 1), 1)
    assert same != digest("185017512345678", date(1985, 1, 1), 2)
    assert same != digest("285017512345678", date(1985, 1, 1), 1)
    q = question("185017512345678", date(1985, 1, 1), 1, account=7, cardless=False, agree=True)
    assert q.patient == digest(7, "185017512345678", date(1985, 1, 1), 1)
    assert q.series == digest(7, "1850175123")
    # Another account's digests of the same patient differ: notes shared between processes
    # cannot link one patient's visits to several professionals.
    other = question("185017512345678", date(1985, 1, 1), 1, account=8, cardless=False, agree=True)
    assert (other.patient, other.series) != (q.patient, q.series)
    assert (q.departement, q.order, q.cardless, q.agree) == ("75", 456, False, True)
    overseas = question(
        "185019712345678", date(1985, 1, 1), 1, account=7, cardless=True, agree=False
    )
    assert (overseas.departement, overseas.order, overseas.cardless) == ("971", 456, True)
    assert origin_of("2001:db8:1:2::7", None) == digest("2001:db8:1", "-")
    assert origin_of(None, "ua") == digest("-", "ua")


@pytest.mark.parametrize("seed", [None, "0", "1234"])
def test_digests_are_keyed_per_process_whatever_pythonhashseed(seed: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    if seed is not None:
        env["PYTHONHASHSEED"] = seed
    runs = [
        subprocess.run(
            [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert [r[0] for r in runs] == [str(seed is None)] * 2  # hash() only when its key is random
    assert [r[2:] for r in runs] == [["True", "True"]] * 2  # the inlined digests are digest()
    assert runs[0][1] != runs[1][1]  # a salt of each process's own


def test_processes_given_the_same_key_share_their_digests() -> None:
    """Risk state shared between server processes: the same key, the same digests; another
    deployment's key, others (and the per-process salt no longer counts)."""

    def probe(key: str) -> list[str]:
        code = f"from vigie.guard import features as f; f.share_digests(b'{key}'); {PROBE}"
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        return done.stdout.split()

    first, second, other = probe("deployment-a"), probe("deployment-a"), probe("deployment-b")
    assert first[0] == "False" and first[2:] == ["True", "True"]
    assert first[1] == second[1]
    assert first[1] != other[1]
