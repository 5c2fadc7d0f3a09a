"""The declarative base that every capability's tables hang from, so Alembic sees one metadata."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def all_metadata() -> MetaData:
    """The metadata with every capability's tables registered (imported for that effect)."""
    from vigie.audit import models as _audit  # noqa: F401
    from vigie.crypto import models as _crypto  # noqa: F401
    from vigie.eligibility import models as _eligibility  # noqa: F401
    from vigie.guard import models as _guard  # noqa: F401
    from vigie.identity import models as _identity  # noqa: F401
    from vigie.incidents import models as _incidents  # noqa: F401
    from vigie.rights import models as _rights  # noqa: F401

    return Base.metadata
