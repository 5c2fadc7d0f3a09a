"""vigie import: plans (JSON v1), rights (CSV v1) and professionals (CSV), each all-or-nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from vigie.audit.access import import_event
from vigie.audit.log import record
from vigie.cli.common import console, fail, runtime
from vigie.db.engine import write_transaction
from vigie.identity.service import RegistrationError, add_professional
from vigie.rights.errors import ImportRejected, ImportReport
from vigie.rights.importer import import_rights
from vigie.rights.plans import apply_plans, parse_plans_file

app = typer.Typer(help="Imports de fichiers (tout ou rien).", no_args_is_help=True)

FileArg = typer.Argument(..., exists=True, dir_okay=False, readable=True)
SHOWN_ERRORS = 50


def _rejected(exc: ImportRejected) -> typer.Exit:
    for error in exc.errors[:SHOWN_ERRORS]:
        console.print(f"  {error}", highlight=False)
    if len(exc.errors) > SHOWN_ERRORS:
        console.print(f"  … et {len(exc.errors) - SHOWN_ERRORS} autre(s)")
    return fail(str(exc))


def _summary(kind: str, report: ImportReport) -> None:
    extra = "".join(f", {k} {v}" for k, v in report.details.items())
    console.print(
        f"{kind} : {report.created} créé(s), {report.updated} mis à jour, "
        f"{report.unchanged} inchangé(s){extra}",
        highlight=False,
    )


@app.command("plans")
def plans(file: Path = FileArg) -> None:
    """Import a v1 plans file (JSON)."""
    try:
        parsed = parse_plans_file(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise fail("le fichier n'est pas en UTF-8") from exc
    except ImportRejected as exc:
        raise _rejected(exc) from exc
    with runtime() as rt, write_transaction(rt.engine) as conn:
        report = apply_plans(conn, parsed)
        amcs = sorted({plan.amc for plan in parsed})
        record(conn, import_event("plans", _counts(report), amcs))
    _summary("plans", report)


@app.command("rights")
def rights(file: Path = FileArg) -> None:
    """Import a v1 rights file (CSV): checked whole, then applied in one transaction."""
    total = max(0, sum(1 for _ in file.open("rb")) - 1)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with runtime() as rt, Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(_label(phase), total=total)
            bar.update(tasks[phase], completed=done)

        try:
            with (
                file.open(encoding="utf-8", newline="") as stream,
                write_transaction(rt.engine) as conn,
            ):
                report = import_rights(conn, rt.keyring, stream, progress=progress)
                record(conn, import_event("rights", _counts(report), []))
        except UnicodeDecodeError as exc:
            raise fail("le fichier n'est pas en UTF-8 : rien n'a été modifié") from exc
        except ImportRejected as exc:
            bar.stop()
            raise _rejected(exc) from exc
    _summary("droits", report)


def _counts(report: ImportReport) -> dict[str, int]:
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        **report.details,
    }


def _label(phase: str) -> str:
    return {
        "check": "vérification",
        "write:beneficiaries": "bénéficiaires",
        "write:rights": "droits",
    }.get(phase, phase)


@app.command("professionals")
def professionals(file: Path = FileArg) -> None:
    """Import professionals (CSV: rpps,profession,postcode,structure_finess,structure_name)."""
    with runtime() as rt, file.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        try:
            with write_transaction(rt.engine) as conn:
                count = 0
                for row in reader:
                    add_professional(
                        conn,
                        rpps=(row.get("rpps") or "").strip(),
                        profession=(row.get("profession") or "").strip(),
                        postcode=(row.get("postcode") or "").strip(),
                        structure_finess=(row.get("structure_finess") or "").strip() or None,
                        structure_name=(row.get("structure_name") or "").strip() or None,
                    )
                    count += 1
        except RegistrationError as exc:
            raise fail(f"ligne {reader.line_num} : {exc} ; rien n'a été modifié") from exc
    console.print(f"professionnels : {count} enregistré(s)")
