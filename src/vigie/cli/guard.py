"""vigie guard: the security officer's alerts and lifts, from the command line."""

from __future__ import annotations

import typer
from rich.table import Table

from vigie.cli.common import console, fail, runtime
from vigie.db.engine import read_transaction, write_transaction
from vigie.guard import service

app = typer.Typer(help="Protection contre l'extraction massive : alertes et levées.")


@app.command("alerts")
def alerts(
    active: bool = typer.Option(False, help="Seulement les suspensions en cours."),
    limit: int = typer.Option(50, min=1, max=1000, help="Nombre d'alertes au plus."),
) -> None:
    """List the latest alerts, each with the signals that explain it."""
    with runtime() as rt, read_transaction(rt.engine) as conn:
        found = service.list_alerts(conn, active_only=active, limit=limit)
    table = Table(title="Alertes de la protection", show_lines=True)
    for column in ("alerte", "date", "suspension", "état", "explication"):
        table.add_column(column)
    for alert in found:
        state = "levée par " + (alert.lifted_by or "?") if alert.lifted_at else "en cours"
        table.add_row(
            str(alert.id),
            f"{alert.created_at:%Y-%m-%d %H:%M}",
            str(alert.suspension or "-"),
            state if alert.suspension else "-",
            alert.summary,
        )
    console.print(table if found else "aucune alerte")


@app.command("lift")
def lift(
    suspension: int = typer.Argument(..., min=1, help="Numéro de la suspension."),
    officer: str = typer.Option(..., help="Qui lève la suspension (user:…)."),
    reason: str = typer.Option(..., min=3, help="Pourquoi (vérification faite, etc.)."),
) -> None:
    """Lift a suspension; the lift is written in the access log."""
    if len(reason.strip()) < 3:
        raise fail("motif trop court")
    with runtime() as rt, write_transaction(rt.engine) as conn:
        outcome, _account = service.lift(conn, suspension, officer=officer, reason=reason.strip())
    if outcome == "not_found":
        raise fail("suspension introuvable")
    if outcome == "already_lifted":
        raise fail("suspension déjà levée")
    console.print(
        f"suspension {suspension} levée ; les serveurs l'appliquent sous "
        f"{service.CACHE_SECONDS:.0f} s"
    )
