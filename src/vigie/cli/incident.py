"""vigie incident: declare an incident and produce the CNIL notification and the letters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from vigie.cli.common import console, fail, runtime
from vigie.incidents.flows import UnknownIncident, declare_incident, write_documents
from vigie.incidents.service import Declaration, DeclarationError

app = typer.Typer(help="Incidents : périmètre, notification CNIL, lettres.", no_args_is_help=True)
ACTOR = "operator:cli-dpo"


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"{name} : date ISO 8601 attendue (ex. 2026-01-29T08:00)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("declare")
def declare(
    kind: str = typer.Option(..., help="accounts (comptes compromis) ou database_copy."),
    description: str = typer.Option(..., help="Ce qui s'est passé, en une ou deux phrases."),
    account: list[str] = typer.Option([], help="Compte compromis (RPPS), répétable."),
    structure: list[int] = typer.Option([], help="Structure compromise (identifiant), répétable."),
    start: str | None = typer.Option(None, help="Début de la période compromise (ISO 8601)."),
    end: str | None = typer.Option(None, help="Fin de la période compromise (ISO 8601)."),
    detected: str | None = typer.Option(None, help="Prise de connaissance (défaut : maintenant)."),
    measure_taken: list[str] = typer.Option([], help="Mesure prise, répétable."),
    measure_planned: list[str] = typer.Option([], help="Mesure envisagée, répétable."),
    keys_compromised: bool = typer.Option(False, help="Les clés de chiffrement aussi."),
    out: Path = typer.Option(Path("incident"), help="Dossier des documents produits."),
    letters: bool = typer.Option(True, help="Produire aussi les lettres (art. 34)."),
) -> None:
    """Declare an incident (logged), compute its scope and write the documents."""
    declaration = Declaration(
        kind=kind,  # type: ignore[arg-type]
        detected_at=_moment(detected, "detected") or datetime.now(UTC),
        description=description,
        accounts=account,
        structures=structure,
        start=_moment(start, "start"),
        end=_moment(end, "end"),
        keys_compromised=keys_compromised,
        measures_taken=measure_taken,
        measures_planned=measure_planned,
    )
    with runtime() as rt:
        try:
            incident_id = declare_incident(rt, declaration, ACTOR)
        except DeclarationError as exc:
            raise fail(str(exc)) from exc
        written = write_documents(rt, incident_id, out, actor=ACTOR, with_letters=letters)
    console.print(f"incident n° {incident_id} déclaré ; documents :", highlight=False)
    for path in written:
        console.print(f"  {path}", highlight=False)


@app.command("documents")
def documents(
    incident: int = typer.Argument(..., help="Numéro de l'incident."),
    out: Path = typer.Option(Path("incident"), help="Dossier des documents produits."),
    letters: bool = typer.Option(True, help="Produire aussi les lettres (art. 34)."),
) -> None:
    """Recompute the scope of a declared incident and write its documents again."""
    with runtime() as rt:
        try:
            written = write_documents(rt, incident, out, actor=ACTOR, with_letters=letters)
        except UnknownIncident as exc:
            raise fail(f"incident n° {incident} introuvable") from exc
    for path in written:
        console.print(f"  {path}", highlight=False)
