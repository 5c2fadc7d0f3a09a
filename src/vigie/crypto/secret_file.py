"""Files of secrets (the key file, the token service's keys): written so that they are never half
written, never readable by others, and never written through a planted link; read only when
nobody else may read them."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Literal


class PrivateFileError(Exception):
    """Why a file of secrets was not read: ``missing``, ``unreadable`` (I/O or not JSON), or
    ``open`` (readable by others: ``mode`` says how)."""

    def __init__(self, reason: Literal["missing", "unreadable", "open"], mode: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.mode = mode


def read_private_json(path: Path) -> Any:
    """The JSON in ``path``, provided the file is readable by its owner only."""
    try:
        mode = path.stat().st_mode & 0o777
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PrivateFileError("missing") from exc
    except (OSError, ValueError) as exc:
        raise PrivateFileError("unreadable") from exc
    if mode & 0o077:
        raise PrivateFileError("open", mode)
    return raw


def write_private_json(path: Path, payload: dict[str, Any], *, exclusive: bool = False) -> None:
    """Write ``payload`` to ``path`` (mode 0600) atomically: a crash leaves the old file or the
    new one. ``exclusive``: never replace an existing file (FileExistsError instead)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        if exclusive:
            os.link(tmp, path)  # fails if the file exists, e.g. another process was first
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
