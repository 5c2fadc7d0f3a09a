"""vigie demo-incident: a phished account's questions, then the incident's papers from the log."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from tests.cli.test_cli import cli
from vigie.cli.main import app

__all__ = ["cli"]


def test_the_demo_incident_writes_the_notification_and_the_letters(
    cli: CliRunner, tmp_path: Path
) -> None:
    seed = tmp_path / "seed"
    seeded = cli.invoke(
        app, ["seed", "--insured", "200", "--professionals", "20", "--out", str(seed)]
    )
    assert seeded.exit_code == 0, seeded.output
    out = tmp_path / "incident"
    done = cli.invoke(
        app, ["demo-incident", "--seed-dir", str(seed), "--questions", "12", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    notification = json.loads((out / "notification-cnil.json").read_text(encoding="utf-8"))
    text = json.dumps(notification, ensure_ascii=False)
    assert (out / "notification-cnil.pdf").read_bytes().startswith(b"%PDF")
    merged = sorted(out.glob("*.csv"))
    assert merged, sorted(p.name for p in out.iterdir())
    letters = 0
    for path in merged:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            letters += sum(1 for _ in csv.DictReader(stream, delimiter=";"))
    assert 1 <= letters <= 12  # the people who got a positive answer, no more
    with (seed / "rights.csv").open(encoding="utf-8", newline="") as stream:
        nirs = {row["nir"] for row in csv.DictReader(stream)}
    assert not any(nir in text for nir in nirs)  # the notification names nobody
    verified = cli.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
