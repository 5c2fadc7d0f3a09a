"""The sequencer: gives committed access-log entries their leaf index, in order, stores what the
tree needs (leaf hashes, the compact range, complete subtrees at a few levels) and signs a tree
head. Requests only insert entries; this is the only writer of the tree (as in Trillian).

Invariant: every committed entry gets exactly one leaf, none is ever skipped. SQLite commits in
id order under one write lock. On PostgreSQL an id can commit after a larger one, so a round reads
its snapshot (xmax and the transactions in progress) first, takes entries of transactions that
have ended below xmax, and keeps the ones in progress as ``pending`` for a later round: a long
import delays only its own entry, never the others, and no entry is ever passed over. SQLite's
one write lock is what requests wait for on the server's event loop: a round reads and hashes
under no lock and writes in short slices, each checking that no other round moved the tree.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from vigie.audit.log import ENTRY_COLUMNS, leaf_entries, now_us
from vigie.audit.merkle import EMPTY_ROOT, leaf_hash, node_hash
from vigie.audit.models import SequencerState, SignedHead
from vigie.audit.tree_head import (
    SignedTreeHead,
    TreeHead,
    encode_public_key,
    sign_tree_head,
)
from vigie.crypto.keyfile import KeyFile
from vigie.db.bulk import row_sink
from vigie.db.engine import write_transaction
from vigie.db.sql import Sql, execute_many, stream

# Levels of complete subtrees kept (besides the leaves): a proof reads at most 2**8 rows a node.
NODE_LEVELS: tuple[int, ...] = (8, 16)
STATE_ID = 1
CHUNK = 50_000
# SQLite: entries written per write transaction (about 2 ms of the lock), and the pause that
# leaves the lock to requests between two (SQLite's busy handler retries after 1, 2, 5 ms).
SLICE = 256
SLICE_PAUSE = 0.004

_SNAPSHOT = "SELECT CAST(pg_current_snapshot() AS text)"


def _new_entries_sql(dialect: str) -> str:
    entry = ", ".join(f"e.{c.strip()}" for c in ENTRY_COLUMNS.split(","))
    if dialect == "postgresql":
        return (
            f"SELECT {entry} FROM access_log e"  # noqa: S608 (constant text)
            " WHERE ((e.txid >= CAST(CAST(:frontier AS text) AS xid8)"
            " AND e.txid < CAST(CAST(:xmax AS text) AS xid8))"
            " OR e.txid = ANY(CAST(:ended AS xid8[])))"
            " AND NOT e.txid = ANY(CAST(:running AS xid8[]))"
            " ORDER BY e.txid, e.id"
        )
    return f"SELECT {entry} FROM access_log e WHERE e.id > :last_id ORDER BY e.id"  # noqa: S608


_SQLITE_CHUNK = Sql(_new_entries_sql("sqlite") + " LIMIT :chunk")


def signing_key(keys: KeyFile) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(keys.audit_keys().signing)


def public_key_text(keys: KeyFile) -> str:
    """The log's public key (raw Ed25519, base64), as ``tools/verify_proof.py`` takes it."""
    return encode_public_key(signing_key(keys).public_key())


@dataclass(frozen=True)
class Round:
    added: int
    head: SignedTreeHead | None


@dataclass
class _State:
    size: int
    peaks: list[bytes]
    last_id: int = 0
    frontier: int = 0
    pending: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Snapshot:
    """What a PostgreSQL round may read: transactions below ``xmax`` not ``running``."""

    xmax: int = 0
    running: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, text_form: str) -> _Snapshot:
        _xmin, xmax, running = text_form.split(":")
        return cls(int(xmax), frozenset(int(x) for x in running.split(",") if x))


def sequence(
    engine: Engine,
    keys: KeyFile,
    *,
    log_id: str,
    heads_file: Path | None = None,
    force: bool = False,
) -> Round:
    """One round: sequence every entry committed since the last one and sign a head if any was
    added (or if ``force``). The head is published to ``heads_file`` once committed."""
    key = signing_key(keys)
    if engine.dialect.name == "sqlite":
        if not force and _idle(engine):
            if heads_file is not None:
                _catch_up(engine, heads_file, log_id)
            return Round(0, None)  # nothing new: leave SQLite's single write lock to requests
        done = _sqlite_round(engine, key, log_id, force)
    else:
        done = _postgres_round(engine, key, log_id, force)
    if done.head is not None and heads_file is not None:
        publish(done.head, heads_file)
    elif heads_file is not None:
        _catch_up(engine, heads_file, log_id)
    return done


def _postgres_round(engine: Engine, key: Ed25519PrivateKey, log_id: str, force: bool) -> Round:
    # One transaction: PostgreSQL's row lock on the state holds up no request.
    with write_transaction(engine) as conn:
        snapshot = _snapshot(conn)
        state = _load_state(conn)
        added = 0
        for rows in _new_entries(conn, state, snapshot):
            _store(conn, rows, *_hash_rows(state, rows))
            added += len(rows)
        _save_state(conn, state, snapshot)
        head = None
        if added or force or (state.size > 0 and _head_missing(conn, state.size)):
            head = _sign(conn, state, key, log_id)
    return Round(added, head)


def _sqlite_round(engine: Engine, key: Ed25519PrivateKey, log_id: str, force: bool) -> Round:
    """SQLite has one write lock for the whole file, and the server's requests wait for it on
    its event loop: entries are read and hashed under no lock (a WAL snapshot), then written
    SLICE at a time, the lock left to requests between two slices."""
    added, overtaken = 0, False
    while not overtaken:
        with engine.connect() as conn, conn.begin():
            state = _read_state(conn) or _State(0, [])
            params = {"last_id": state.last_id, "chunk": CHUNK}
            rows = next(stream(conn, _SQLITE_CHUNK, params, CHUNK), [])  # the driver's tuples
        # A backlog (after a stop) is caught up at full speed: a whole chunk per transaction.
        step = SLICE if len(rows) < CHUNK else CHUNK
        for start in range(0, len(rows), step):
            if start:
                time.sleep(SLICE_PAUSE)
            part = rows[start : start + step]
            first, hashes, nodes = _hash_rows(state, part)
            with write_transaction(engine) as conn:
                overtaken = _load_state(conn).size != first
                if not overtaken:
                    _store(conn, part, first, hashes, nodes)
                    _save_state(conn, state, _Snapshot())
            if overtaken:  # another round moved the tree on: it stands, and this one stops
                break
            added += len(part)
        if len(rows) < CHUNK:
            break
    # The head covers the stored state, whoever wrote it (a forced round always signs one).
    with write_transaction(engine) as conn:
        state = _load_state(conn)
        if added or force or (state.size > 0 and _head_missing(conn, state.size)):
            return Round(added, _sign(conn, state, key, log_id))
    return Round(added, None)


def _idle(engine: Engine) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT s.last_id, s.tree_size, (SELECT MAX(id) FROM access_log),"
                " (SELECT COUNT(*) FROM audit_heads h WHERE h.tree_size = s.tree_size)"
                " FROM audit_state s"
            )
        ).first()
    if row is None:
        return False
    last_id, size, newest, heads = row
    return bool((newest is None or newest <= last_id) and (size == 0 or heads > 0))


def publish(head: SignedTreeHead, path: Path) -> None:
    """Append the head to the publication file (one JSON object a line), flushed to disk: a
    copy outside the database, against which a rewritten database is caught."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(head.to_dict(), sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _catch_up(engine: Engine, path: Path, log_id: str) -> None:
    """Publish the latest head if the file lacks it (a crash between commit and publication)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                SignedHead.tree_size,
                SignedHead.root_hash,
                SignedHead.timestamp_ms,
                SignedHead.signature,
            )
            .order_by(SignedHead.tree_size.desc())
            .limit(1)
        ).first()
    if row is None or _last_published_size(path) >= row.tree_size:
        return
    head = TreeHead(row.tree_size, bytes(row.root_hash), row.timestamp_ms, log_id)
    publish(SignedTreeHead(head, bytes(row.signature)), path)


def _last_published_size(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 4096))
            lines = handle.read().splitlines()
        return int(json.loads(lines[-1])["tree_size"]) if lines else -1
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def _snapshot(conn: Connection) -> _Snapshot:
    # PostgreSQL: the round's first statement, before its transaction takes an id of its own.
    return _Snapshot.parse(conn.execute(text(_SNAPSHOT)).scalar_one())


def _read_state(conn: Connection) -> _State | None:
    query = select(
        SequencerState.tree_size,
        SequencerState.peaks,
        SequencerState.last_id,
        SequencerState.frontier,
        SequencerState.pending,
    ).where(SequencerState.id == STATE_ID)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # one sequencer at a time, whichever process runs it
    row = conn.execute(query).first()
    if row is None:
        return None
    peaks = [row.peaks[i : i + 32] for i in range(0, len(row.peaks), 32)]
    pending = tuple(int(x) for x in row.pending.split(",") if x)
    return _State(row.tree_size, peaks, row.last_id, row.frontier, pending)


def _load_state(conn: Connection) -> _State:
    """The state, inside a write transaction (created empty on the first round)."""
    state = _read_state(conn)
    if state is None:
        conn.execute(
            insert(SequencerState).values(
                id=STATE_ID, tree_size=0, peaks=b"", last_id=0, frontier=0, pending=""
            )
        )
        return _State(0, [])
    return state


def _new_entries(conn: Connection, state: _State, snapshot: _Snapshot) -> Iterator[list[Any]]:
    """PostgreSQL: new entries in sequencing order, in chunks (a backlog of millions streams)."""
    ended = [x for x in state.pending if x not in snapshot.running]
    params: dict[str, Any] = {
        "frontier": state.frontier,
        "xmax": snapshot.xmax,
        "ended": _array(ended),
        "running": _array(sorted(snapshot.running)),
    }
    yield from stream(conn, Sql(_new_entries_sql("postgresql")), params, CHUNK)


_NEW_LEAF = Sql("INSERT INTO audit_leaves (leaf_index, entry_id, leaf_hash) VALUES (:i, :e, :h)")


def _array(values: list[int]) -> str:
    return "{" + ",".join(str(v) for v in values) + "}"


def _hash_rows(state: _State, rows: Sequence[Any]) -> tuple[int, list[bytes], list[Any]]:
    """Extend ``state`` with ``rows``: (the first leaf index, leaf hashes, subtrees completed)."""
    first = state.size
    hashes = [leaf_hash(entry) for entry in leaf_entries(rows)]
    nodes = extend(state, hashes)
    state.last_id = max(state.last_id, int(rows[-1][0]))
    return first, hashes, nodes


def _store(
    conn: Connection, rows: Sequence[Any], first: int, hashes: list[bytes], nodes: list[Any]
) -> None:
    if conn.dialect.name == "postgresql":
        with row_sink(conn, "audit_leaves", ("leaf_index", "entry_id", "leaf_hash")) as sink:
            for offset, (row, digest) in enumerate(zip(rows, hashes, strict=True)):
                sink.write((first + offset, row[0], digest))
    else:
        leaves = [
            {"i": first + offset, "e": row[0], "h": digest}
            for offset, (row, digest) in enumerate(zip(rows, hashes, strict=True))
        ]
        execute_many(conn, _NEW_LEAF, leaves)
    if nodes:
        with row_sink(conn, "audit_nodes", ("level", "index", "hash")) as sink:
            for node in nodes:
                sink.write(node)


def _save_state(conn: Connection, state: _State, snapshot: _Snapshot) -> None:
    if conn.dialect.name == "postgresql":
        still = {x for x in state.pending if x in snapshot.running}
        still |= {x for x in snapshot.running if x >= state.frontier}
        state.pending = tuple(sorted(still))
        state.frontier = max(state.frontier, snapshot.xmax)
    conn.execute(
        update(SequencerState)
        .where(SequencerState.id == STATE_ID)
        .values(
            tree_size=state.size,
            peaks=b"".join(state.peaks),
            last_id=state.last_id,
            frontier=state.frontier,
            pending=",".join(str(x) for x in state.pending),
        )
    )


def extend(
    state: _State, hashes: list[bytes], *, base_level: int = 0
) -> list[tuple[int, int, bytes]]:
    """Append hashes (of complete subtrees at ``base_level``; leaves at 0) to the compact range;
    the complete subtrees formed at NODE_LEVELS, as (level, index, hash)."""
    peaks, size = state.peaks, state.size
    nodes: list[tuple[int, int, bytes]] = []
    for digest in hashes:
        node, rest, height = digest, size, 0
        while rest & 1:  # each trailing one bit is a peak to merge with
            node = node_hash(peaks.pop(), node)
            rest >>= 1
            height += 1
            if height + base_level in NODE_LEVELS:
                nodes.append((height + base_level, ((size + 1) >> height) - 1, node))
        peaks.append(node)
        size += 1
    state.size = size
    return nodes


def root_of(peaks: list[bytes]) -> bytes:
    if not peaks:
        return EMPTY_ROOT
    root = peaks[-1]
    for peak in reversed(peaks[:-1]):
        root = node_hash(peak, root)
    return root


def _head_missing(conn: Connection, size: int) -> bool:
    return (
        conn.execute(select(SignedHead.tree_size).where(SignedHead.tree_size == size)).first()
        is None
    )


def _sign(conn: Connection, state: _State, key: Ed25519PrivateKey, log_id: str) -> SignedTreeHead:
    head = TreeHead(state.size, root_of(state.peaks), now_us() // 1000, log_id)
    signed = sign_tree_head(head, key)
    conn.execute(delete(SignedHead).where(SignedHead.tree_size == state.size))
    conn.execute(
        insert(SignedHead).values(
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp_ms=head.timestamp_ms,
            signature=signed.signature,
        )
    )
    return signed
