"""Professionals and structures: registration and lookup.

Invariant: a professional is registered only with a valid RPPS, profession and postcode.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from vigie.identity.identifiers import (
    Profession,
    is_valid_finess,
    is_valid_postcode,
    is_valid_rpps,
)
from vigie.identity.models import Professional, Structure


class RegistrationError(ValueError):
    """A professional or a structure cannot be registered; the message says why, in French."""


@dataclass(frozen=True)
class ProfessionalView:
    id: int
    rpps: str
    profession: Profession
    postcode: str
    structure_id: int | None


def add_professional(
    conn: Connection,
    *,
    rpps: str,
    profession: str,
    postcode: str,
    structure_finess: str | None = None,
    structure_name: str | None = None,
) -> ProfessionalView:
    """Register a professional (and its structure if new); an existing RPPS is updated."""
    if not is_valid_rpps(rpps):
        raise RegistrationError("numéro RPPS invalide (11 chiffres, clé de Luhn)")
    if profession not in Profession.__members__:
        raise RegistrationError("profession inconnue : " + ", ".join(Profession))
    if not is_valid_postcode(postcode):
        raise RegistrationError("code postal invalide")
    structure_id = _structure(conn, structure_finess, structure_name)
    values = {
        "profession": profession,
        "postcode": postcode,
        "structure_id": structure_id,
    }
    existing = conn.execute(select(Professional.id).where(Professional.rpps == rpps)).scalar()
    if existing is None:
        existing = conn.execute(
            insert(Professional).values(rpps=rpps, **values).returning(Professional.id)
        ).scalar_one()
    else:
        conn.execute(update(Professional).where(Professional.id == existing).values(**values))
    return ProfessionalView(existing, rpps, Profession(profession), postcode, structure_id)


def _structure(conn: Connection, finess: str | None, name: str | None) -> int | None:
    if finess is None:
        if name:
            raise RegistrationError("une structure se déclare avec son numéro FINESS")
        return None
    if not is_valid_finess(finess):
        raise RegistrationError("numéro FINESS invalide (9 chiffres, clé de Luhn)")
    found = conn.execute(select(Structure.id).where(Structure.finess == finess)).scalar()
    if found is not None:
        return int(found)
    if not name or not name.strip():
        raise RegistrationError("structure inconnue : donnez aussi son nom")
    statement = insert(Structure).values(finess=finess, name=name.strip()[:200])
    return int(conn.execute(statement.returning(Structure.id)).scalar_one())


def find_professional(conn: Connection, rpps: str) -> ProfessionalView | None:
    row = conn.execute(
        select(
            Professional.id,
            Professional.rpps,
            Professional.profession,
            Professional.postcode,
            Professional.structure_id,
        ).where(Professional.rpps == rpps)
    ).first()
    if row is None:
        return None
    return ProfessionalView(row[0], row[1], Profession(row[2]), row[3], row[4])
