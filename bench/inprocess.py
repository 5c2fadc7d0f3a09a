"""Vigie's own cost per eligibility request, without HTTP: run as ``python -m bench.inprocess``.

In one process and one thread, for each body: validate it (``EligibilityRequest``), run the
eligibility flow (one transaction, as the API does), serialise the answer. Wall clock and CPU time
per request, so that the HTTP figures can be split between the web stack and Vigie's own work.
Reads VIGIE_KEYS / VIGIE_DATABASE_URL like every Vigie process; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from vigie.eligibility import flows
from vigie.eligibility.schemas import EligibilityRequest
from vigie.eligibility.service import PlanCache
from vigie.identity.authentication import Authenticator
from vigie.runtime import open_runtime


def measure(bodies: list[str], token: str, *, requests: int, warmup: int) -> dict[str, Any]:
    runtime = open_runtime()
    plans = PlanCache()
    try:
        principal = Authenticator(runtime.settings, runtime.engine).bearer(token)
        caller = principal.professional if principal is not None else None
        if caller is None:
            raise SystemExit("jeton refusé")

        def one(body: str) -> bool:
            request = EligibilityRequest.model_validate_json(body)
            answer = flows.check_eligibility(runtime, plans, caller, request)
            answer.model_dump_json()
            return answer.eligible

        for i in range(warmup):
            one(bodies[i % len(bodies)])
        walls: list[float] = []
        eligible = 0
        cpu_started = time.process_time()
        started = time.perf_counter()
        for i in range(requests):
            body = bodies[(warmup + i) % len(bodies)]
            t0 = time.perf_counter()
            eligible += one(body)
            walls.append(time.perf_counter() - t0)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        runtime.engine.dispose()
    walls.sort()
    return {
        "requests": requests,
        "eligible": eligible,
        "mean_us": 1e6 * wall / requests,
        "p50_us": 1e6 * statistics.median(walls),
        "p99_us": 1e6 * walls[min(len(walls) - 1, int(0.99 * len(walls)))],
        "cpu_us": 1e6 * cpu / requests,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("bodies", type=Path, help="JSON file: a list of request bodies")
    parser.add_argument("--mode", choices=("estimate", "agree"), required=True)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args(argv)
    token = sys.stdin.readline().strip()  # not on the command line, where ps would show it
    payload = json.loads(args.bodies.read_text(encoding="utf-8"))
    bodies = [str(b).replace("__MODE__", args.mode) for b in payload]
    result = measure(bodies, token, requests=args.requests, warmup=args.warmup)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
