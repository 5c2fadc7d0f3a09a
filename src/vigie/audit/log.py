"""Recording events in the access log, inside the caller's transaction.

The caller passes its open connection: the entry commits with what it records, or not at all,
and a failure to write it fails the request. One INSERT, written by hand (see vigie.db.sql).
Invariant: the leaf an entry becomes is a pure function of its stored columns (``leaf_entry``),
so anyone holding the rows can recompute the tree.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection

from vigie.db.sql import Sql, execute

LEAF_VERSION = 1
PSEUDONYM_BYTES = 16


@dataclass(frozen=True)
class Event:
    kind: str  # "eligibility", "cancellation", "import", "incident", "sign_in", "guard", ...
    actor: str  # the principal's subject ("rpps:…", "user:…"); never an insured's identifier
    outcome: str  # "positive", "negative", "allowed", "refused", "ok", ...
    structure_id: int | None = None
    amc: str | None = None  # the mutuelle concerned, controller of its members' data
    insured: bytes | None = None  # keyed pseudonym of the insured person, if one is concerned
    detail: Mapping[str, str | int | bool | list[str] | None] = field(default_factory=dict)
    exposed: int = 0  # vigie.audit.categories.DataCategory bits


INSERT = Sql(
    "INSERT INTO access_log"
    " (at_us, kind, actor, outcome, structure_id, amc, insured, exposed, detail)"
    " VALUES (:at_us, :kind, :actor, :outcome, :structure_id, :amc, :insured, :exposed, :detail)"
)


def now_us() -> int:
    return time.time_ns() // 1000


def detail_text(detail: Mapping[str, Any]) -> str:
    return orjson.dumps(dict(detail), option=orjson.OPT_SORT_KEYS).decode()


def entry_params(event: Event, at_us: int | None = None) -> dict[str, Any]:
    return {
        "at_us": now_us() if at_us is None else at_us,
        "kind": event.kind,
        "actor": event.actor,
        "outcome": event.outcome,
        "structure_id": event.structure_id,
        "amc": event.amc,
        "insured": event.insured,
        "exposed": int(event.exposed),
        "detail": detail_text(event.detail),
    }


def record(conn: Connection, event: Event, at_us: int | None = None) -> None:
    """Append ``event`` to the log in the transaction of ``conn``."""
    execute(conn, INSERT, entry_params(event, at_us))


# The columns, in this order, that ``leaf_entry`` reads from a stored row.
ENTRY_COLUMNS = "id, at_us, kind, actor, outcome, structure_id, amc, insured, exposed, detail"
LEAF_PREFIX = "vigie-log-v1"


def _field(value: object) -> str:
    if value is None:
        return "-"
    text = bytes(value).hex() if isinstance(value, bytes | memoryview) else str(value)
    return f"{len(text)}:{text}"


def leaf_entry(row: tuple[Any, ...] | Any) -> bytes:
    """The canonical bytes of a stored entry (columns as ENTRY_COLUMNS): what its leaf hashes.

    ``vigie-log-v1`` then, for each column, ``|`` and either ``-`` (NULL) or the value as text
    (integers in decimal, the pseudonym in lowercase hex) prefixed by its length in characters,
    so that no two rows give the same bytes. The entry id is part of it: a leaf names its row
    and rows cannot trade places unseen.
    """
    return leaf_entries((row,))[0]


def leaf_entries(rows: Sequence[tuple[Any, ...] | Any], head: str = "") -> list[bytes]:
    """``head`` then ``leaf_entry(row)``, for each row: verification renders millions."""
    try:
        return _fast_entries(rows, head)
    except (TypeError, AttributeError):  # a NULL or another type where the schema forbids it
        return [_entry(row, head) for row in rows]


def _entry(row: tuple[Any, ...] | Any, head: str) -> bytes:
    try:
        return _fast_entries((row,), head)[0]
    except (TypeError, AttributeError):  # a tampered row: still rendered, in the generic form
        return (head + LEAF_PREFIX + "".join("|" + _field(v) for v in tuple(row))).encode()


def _fast_entries(rows: Sequence[tuple[Any, ...] | Any], head: str) -> list[bytes]:
    # The generic form for the NOT NULL columns, in one expression and no call per column.
    start = head + LEAF_PREFIX
    return [
        f"{start}|{len(i := str(entry))}:{i}|{len(t := str(at_us))}:{t}|{len(kind)}:{kind}"
        f"|{len(actor)}:{actor}|{len(outcome)}:{outcome}"
        f"|{'-' if structure_id is None else f'{len(s := str(structure_id))}:{s}'}"
        f"|{'-' if amc is None else f'{len(amc)}:{amc}'}"
        f"|{'-' if insured is None else f'{2 * len(insured)}:{insured.hex()}'}"
        f"|{len(e := str(exposed))}:{e}|{len(detail)}:{detail}".encode()
        for entry, at_us, kind, actor, outcome, structure_id, amc, insured, exposed, detail in rows
    ]


def pseudonym(key: bytes, identity: bytes) -> bytes:
    """The insured person as the log names them: HMAC-SHA256, under the log's own key, of
    ``vigie.rights.protected.cardless_message`` (NIR, birth date, birth rank), truncated to
    128 bits. Unlinkable without the key, and unlike a blind index it does not change when the
    index keys rotate, so a person's history and an incident's letters survive a rotation."""
    return hmac.digest(key, b"vigie-log-pseudonym\x1f" + identity, "sha256")[:PSEUDONYM_BYTES]
