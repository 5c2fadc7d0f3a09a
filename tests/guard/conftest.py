from __future__ import annotations

from collections.abc import Iterator

import pytest

from vigie.config import Settings
from vigie.runtime import Runtime, open_runtime


@pytest.fixture
def guarded_runtime(settings: Settings) -> Iterator[Runtime]:
    """The test store, with the guard on (the shared fixtures turn it off)."""
    rt = open_runtime(settings.model_copy(update={"guard": True}), pool_size=2)
    yield rt
    rt.engine.dispose()
