"""The simulator's results: one dict, shown as a Rich table, written as JSON and a PNG chart.

Invariant: every figure comes from the run (nothing typed in), and each scenario is compared with
its target from the issue: people exposed before containment, time to containment; and honest
professionals' false containments per 10,000 professional-days.
"""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from vigie.guard.simulation.run import Simulation

EXPOSED_TARGET = {"a": 20, "b": 50, "c": 2_000, "d": 10, "e": 0}
FALSE_CONTAINMENT_TARGET = 1.0  # per 10,000 professional-days
MODEL = (
    "Réponses d'éligibilité tirées d'un modèle en mémoire de la population (qui existe, qui est"
    " couvert), pas de la base ; décisions prises par le code de la garde de l'API (Guard.admit"
    " et Guard.observe), horloge simulée. Les attaquants passent chaque réauthentification (pire"
    " cas) et respectent Retry-After."
)


def results(sim: Simulation, elapsed: float, seed: int) -> dict[str, Any]:
    pro_days = sim.professional_days
    honest = sim.honest
    per_10k = 10_000 / pro_days
    scenarios = []
    for attack in sim.attacks:
        waits = sorted(t - attack.start for t in attack.contained.values())
        target = EXPOSED_TARGET[attack.key]
        all_contained = len(waits) == len(attack.accounts)
        scenarios.append(
            {
                "scenario": attack.key,
                "label": attack.label,
                "accounts": len(attack.accounts),
                "questions": attack.asked,
                "exposed": len(attack.exposed),
                "exposed_target": target,
                "contained_accounts": len(waits),
                "containment_s_max": round(waits[-1], 1) if all_contained else None,
                "containment_s_median": round(statistics.median(waits), 1) if waits else None,
                "met": len(attack.exposed) <= target and all_contained,
            }
        )
    false_rate = len(honest.suspended) * per_10k
    honest_accounts = {sim.pros[i].account for i in honest.suspended}
    why: dict[str, int] = {}
    for alert in sim.containment.alerts:
        if alert.caller.account in honest_accounts:
            for signal in alert.signals:
                why[signal.name] = why.get(signal.name, 0) + 1
    return {
        "model": MODEL,
        "seed": seed,
        "size": {
            "professionals": sim.size.professionals,
            "insured": sim.size.insured,
            "days": sim.size.days,
            "swarm": sim.size.swarm,
        },
        "workers": sim.workers,
        "shared_risk_state": sim.exchange is not None,
        "elapsed_s": round(elapsed, 1),
        "honest": {
            "questions": honest.questions,
            "professional_days": pro_days,
            "false_containments": len(honest.suspended),
            "false_containments_per_10k_days": round(false_rate, 3),
            "target_per_10k_days": FALSE_CONTAINMENT_TARGET,
            "step_ups_per_10k_days": round(honest.step_ups * per_10k, 1),
            "throttles_per_10k_days": round(honest.throttles * per_10k, 1),
            "false_containment_signals": dict(sorted(why.items(), key=lambda kv: -kv[1])),
            "met": false_rate <= FALSE_CONTAINMENT_TARGET,
        },
        "guard_us_per_question": round(1e6 * elapsed / max(1, _questions(sim)), 1),
        "scenarios": scenarios,
    }


def _questions(sim: Simulation) -> int:
    return sim.honest.questions + sum(a.asked for a in sim.attacks)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "non contenu"
    if seconds < 3_600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3_600:.1f} h"


def table(data: dict[str, Any]) -> Table:
    if data.get("mode") == "http":
        title = f"vigie simulate --http : attaques en direct ({data['elapsed_s']} s)"
    else:
        size = data["size"]
        title = (
            f"vigie simulate : {size['professionals']:,} professionnels, {size['insured']:,}"
            f" assurés, {size['days']} jours ({data['elapsed_s']} s)"
        ).replace(",", " ")
        if data.get("workers", 1) > 1:
            shared = "partagé" if data.get("shared_risk_state") else "non partagé"
            title += f", {data['workers']} processus serveurs (état de risque {shared})"
    out = Table(title=title)
    for column in ("scénario", "comptes", "questions", "exposés", "cible", "contenus", "délai max"):
        out.add_column(column, justify="right" if column != "scénario" else "left")
    out.add_column("atteint")
    for s in data["scenarios"]:
        out.add_row(
            s["label"], str(s["accounts"]), str(s["questions"]), str(s["exposed"]),
            f"≤ {s['exposed_target']}", f"{s['contained_accounts']}/{s['accounts']}",
            _duration(s["containment_s_max"]), "oui" if s["met"] else "NON",
        )  # fmt: skip
    h = data["honest"]
    if h is not None:
        out.add_row(
            "faux confinements (honnêtes)", "", str(h["questions"]), "",
            f"≤ {h['target_per_10k_days']} / 10 000 j", str(h["false_containments"]),
            f"{h['false_containments_per_10k_days']} / 10 000 j", "oui" if h["met"] else "NON",
        )  # fmt: skip
    for why in data.get("not_run", {}).values():
        out.add_row(why, "", "", "", "", "", "non exécuté", "—")
    return out


def chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = data["scenarios"]
    labels = [s["label"] for s in scenarios]
    exposed = [max(s["exposed"], 0.5) for s in scenarios]
    targets = [max(s["exposed_target"], 0.5) for s in scenarios]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    positions = range(len(labels))
    ax.bar(positions, exposed, color="#3b6ea5", label="personnes exposées avant confinement")
    for x, s in zip(positions, scenarios, strict=True):  # the real count (0 cannot be drawn)
        ax.text(x, max(s["exposed"], 0.5) * 1.15, str(s["exposed"]), ha="center", fontsize=9)
    ax.scatter(positions, targets, color="#c0392b", marker="_", s=900, label="cible")
    ax.set_yscale("log")
    ax.set_xticks(list(positions), labels, rotation=15, ha="right", fontsize=8)
    h = data["honest"]
    title = (
        "Exposés par scénario, en direct contre le serveur (HTTP)"
        if h is None
        else f"Exposés par scénario ; faux confinements : {h['false_containments_per_10k_days']}"
        " / 10 000 jours-professionnels"
    )
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(data: dict[str, Any], out: Path, console: Console) -> tuple[Path, Path]:
    """simulation.json, simulation.png and simulation.txt (the table) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "simulation.json", out / "simulation.png"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    chart(data, png_path)
    console.print(table(data))
    text = Console(record=True, width=120, file=io.StringIO())
    text.print(table(data))
    (out / "simulation.txt").write_text(text.export_text(), encoding="utf-8")
    return json_path, png_path
