"""The portal client fixture is shared with the web tests."""

from tests.web.conftest import portal

__all__ = ["portal"]
