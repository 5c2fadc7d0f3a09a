"""Suspensions and alerts in the store, shared by every server process.

Invariant: a suspension, its alert and the access-log entry saying so commit together; a lift
and its log entry too. Processes see a new suspension within CACHE_SECONDS (their own at once).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Connection, Engine, insert, or_, select, update

from vigie.audit.log import Event, record
from vigie.db.engine import read_transaction, write_transaction
from vigie.guard.engine import Alert, Verdict
from vigie.guard.features import Caller
from vigie.guard.models import GuardAlert, GuardSuspension

CACHE_SECONDS = 2.0
# Suspensions of one account made this close to one another are one incident (see lift).
SAME_INCIDENT = timedelta(minutes=1)
REFUSAL_LOG_EVERY = 60.0  # one log entry per account and minute of refusals, not one per hit


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def save_suspension(conn: Connection, alert: Alert) -> int:
    """Store the alert and the suspension, and log it; returns the suspension id."""
    caller, at = alert.caller, _moment(alert.at)
    signals = [
        {"name": s.name, "points": s.points, "value": s.value, "baseline": s.baseline,
         "label": s.label}
        for s in alert.signals
    ]  # fmt: skip
    alert_id = conn.execute(
        insert(GuardAlert)
        .values(
            created_at=at,
            account_id=caller.account,
            subject=caller.subject,
            structure_id=caller.structure,
            score=alert.score,
            threshold=alert.threshold,
            summary=alert.summary(),
            signals=orjson.dumps(signals).decode(),
        )
        .returning(GuardAlert.id)
    ).scalar_one()
    suspension_id = conn.execute(
        insert(GuardSuspension)
        .values(account_id=caller.account, subject=caller.subject, alert_id=alert_id, created_at=at)
        .returning(GuardSuspension.id)
    ).scalar_one()
    detail: dict[str, str | int | bool | None] = {
        "alert": alert_id,
        "score": alert.score,
        "signals": ",".join(s.name for s in alert.signals),
    }
    event = Event("guard", caller.subject, "suspend", caller.structure, detail=detail)
    record(conn, event, micros(at))
    return int(suspension_id)


def active_suspensions(conn: Connection) -> set[int]:
    rows = conn.execute(
        select(GuardSuspension.account_id).where(GuardSuspension.lifted_at.is_(None))
    )
    return {int(r[0]) for r in rows}


@dataclass(frozen=True)
class AlertView:
    id: int
    created_at: datetime
    subject: str
    score: int
    threshold: int
    summary: str
    signals: list[dict[str, object]]
    suspension: int | None
    lifted_at: datetime | None
    lifted_by: str | None


def list_alerts(
    conn: Connection, *, active_only: bool = False, limit: int = 100
) -> list[AlertView]:
    query = (
        select(
            GuardAlert.id, GuardAlert.created_at, GuardAlert.subject, GuardAlert.score,
            GuardAlert.threshold, GuardAlert.summary, GuardAlert.signals, GuardSuspension.id,
            GuardSuspension.lifted_at, GuardSuspension.lifted_by,
        )
        .join(GuardSuspension, GuardSuspension.alert_id == GuardAlert.id, isouter=True)
        .order_by(GuardAlert.id.desc())
        .limit(limit)
    )  # fmt: skip
    if active_only:
        query = query.where(GuardSuspension.lifted_at.is_(None), GuardSuspension.id.is_not(None))
    return [
        AlertView(a, at, subject, points, bar, summary, orjson.loads(signals), sid, lifted, by)
        for a, at, subject, points, bar, summary, signals, sid, lifted, by in conn.execute(query)
    ]


def lift(
    conn: Connection, suspension_id: int, *, officer: str, reason: str, now: datetime | None = None
) -> tuple[str, int | None]:
    """("lifted", account), ("not_found", None) or ("already_lifted", account); logged."""
    row = conn.execute(
        select(
            GuardSuspension.account_id, GuardSuspension.subject, GuardSuspension.lifted_at,
            GuardSuspension.created_at,
        ).where(GuardSuspension.id == suspension_id)
    ).first()  # fmt: skip
    if row is None:
        return "not_found", None
    if row.lifted_at is not None:
        return "already_lifted", int(row.account_id)
    moment = now or datetime.now(UTC)
    # Every active suspension of the account made with it goes with it: server processes that
    # judged the account before they knew of the first (each reloads the list every few
    # seconds), or two questions in flight, may each have suspended it, and one left would keep
    # it suspended. A later one (a minute on) would be another incident: it stays.
    lifted = conn.execute(
        update(GuardSuspension)
        .where(
            GuardSuspension.account_id == row.account_id,
            GuardSuspension.lifted_at.is_(None),
            or_(
                GuardSuspension.id == suspension_id,
                GuardSuspension.created_at <= row.created_at + SAME_INCIDENT,
            ),
        )
        .values(lifted_at=moment, lifted_by=officer, lift_reason=reason[:500])
        .returning(GuardSuspension.id)
    ).scalars()
    ids = {int(i) for i in lifted}
    if suspension_id not in ids:  # lifted meanwhile by another officer
        return "already_lifted", int(row.account_id)
    others = sorted(ids - {suspension_id})
    detail: dict[str, str | int | bool | None] = {
        "suspension": suspension_id,
        "account": row.subject,
    }
    if others:
        detail["also"] = ",".join(map(str, others))
    record(conn, Event("guard", officer, "lift", detail=detail), micros(moment))
    return "lifted", int(row.account_id)


class StoreContainment:
    """The API's containment: the store is the truth, each process caches it briefly."""

    def __init__(self, engine: Engine, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._suspended: set[int] = set()
        self._loaded = -1e18
        self._refusals: dict[int, float] = {}
        self._lock = threading.Lock()

    def is_suspended(self, account: int, now: float) -> bool:
        tick = time.monotonic()
        if tick - self._loaded > self.cache_seconds:
            with read_transaction(self.engine) as conn:
                found = active_suspensions(conn)
            with self._lock:
                self._suspended, self._loaded = found, tick
        return account in self._suspended

    def suspend(self, alert: Alert) -> None:
        if alert.caller.account in self._suspended:
            return  # already, as this process knows: a question in flight when it was
        with write_transaction(self.engine) as conn:
            save_suspension(conn, alert)
        with self._lock:
            self._suspended = self._suspended | {alert.caller.account}

    def refused(self, caller: Caller, verdict: Verdict, now: float) -> None:
        last = self._refusals.get(caller.account)
        if last is not None and now - last < REFUSAL_LOG_EVERY:
            return
        self._refusals[caller.account] = now
        detail = {"retry_after": int(verdict.retry_after + 0.999)}
        event = Event(
            "guard", caller.subject, verdict.decision.value, caller.structure, detail=detail
        )
        with write_transaction(self.engine) as conn:
            record(conn, event, micros(_moment(now)))

    def forget(self, account: int) -> None:
        """A lift in this process shows at once (others within cache_seconds)."""
        with self._lock:
            self._suspended = self._suspended - {account}


def micros(moment: datetime) -> int:
    """A moment as the access log stores it: microseconds since the epoch."""
    return int(moment.timestamp() * 1_000_000)
