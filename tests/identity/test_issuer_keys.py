"""The token service's key file: private (0600), created once even by racing processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from vigie.identity import issuer_keys


def _create(path: str) -> str:
    return str(issuer_keys.load_or_create(Path(path)).active.kid)


def test_racing_processes_end_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys-issuer.json"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        kids = pool.map(_create, [str(path)] * 8)
    assert len(set(kids)) == 1 and kids[0] == issuer_keys.load(path).active.kid
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_a_readable_or_broken_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys-issuer.json"
    issuer_keys.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(issuer_keys.IssuerKeyError, match="0600"):
        issuer_keys.load(path)
    path.chmod(0o600)
    path.write_text("{}")
    with pytest.raises(issuer_keys.IssuerKeyError, match="mal formé"):
        issuer_keys.load(path)


def test_rotation_keeps_the_previous_keys_for_verification(tmp_path: Path) -> None:
    path = tmp_path / "keys-issuer.json"
    first = issuer_keys.load_or_create(path).active.kid
    for _ in range(issuer_keys.KEPT_SIGNING_KEYS + 1):
        rotated = issuer_keys.rotate(path)
    kids = [k["kid"] for k in rotated.public_jwks()["keys"]]
    assert len(kids) == issuer_keys.KEPT_SIGNING_KEYS and first not in kids
    assert all("d" not in k for k in rotated.public_jwks()["keys"])
