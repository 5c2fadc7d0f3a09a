"""vigie simulate: honest practices and five attacks through the guard's decision code."""

from __future__ import annotations

from pathlib import Path

import typer

from vigie.cli.common import console, fail
from vigie.guard.simulation import report
from vigie.guard.simulation.run import FULL, SMALL, Simulation, Size


def simulate(
    size: str = typer.Option("small", help="small (tests, ~15 s) ou full (20 000 / 1 000 000)."),
    professionals: int | None = typer.Option(None, min=200, help="Remplace la taille choisie."),
    insured: int | None = typer.Option(None, min=10_000, help="Remplace la taille choisie."),
    days: int | None = typer.Option(None, min=14, max=60, help="Remplace la taille choisie."),
    seed: int = typer.Option(1, help="Graine : même graine, mêmes résultats."),
    out: Path = typer.Option(Path("var/simulation"), help="Dossier du JSON et du graphique."),
) -> None:
    """Run the month, print the table, write simulation.json and simulation.png."""
    if size not in ("small", "full"):
        raise fail("taille inconnue : small ou full")
    chosen = FULL if size == "full" else SMALL
    chosen = Size(
        professionals or chosen.professionals,
        insured or chosen.insured,
        days or chosen.days,
        chosen.swarm if (professionals or chosen.professionals) >= 5 * chosen.swarm else 40,
        chosen.attacks_from_day,
        chosen.attack_days,
    )
    console.print("construction de la population et des professionnels…")
    sim = Simulation(chosen, seed=seed)
    console.print("simulation du mois…")
    elapsed = sim.run()
    data = report.results(sim, elapsed, seed)
    json_path, png_path = report.write(data, out, console)
    console.print(f"résultats : {json_path} et {png_path}")
    if not all(s["met"] for s in data["scenarios"]) or not data["honest"]["met"]:
        raise typer.Exit(1)
