"""What a process needs to work: settings, the engine (schema migrated) and the keyring.

Built explicitly by the CLI or the app factory, never at import time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from vigie.config import Settings
from vigie.crypto import keyfile
from vigie.crypto.keyring import Keyring, load_keyring
from vigie.db.engine import make_engine
from vigie.db.migrate import upgrade


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    keys: keyfile.KeyFile
    keyring: Keyring
    _checked_at: float = field(default=0.0, repr=False)
    _keys_version: int = field(default=0, repr=False)

    def reload_keyring(self) -> None:
        with self.engine.begin() as conn:
            self.keyring = load_keyring(conn, self.keys)

    def current_keyring(self) -> Keyring:
        """The keyring, reloaded (at most once a second) when a rotation rewrote the key file."""
        now = time.monotonic()
        if now - self._checked_at > 1.0:
            self._checked_at = now
            version = self.settings.keys.stat().st_mtime_ns
            if self._keys_version and version != self._keys_version:
                self.keys = keyfile.load(self.settings.keys)
                self.reload_keyring()
            self._keys_version = version
        return self.keyring


def open_runtime(
    settings: Settings | None = None, *, pool_size: int = 8, wait_seconds: float = 30.0
) -> Runtime:
    settings = settings or Settings()
    keys = keyfile.load(settings.keys)
    engine = make_engine(settings.database_url, pool_size=pool_size, wait_seconds=wait_seconds)
    upgrade(engine)
    with engine.begin() as conn:
        keyring = load_keyring(conn, keys)
    return Runtime(settings=settings, engine=engine, keys=keys, keyring=keyring)
