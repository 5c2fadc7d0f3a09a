"""The key file: created 0600, refused when too open or malformed, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vigie.crypto import keyfile
from vigie.crypto.keyfile import KeyFileError


def test_generated_file_round_trips_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys = keyfile.generate()
    keyfile.save(keys, path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = keyfile.load(path)
    assert loaded.active_master() == keys.active_master()
    assert loaded.active_index() == keys.active_index()
    assert not list(tmp_path.glob("*.tmp"))


def test_a_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keyfile.save(keyfile.generate(), path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="0600"):
        keyfile.load(path)


def test_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="vigie keys init"):
        keyfile.load(tmp_path / "absent.json")


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "{}",
        json.dumps({"master_keys": [], "index_keys": []}),
        json.dumps(
            {
                "master_keys": [{"id": "m", "secret": "c2hvcnQ=", "state": "active"}],
                "index_keys": [],
            }
        ),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        keyfile.load(path)


def test_secrets_never_appear_in_error_messages(tmp_path: Path) -> None:
    keys = keyfile.generate()
    path = tmp_path / "keys.json"
    keyfile.save(keys, path)
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError) as caught:
        keyfile.load(path)
    assert path.read_text() not in str(caught.value)
    assert json.loads(path.read_text())["master_keys"][0]["secret"] not in str(caught.value)
