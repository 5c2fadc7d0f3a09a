"""vigie simulate: honest practices and five attacks through the guard's decision code; with
--http, the attacks that play out in minutes, live, against a running server."""

from __future__ import annotations

import random
import time
from datetime import date
from pathlib import Path

import typer

from vigie.cli.common import console, fail, runtime
from vigie.cli.professionals import minter
from vigie.guard.simulation import http as live
from vigie.guard.simulation import report
from vigie.guard.simulation.run import FULL, SMALL, Simulation, Size


def simulate(
    size: str = typer.Option("small", help="small (tests, ~15 s) ou full (20 000 / 1 000 000)."),
    professionals: int | None = typer.Option(None, min=200, help="Remplace la taille choisie."),
    insured: int | None = typer.Option(None, min=10_000, help="Remplace la taille choisie."),
    days: int | None = typer.Option(None, min=14, max=60, help="Remplace la taille choisie."),
    seed: int = typer.Option(1, help="Graine : même graine, mêmes résultats."),
    workers: int = typer.Option(
        1,
        min=1,
        max=32,
        help="Processus serveurs simulés : chaque demande va à l'un d'eux au hasard (état de"
        " risque propre à chacun, quotas et suspensions partagés, comme avec Redis).",
    ),
    share: bool = typer.Option(
        True, help="--workers : les processus partagent leur état de risque (par Redis)."
    ),
    out: Path = typer.Option(Path("var/simulation"), help="Dossier du JSON et du graphique."),
    http: str | None = typer.Option(
        None, help="Attaquer en direct le serveur à cette adresse (ex. http://127.0.0.1:8000)."
    ),
    seed_dir: Path = typer.Option(
        Path("var/seed"), help="--http : dossier écrit par 'vigie seed' (droits, professionnels)."
    ),
    seconds: float = typer.Option(600, min=5, max=3_600, help="--http : durée maximale."),
    only: str = typer.Option("ade", help="--http : scénarios à jouer, parmi a, d et e."),
) -> None:
    """Run the month, print the table, write simulation.json and simulation.png."""
    if http is not None:
        if workers != 1:
            raise fail("--workers : en simulation seulement ; avec --http, c'est le serveur qui"
                       " a ses processus (vigie serve --workers)")  # fmt: skip
        _over_http(http, seed_dir, seconds, only, seed, out)
        return
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
    sim = Simulation(chosen, seed=seed, workers=workers, share=share)
    console.print("simulation du mois…")
    elapsed = sim.run()
    data = report.results(sim, elapsed, seed)
    json_path, png_path = report.write(data, out, console)
    console.print(f"résultats : {json_path} et {png_path}")
    if not all(s["met"] for s in data["scenarios"]) or not data["honest"]["met"]:
        raise typer.Exit(1)


def _over_http(url: str, seed_dir: Path, seconds: float, only: str, seed: int, out: Path) -> None:
    """The fast attacks against the server at ``url``, on tokens minted for the seed's
    professionals (this process shares the server's key file and database)."""
    if not only or set(only) - set("ade"):
        raise fail("--only : des lettres parmi a, d et e (b, c et l'activité honnête demandent"
                   " l'horloge simulée)")  # fmt: skip
    try:
        server = live.Server(url)
        people = live.Seed.read(seed_dir, date.today())
        rng = random.Random(seed)
        chosen = live.attacks(people, date.today(), rng, only, f"{seed}-{int(time.time())}")
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"attaques en direct contre {url} ({', '.join(a.key for a in chosen)})…")
    with runtime() as rt:
        mint = minter(rt, 60)
        try:
            outcomes, elapsed = live.run(server, mint, chosen, seconds)
        except (OSError, live.ServerError) as exc:
            raise fail(f"serveur : {exc}") from exc
    data = live.results(outcomes, elapsed, seconds, seed)
    json_path, png_path = report.write(data, out, console)
    console.print(f"résultats : {json_path} et {png_path}")
    if not all(s["met"] for s in data["scenarios"]):
        raise typer.Exit(1)
