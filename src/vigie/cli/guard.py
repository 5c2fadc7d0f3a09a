"""vigie guard: the security officer's alerts and lifts, from the command line."""

from __future__ import annotations

import redis
import typer

from vigie.cli.common import console, fail, runtime
from vigie.crypto.keyring import Keyring
from vigie.db.engine import read_transaction, write_transaction
from vigie.guard import service, sharing

app = typer.Typer(help="Protection contre l'extraction massive : alertes et levées.")


@app.command("alerts")
def alerts(
    active: bool = typer.Option(False, help="Seulement les suspensions en cours."),
    limit: int = typer.Option(50, min=1, max=1000, help="Nombre d'alertes au plus."),
) -> None:
    """List the latest alerts, each with the signals that explain it."""
    with runtime() as rt, read_transaction(rt.engine) as conn:
        found = service.list_alerts(conn, active_only=active, limit=limit)
    if not found:
        console.print("aucune alerte")
    for alert in found:
        if alert.suspension is None:
            state = "sans suspension"
        elif alert.lifted_at is not None:
            state = f"suspension {alert.suspension} levée par {alert.lifted_by}"
        else:
            state = f"suspension {alert.suspension} en cours"
        # soft_wrap: an explanation line is never cut in the middle on a narrow terminal.
        console.print(
            f"[bold]alerte {alert.id}[/bold] — {alert.created_at:%Y-%m-%d %H:%M} — {state}",
            soft_wrap=True,
        )
        console.print(alert.summary, soft_wrap=True, highlight=False, markup=False)
        console.print()


@app.command("lift")
def lift(
    suspension: int = typer.Argument(..., min=1, help="Numéro de la suspension."),
    officer: str = typer.Option(..., help="Qui lève la suspension (user:…)."),
    reason: str = typer.Option(..., min=3, help="Pourquoi (vérification faite, etc.)."),
) -> None:
    """Lift a suspension; the lift is written in the access log."""
    if len(reason.strip()) < 3:
        raise fail("motif trop court")
    with runtime() as rt:
        with write_transaction(rt.engine) as conn:
            outcome, account = service.lift(
                conn, suspension, officer=officer, reason=reason.strip()
            )
        if outcome == "not_found":
            raise fail("suspension introuvable")
        # Servers that share their risk state forget the account's, as after a lift by the API;
        # published again when the suspension was lifted already (a lift whose note was lost).
        forgotten = _forget_everywhere(rt.keyring, rt.settings.redis_url, account)
        if outcome == "already_lifted":
            raise fail("suspension déjà levée" + forgotten)
        console.print(
            f"suspension {suspension} levée ; les serveurs l'appliquent sous "
            f"{service.CACHE_SECONDS:.0f} s{forgotten}"
        )


def _forget_everywhere(keyring: Keyring, url: str | None, account: int | None) -> str:
    """What became of the servers' risk state of the account, for the officer."""
    if not url or account is None:
        return ""
    try:
        sharing.publish_lift(keyring, url, account)
    except (redis.RedisError, ValueError):
        return (
            " ; Redis injoignable : les serveurs gardent l'état de risque du compte jusqu'à leur"
            " redémarrage (relancez cette commande quand Redis répond)"
        )
    return " ; état de risque du compte oublié par les serveurs"
