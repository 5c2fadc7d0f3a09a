"""The guard's cost counted, not timed: ``python -m bench.instructions BODIES`` (token on stdin).

Timings on a shared two-core machine move by ±10 µs from run to run, more than most changes to
the guard's path. Under valgrind's callgrind the same questions give the same counts to about
1 % (the guard's difference to about 5,000 instructions in 70,000): instructions, first-level
cache misses (32 KB of code, 48 KB of data), misses of a 2 MB cache (a core's second level) and
branch mispredictions, all simulated. Two processes run the same warm-up (both arms, every
account asked), then 1,000 questions of one arm each, without and with the guard, instrumented
only then; their difference, per question, is what the guard adds. The figures are a model's:
the latency budget is judged on bench/guard.py's timings, and these say where the time goes (on
a real core a mispredicted branch costs 15-20 cycles and a missed line of code 10-20: together
more than the instructions themselves).
Needs valgrind; prints one JSON object (``{"skipped": why}`` without it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# callgrind's event names, in the order of its "Collected" line with both simulations on.
EVENTS = (
    *("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw"),
    *("Bc", "Bcm", "Bi", "Bim"),
)
# What the report shows: (label, events summed).
SHOWN = (
    ("instructions", ("Ir",)),
    ("code misses, 32 KB", ("I1mr",)),
    ("data misses, 48 KB", ("D1mr", "D1mw")),
    ("misses of a 2 MB cache", ("ILmr", "DLmr", "DLmw")),
    ("branch mispredictions", ("Bcm", "Bim")),
)
COLLECTED = re.compile(r"Collected : ([\d ]+)")
TIMEOUT_S = 1_200  # one arm takes about 90 s on a two-core machine


def count(arm: str, bodies: Path, mode: str, token: str, requests: int, out: Path) -> list[int]:
    """One arm under callgrind: its events over its measured questions."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--cache-sim=yes",
         "--branch-sim=yes", "--I1=32768,8,64", "--D1=49152,12,64", "--LL=2097152,16,64",
         f"--callgrind-out-file={out}", sys.executable, "-m", "bench.guard", str(bodies),
         "--mode", mode, "--only", arm, "--requests", str(requests), "--warmup", "600"],
        input=token + "\n", env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
        capture_output=True, text=True, check=False, timeout=TIMEOUT_S,
    )  # fmt: skip
    found = COLLECTED.findall(done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"callgrind ({arm}):\n{done.stderr[-2000:]}")
    values = [int(v) for v in found[-1].split()]
    if len(values) != len(EVENTS):
        raise RuntimeError(f"callgrind ({arm}): {len(values)} counters, {len(EVENTS)} expected")
    if values[0] == 0:
        raise RuntimeError(f"callgrind ({arm}): nothing counted (instrumentation never on)")
    return values


def measure(bodies: Path, mode: str, token: str, requests: int) -> dict[str, Any]:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return {"skipped": "valgrind absent"}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
        runs = {
            arm: pool.submit(count, arm, bodies, mode, token, requests, Path(tmp) / arm)
            for arm in ("plain", "guarded")
        }
        plain, guarded = runs["plain"].result(), runs["guarded"].result()
    per_question = {
        name: {"plain": p / requests, "guarded": g / requests}
        for name, p, g in zip(EVENTS, plain, guarded, strict=True)
    }
    shown = []
    for label, events in SHOWN:
        without = sum(per_question[e]["plain"] for e in events)
        added = sum(per_question[e]["guarded"] - per_question[e]["plain"] for e in events)
        shown.append({"label": label, "without": without, "added": added,
                      "added_pct": 100 * added / without if without else 0.0})  # fmt: skip
    return {"requests": requests, "mode": mode, "per_question": per_question, "shown": shown}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("bodies", type=Path, help="JSON file: a list of request bodies")
    parser.add_argument("--mode", choices=("estimate", "agree"), default="estimate")
    parser.add_argument("--requests", type=int, default=1_000)
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    token = sys.stdin.readline().strip()  # not on the command line, where ps would show it
    print(json.dumps(measure(args.bodies, args.mode, token, args.requests)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
