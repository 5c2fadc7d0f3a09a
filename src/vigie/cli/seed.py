"""vigie seed: write a synthetic population and import it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from vigie.cli import imports
from vigie.cli.common import console
from vigie.synthetic.population import write_population


def seed(
    insured: int = typer.Option(100_000, min=1, help="Assurés (lignes de droits)."),
    professionals: int = typer.Option(2_000, min=1, help="Professionnels de santé."),
    out: Path = typer.Option(Path("var/seed"), help="Dossier des fichiers générés."),
    seed_value: int = typer.Option(2024, "--seed", help="Graine (même graine, mêmes fichiers)."),
    load: bool = typer.Option(True, help="Importer les fichiers après les avoir écrits."),
) -> None:
    """Write realistic synthetic plans, rights and professionals, then import them."""
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("génération", total=insured)
        files = write_population(
            out,
            insured=insured,
            professionals=professionals,
            seed=seed_value,
            progress=lambda done: bar.update(task, completed=done),
        )
    console.print(
        f"écrit dans {out} : {files.plan_count} plans de {files.amc_count} mutuelles, "
        f"{files.rights_count} droits, {files.professional_count} professionnels",
        highlight=False,
    )
    if load:
        imports.plans(files.plans)
        imports.rights(files.rights)
        imports.professionals(files.professionals)
