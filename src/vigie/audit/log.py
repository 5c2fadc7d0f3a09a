"""Recording events in the access log, inside the caller's transaction.

The caller passes its open connection: the entry commits with what it records, or not at all,
and a failure to write it fails the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, insert

from vigie.audit.models import LogEntry


@dataclass(frozen=True)
class Event:
    kind: str  # "eligibility", "sign_in", "import", "guard", "admin", "incident", ...
    actor: str  # the principal's subject ("rpps:…", "user:…"); never an insured's identifier
    outcome: str  # "positive", "negative", "allowed", "refused", "ok", ...
    structure_id: int | None = None
    amc: str | None = None  # the mutuelle concerned, controller of its members' data
    insured: bytes | None = None  # keyed pseudonym of the insured person, if one is concerned
    detail: Mapping[str, str | int | bool | None] = field(default_factory=dict)  # non-personal


def entry_bytes(event: Event, at: datetime) -> bytes:
    """The canonical serialisation of an entry: what the Merkle leaf commits to."""
    return orjson.dumps(
        {
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "kind": event.kind,
            "actor": event.actor,
            "outcome": event.outcome,
            "structure": event.structure_id,
            "amc": event.amc,
            "insured": event.insured.hex() if event.insured is not None else None,
            "detail": dict(event.detail),
        },
        option=orjson.OPT_SORT_KEYS,
    )


def record(conn: Connection, event: Event, at: datetime | None = None) -> None:
    """Append ``event`` to the log in the transaction of ``conn``."""
    moment = at or datetime.now(UTC)
    conn.execute(
        insert(LogEntry).values(
            at=moment,
            kind=event.kind,
            actor=event.actor,
            outcome=event.outcome,
            structure_id=event.structure_id,
            amc=event.amc,
            insured=event.insured,
            body=entry_bytes(event, moment),
        )
    )
