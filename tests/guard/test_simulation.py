"""The simulator: a small month meets the issue's targets, and the figures measure something
(the same attacks against a guard that contains nobody expose far more)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from vigie.guard.engine import Guard
from vigie.guard.memory import MemoryContainment
from vigie.guard.simulation import report
from vigie.guard.simulation.run import Simulation, Size

TINY = Size(800, 30_000, 14, swarm=30, attacks_from_day=3, attack_days=(0, 0, 1, 5, 7))


class Unlimited:
    def take(self, checks: object, now: float, *, wait: bool = True) -> float:
        return 0.0

    def close(self) -> None:
        pass


class Blind(Guard):
    """Quotas and risk without consequence: what the attacks get with no guard at all."""

    def _decide(self, *_args: object) -> bool:  # every decision, after a throttle or an answer
        return False


def test_a_small_month_meets_the_targets(tmp_path: Path) -> None:
    sim = Simulation(TINY, seed=3)
    elapsed = sim.run()
    data = report.results(sim, elapsed, 3)
    assert {s["scenario"] for s in data["scenarios"]} == {"a", "b", "c", "d", "e"}
    for scenario in data["scenarios"]:
        assert scenario["met"], scenario
        assert scenario["questions"] > 0
    assert data["honest"]["met"], data["honest"]
    assert data["honest"]["questions"] > 50_000
    json_path, png_path = report.write(data, tmp_path, Console(file=None, quiet=True))
    assert json.loads(json_path.read_text(encoding="utf-8"))["size"]["professionals"] == 800
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The alerts say why, in French, with values against baselines.
    assert all("référence" in alert.summary() for alert in sim.containment.alerts)


def test_without_containment_the_same_attacks_expose_far_more() -> None:
    sim = Simulation(Size(800, 30_000, 14, swarm=30, attacks_from_day=3,
                          attack_days=(0, 0, 1, 5, 7)), seed=3)  # fmt: skip
    sim.guard = Blind(Unlimited(), MemoryContainment())
    sim.run()
    exposed = {a.key: len(a.exposed) for a in sim.attacks}
    assert exposed["a"] > 2_000 and exposed["b"] > 100 and exposed["c"] > 2_000
    assert exposed["d"] > 10
