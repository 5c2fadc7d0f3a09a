"""Declaring and reading incidents, in the caller's transaction; the declaration is logged.

Invariant: an incident is stored only once its declaration is complete and coherent (a window
that ends after it starts, at least one account or structure for compromised accounts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Connection, insert, select

from vigie.audit.categories import DataCategory
from vigie.audit.log import Event, now_us, record
from vigie.incidents.models import Incident

Kind = Literal["accounts", "database_copy"]
KINDS = ("accounts", "database_copy")


class DeclarationError(ValueError):
    """The declaration is incomplete or incoherent; the message says why, in French."""


def to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def actor_subject(account: str) -> str:
    """An RPPS number or a subject as the log writes it ("rpps:…", "user:…")."""
    account = account.strip()
    if account.isascii() and account.isdigit() and len(account) == 11:
        return f"rpps:{account}"
    if ":" in account and len(account) <= 80 and account.isascii() and account.isprintable():
        return account
    raise DeclarationError("compte invalide : numéro RPPS (11 chiffres) ou identifiant attendu")


@dataclass(frozen=True)
class Declaration:
    kind: Kind
    detected_at: datetime
    description: str
    accounts: list[str] = field(default_factory=list)
    structures: list[int] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    keys_compromised: bool = False
    measures_taken: list[str] = field(default_factory=list)
    measures_planned: list[str] = field(default_factory=list)

    def checked(self) -> Declaration:
        if self.kind not in KINDS:
            raise DeclarationError("nature d'incident inconnue : accounts ou database_copy")
        if not self.description.strip():
            raise DeclarationError("description de l'incident manquante")
        if self.kind == "accounts":
            if not self.accounts and not self.structures:
                raise DeclarationError("indiquez au moins un compte ou une structure compromis")
            if self.start is None or self.end is None:
                raise DeclarationError("indiquez le début et la fin de la période compromise")
            if to_us(self.end) <= to_us(self.start):
                raise DeclarationError("la fin de la période doit suivre son début")
        return Declaration(
            kind=self.kind,
            detected_at=self.detected_at,
            description=self.description.strip(),
            accounts=sorted({actor_subject(a) for a in self.accounts}),
            structures=sorted(set(self.structures)),
            start=self.start,
            end=self.end,
            keys_compromised=self.keys_compromised,
            measures_taken=[m.strip() for m in self.measures_taken if m.strip()],
            measures_planned=[m.strip() for m in self.measures_planned if m.strip()],
        )


@dataclass(frozen=True)
class IncidentView:
    id: int
    declared_at: datetime
    declared_by: str
    declaration: Declaration


def declare(conn: Connection, declaration: Declaration, *, declared_by: str) -> int:
    """Store the incident and log its declaration; returns its id."""
    d = declaration.checked()
    incident_id = conn.execute(
        insert(Incident)
        .values(
            kind=d.kind,
            declared_at_us=now_us(),
            declared_by=declared_by,
            detected_at_us=to_us(d.detected_at),
            start_us=to_us(d.start) if d.start else None,
            end_us=to_us(d.end) if d.end else None,
            accounts=json.dumps(d.accounts),
            structures=json.dumps(d.structures),
            keys_compromised=d.keys_compromised,
            description=d.description,
            measures_taken=json.dumps(d.measures_taken, ensure_ascii=False),
            measures_planned=json.dumps(d.measures_planned, ensure_ascii=False),
        )
        .returning(Incident.id)
    ).scalar_one()
    detail: dict[str, str | int] = {
        "incident": incident_id,
        "incident_kind": d.kind,
        "accounts": len(d.accounts),
    }
    record(conn, Event("incident", declared_by, "declared", detail=detail, exposed=0))
    return int(incident_id)


def log_documents(conn: Connection, incident_id: int, actor: str, what: str, amcs: int) -> None:
    """Producing the letters decrypts identities: that access is logged too."""
    exposed = int(DataCategory.IDENTITY) if what == "letters" else 0
    detail: dict[str, str | int] = {"incident": incident_id, "documents": what, "amcs": amcs}
    record(conn, Event("incident", actor, what, detail=detail, exposed=exposed))


def load(conn: Connection, incident_id: int) -> IncidentView | None:
    row = conn.execute(select(Incident.__table__).where(Incident.id == incident_id)).first()
    if row is None:
        return None
    declaration = Declaration(
        kind=row.kind,
        detected_at=from_us(row.detected_at_us),
        description=row.description,
        accounts=json.loads(row.accounts),
        structures=json.loads(row.structures),
        start=from_us(row.start_us) if row.start_us is not None else None,
        end=from_us(row.end_us) if row.end_us is not None else None,
        keys_compromised=row.keys_compromised,
        measures_taken=json.loads(row.measures_taken),
        measures_planned=json.loads(row.measures_planned),
    )
    return IncidentView(row.id, from_us(row.declared_at_us), row.declared_by, declaration)
