from __future__ import annotations

from tests.api.conftest import auth, client

__all__ = ["auth", "client"]
