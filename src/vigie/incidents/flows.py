"""Incidents as units of work: declare (logged), assess (scope and notification), and write the
documents (the notification, and per mutuelle the letters as PDF and mail-merge CSV; producing
them decrypts identities, which is logged too)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigie.db.engine import read_transaction, write_transaction
from vigie.incidents import letters, render
from vigie.incidents.notification import build_notification
from vigie.incidents.scope import Scope, compute_scope
from vigie.incidents.service import Declaration, IncidentView, declare, load, log_documents
from vigie.runtime import Runtime


class UnknownIncident(LookupError):
    pass


@dataclass(frozen=True)
class Assessment:
    incident: IncidentView
    scope: Scope
    notification: dict[str, Any]


def declare_incident(runtime: Runtime, declaration: Declaration, declared_by: str) -> int:
    with write_transaction(runtime.engine) as conn:
        return declare(conn, declaration, declared_by=declared_by)


def assess(runtime: Runtime, incident_id: int, now: datetime | None = None) -> Assessment:
    with read_transaction(runtime.engine) as conn:
        incident = load(conn, incident_id)
        if incident is None:
            raise UnknownIncident(incident_id)
        scope = compute_scope(conn, incident)
    notification = build_notification(
        incident,
        scope,
        dpo_contact=runtime.settings.dpo_contact,
        now=now or datetime.now(UTC),
    )
    return Assessment(incident, scope, notification)


def write_documents(
    runtime: Runtime, incident_id: int, out: Path, *, actor: str, with_letters: bool = True
) -> list[Path]:
    """Write the notification (JSON, PDF) and, per mutuelle, the letters (PDF, CSV) to ``out``."""
    assessment = assess(runtime, incident_id)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "notification-cnil.json", out / "notification-cnil.pdf"]
    written[0].write_text(
        json.dumps(assessment.notification, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    written[1].write_bytes(render.notification_pdf(assessment.notification))
    if with_letters:
        written += _letters(runtime, assessment, out, actor)
    return written


def _letters(runtime: Runtime, assessment: Assessment, out: Path, actor: str) -> list[Path]:
    keyring = runtime.current_keyring()
    log_key = runtime.keys.audit_keys().pseudonym
    written = []
    with write_transaction(runtime.engine) as conn:
        for scope in assessment.scope.mutuelles:
            people = letters.recipients(conn, keyring, log_key, assessment.incident, scope.amc)
            if not people:
                continue
            base = out / f"lettres-{scope.amc}"
            csv_path, pdf_path = base.with_suffix(".csv"), base.with_suffix(".pdf")
            letters.write_csv(csv_path, people, assessment.incident, scope.categories)
            pdf_path.write_bytes(render.letters_pdf(people, assessment.incident, scope.categories))
            written += [csv_path, pdf_path]
        log_documents(conn, assessment.incident.id, actor, "letters", len(written) // 2)
    return written
