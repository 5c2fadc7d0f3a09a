"""Writing a file of secrets (the key file, the token service's keys) so that it is never half
written, never readable by others, and never written through a planted link."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


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
