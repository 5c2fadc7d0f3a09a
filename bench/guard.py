"""The guard's cost per eligibility request, without HTTP: run as ``python -m bench.guard``.

In one process and one thread, the same bodies alternately without and with the guard, in
blocks, so both see the same machine state: a request as Starlette hands it over (its headers
read, as authentication does, and its principal set), validate the body, (guard: the API's own
``Gate``: the caller, the question's features, the origin from the address and user agent, then
``Guard.admit``), run the eligibility flow (one transaction, as the API does), (guard:
``Gate.observe``), serialise the answer. Each request's processor time (this thread's)
and wall time are kept: the guard waits for nothing (the round trips it still pays are counted),
so what it adds to the HTTP benchmark's latency is the processor time it adds, and the database
server's pauses, which move the wall times of PostgreSQL's questions by tens of µs, stay out.
Questions are spread over many accounts on a simulated clock so that quotas never refuse (a
refusal costs less than an answer: the worst case is measured). With ``--redis-url`` the
quotas are the shared Redis ones, leased in small batches: the warm-up then gives every account
two questions (a running server's steady state: an account that asked within a minute holds a
lease), and the result counts the round trips still paid and adds the background thread's
processor time per question to the guard's cost (the risk exchange's, which carries the
refills as a deployment's does; the store's own refill thread's where none drives it).
Reads VIGIE_KEYS / VIGIE_DATABASE_URL like every Vigie process; prints one JSON object.
The issue's budget: the guard adds at most 10 % to the eligibility latency.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import redis
from starlette.requests import Request

from vigie.api.deps import PRINCIPAL
from vigie.api.guard_gate import Gate, GuardServices
from vigie.eligibility import flows
from vigie.eligibility.schemas import EligibilityRequest
from vigie.eligibility.service import PlanCache
from vigie.guard.engine import Guard
from vigie.guard.features import Caller, origin_of, question
from vigie.guard.gcra import MemoryQuotaStore, QuotaStore
from vigie.guard.memory import MemoryContainment
from vigie.guard.redis_quotas import RedisQuotaStore
from vigie.guard.service import StoreContainment
from vigie.guard.sharing import RiskExchange, for_deployment
from vigie.identity.authentication import Authenticator
from vigie.identity.identifiers import Profession
from vigie.runtime import open_runtime

ACCOUNTS = 500
BLOCK = 100
WORKING_MORNING = 1_772_438_400.0  # Monday 2 March 2026, 9:00 in France


def _stats(walls: list[float], cpus: list[float]) -> dict[str, float]:
    walls = sorted(walls)
    return {
        "mean_us": 1e6 * statistics.fmean(walls),
        "p50_us": 1e6 * statistics.median(walls),
        "p99_us": 1e6 * walls[min(len(walls) - 1, int(0.99 * len(walls)))],
        "cpu_mean_us": 1e6 * statistics.fmean(cpus),
        "cpu_p50_us": 1e6 * statistics.median(cpus),
    }


def _iqr_us(values: list[float]) -> float:
    q1, _, q3 = statistics.quantiles(values, n=4)
    return 1e6 * (q3 - q1)


def measure(
    bodies: list[str],
    token: str,
    *,
    requests: int,
    warmup: int,
    redis_url: str | None,
    only: str | None = None,
) -> dict[str, Any]:
    """Both arms in alternate blocks; with ``only`` ("plain" or "guarded"), after the same
    warm-up, that arm alone, with a callgrind instrumentation toggle around it (see
    bench/instructions.py)."""
    runtime = open_runtime()
    plans = PlanCache()
    quotas: QuotaStore = (
        RedisQuotaStore.from_url(redis_url, prefix=f"vigie:bench:{uuid.uuid4().hex}:")
        if redis_url
        else MemoryQuotaStore()
    )
    # The guard's clock, simulated: each read moves it 25 ms on, a question 50 ms (admit, then
    # observe), so each account asks every 25 s and never over its quotas. It starts on a
    # working morning whatever the hour of the run: a run at night measures the same questions
    # (no off-hours share learnt). A counter's own __next__, called from C like the API's
    # time.time (a lambda would add a Python call).
    clock = itertools.count(WORKING_MORNING, 0.025).__next__
    containment = StoreContainment(runtime.engine)
    services = GuardServices(
        Guard(quotas, containment), containment, waits=redis_url is not None, clock=clock
    )
    exchange: RiskExchange | None = None
    other: RiskExchange | None = None
    if redis_url:
        # As a deployment with Redis: digests shared and this process's notes published by
        # the exchange's thread; another process's replay of them is timed after the run, out
        # of this one's loop (it would take the interpreter from the questions measured).
        key = f"vigie:bench:{uuid.uuid4().hex}:risk"
        exchange = for_deployment(runtime.keyring, services.guard, redis_url, key=key)
        other = for_deployment(runtime.keyring, Guard(MemoryQuotaStore(), MemoryContainment()),
                               redis_url, key=key)  # fmt: skip
        exchange.start()
    try:
        principal = Authenticator(runtime.settings, runtime.engine).bearer(token)
        view = principal.professional if principal is not None else None
        if view is None:
            raise SystemExit("jeton refusé")
        # Pharmacists (the busiest quotas), three in four of them in pharmacies of three
        # accounts (a structure's quotas are a second group to take, lease and refill).
        views = [
            replace(view, id=i, rpps=f"{i:011d}", profession=Profession.pharmacist,
                    structure_id=(i - 1) // 3 + 1 if i % 4 else None)
            for i in range(1, ACCOUNTS + 1)
        ]  # fmt: skip
        # Each account's request as the server receives it: its address and user agent.
        authorization = f"Bearer {token}".encode()
        scopes = [
            {"type": "http", "method": "POST", "path": "/v1/eligibility",
             "client": (f"192.0.2.{i % 250}", 40_000 + i),
             "headers": [(b"host", b"vigie.example"), (b"content-type", b"application/json"),
                         (b"accept", b"application/json"), (b"accept-encoding", b"gzip"),
                         (b"authorization", authorization), (b"content-length", b"180"),
                         (b"user-agent", b"bench/%d" % i), (b"connection", b"keep-alive")]}
            for i in range(ACCOUNTS)
        ]  # fmt: skip
        turns = {"plain": 0, "guarded": 0}

        def arrived(arm: str) -> tuple[int, Request]:
            """The arm's next request, its headers read and its principal set, as the API's
            authentication leaves it. The accounts take turns within each arm: with the guard,
            each asks every 500 questions (25 s of the simulated clock)."""
            turns[arm] += 1
            who = turns[arm] % ACCOUNTS
            http = Request({**scopes[who], "state": {}})
            http.headers.get("authorization")
            http.scope[PRINCIPAL] = principal
            return who, http

        def plain(body: str) -> bool:
            arrived("plain")
            request = EligibilityRequest.model_validate_json(body)
            answer = flows.check_eligibility(runtime, plans, view, request)
            answer.model_dump_json()
            return answer.eligible

        def guarded(body: str) -> bool:
            who, http = arrived("guarded")
            request = EligibilityRequest.model_validate_json(body)
            gate = Gate(services, http, views[who], request, fhir=False)
            if gate.admit() is not None:
                raise SystemExit("la garde a refusé pendant la mesure : mesure invalide")
            answer = flows.check_eligibility(runtime, plans, view, request)
            if gate.observe(answer.eligible) is not None:
                raise SystemExit("la garde a refusé pendant la mesure : mesure invalide")
            answer.model_dump_json()
            return answer.eligible

        if isinstance(quotas, RedisQuotaStore):
            warmup = max(warmup, 2 * ACCOUNTS)
        for i in range(warmup):
            plain(bodies[i % len(bodies)])
            guarded(bodies[i % len(bodies)])
        if only is not None:
            return _one_arm(plain if only == "plain" else guarded, bodies, warmup, requests,
                            containment)  # fmt: skip
        if isinstance(quotas, RedisQuotaStore):
            quotas.settle()
        trips = quotas.round_trips if isinstance(quotas, RedisQuotaStore) else 0
        refills = quotas.refill_cpu_s if isinstance(quotas, RedisQuotaStore) else 0.0
        published = exchange.cpu_s if exchange is not None else 0.0
        walls: dict[str, list[float]] = {"plain": [], "guarded": []}
        cpus: dict[str, list[float]] = {"plain": [], "guarded": []}
        pairs: list[float] = []  # per block: the guarded block's median minus the plain one's
        cpu_pairs: list[float] = []  # the same, in this thread's processor time
        arms = (("plain", plain), ("guarded", guarded))
        clock_cpu = time.thread_time
        for start in range(0, requests, BLOCK):
            # Each arm goes first every other block: the second meets the same bodies' rows
            # warmer in the database's caches.
            for name, one in arms if start // BLOCK % 2 == 0 else arms[::-1]:
                for i in range(start, min(requests, start + BLOCK)):
                    body = bodies[(warmup + i) % len(bodies)]
                    c0, t0 = clock_cpu(), time.perf_counter()
                    one(body)
                    walls[name].append(time.perf_counter() - t0)
                    cpus[name].append(clock_cpu() - c0)
            pairs.append(
                statistics.median(walls["guarded"][start:])
                - statistics.median(walls["plain"][start:])
            )
            guarded_cpu = statistics.median(cpus["guarded"][start:])
            cpu_pairs.append(guarded_cpu - statistics.median(cpus["plain"][start:]))
        if isinstance(quotas, RedisQuotaStore):
            trips = quotas.round_trips - trips
            quotas.settle()
            refills = quotas.refill_cpu_s - refills
            quotas.close()
        if exchange is not None and other is not None:
            exchange.close()
            published = exchange.cpu_s - published
            replay_cpu = time.thread_time()
            while True:  # every batch of the run, each read once
                seen = other.replayed + other.skipped
                other.exchange()
                if other.replayed + other.skipped == seen:
                    break
            replay_cpu = time.thread_time() - replay_cpu
            replays = other.replayed
            if other.skipped:
                raise SystemExit("des notes de risque ont été refusées : mesure invalide")
    finally:
        if exchange is not None and other is not None:
            with contextlib.suppress(redis.RedisError):  # not to hide what went wrong before
                exchange.close()
                other._client.delete(key)
        runtime.engine.dispose()
    plain_stats = _stats(walls["plain"], cpus["plain"])
    guarded_stats = _stats(walls["guarded"], cpus["guarded"])
    # The exchange's thread publishes this process's notes and carries the refills: its time
    # counts with the store's own refill thread's (none while the exchange drives the store).
    exchange_us = 1e6 * published / requests if exchange is not None else 0.0
    replay_us = 1e6 * replay_cpu / replays if exchange is not None and replays else 0.0
    refill_us = 1e6 * refills / requests + exchange_us
    return {
        "requests": requests,
        "quotas": "redis" if redis_url else "memory",
        "plain": plain_stats,
        "guarded": guarded_stats,
        "overhead_pct": 100 * (guarded_stats["mean_us"] / plain_stats["mean_us"] - 1),
        "overhead_p50_pct": 100 * (guarded_stats["p50_us"] / plain_stats["p50_us"] - 1),
        # What the guard adds to a typical question: the median, over pairs of neighbouring
        # blocks (the same bodies without and with the guard, a fraction of a second apart), of
        # their medians' difference. The means move with a SQLite checkpoint
        # or a scheduler pause in either arm (-5 % to +17 % on one machine within minutes); the
        # whole run's medians' difference with the machine's drift over the run (a few µs on
        # PostgreSQL). With Redis, plus the refill thread's processor time per question: it
        # runs up to a tenth of a second after the question that spent its group's units, in
        # whichever block.
        # Judged: the larger of the processor and wall figures (a wait the guard would cause
        # shows in the wall time only; PostgreSQL's pauses too, which only err on the safe side).
        "added_us": 1e6 * max(statistics.median(cpu_pairs), statistics.median(pairs)) + refill_us,
        "added_cpu_us": 1e6 * statistics.median(cpu_pairs) + refill_us,
        "added_wall_us": 1e6 * statistics.median(pairs) + refill_us,
        # The means' difference (processor time): what rarer work (a suspension list reloaded,
        # an hourly sweep, a day rolled over) adds, which medians leave out; noisier.
        "added_cpu_mean_us": guarded_stats["cpu_mean_us"] - plain_stats["cpu_mean_us"] + refill_us,
        # The spread of the pairs' differences (processor time): how far one pair strays.
        "pairs": len(cpu_pairs),
        "pair_iqr_us": _iqr_us(cpu_pairs),
        "refill_us_per_question": refill_us,  # the exchange's publishing included
        "exchange_us_per_question": exchange_us,
        # What another process spends replaying each question answered here (not on this
        # process's path; each process pays it for every question the others answer).
        "replay_us_per_question": replay_us,
        "added_p50_us": guarded_stats["p50_us"] - plain_stats["p50_us"],
        "round_trips_per_question": trips / requests,
    }


def _one_arm(
    one: Callable[[str], bool],
    bodies: list[str],
    warmup: int,
    requests: int,
    containment: StoreContainment,
) -> dict[str, Any]:
    """One arm's questions, alone, under callgrind's instrumentation (turned on here, after the
    warm-up and the imports, whose counts vary from run to run)."""
    # Under valgrind the clock runs about fifty times slower than the work: the suspensions'
    # two-second cache would be reloaded every few dozen questions instead of every few
    # thousand. Reloads are left out of the counts (both arms ask the same store anyway).
    containment.cache_seconds = 1e9
    _instrument("on")
    for i in range(requests):
        one(bodies[(warmup + i) % len(bodies)])
    _instrument("off")
    return {"requests": requests}


def _instrument(state: str) -> None:
    """Turn callgrind's instrumentation of this process on or off; a failure stops the run
    (uncounted questions would read as a guard that costs nothing)."""
    subprocess.run(
        ["callgrind_control", "-i", state, str(os.getpid())],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip


def micro(decisions: int = 100_000) -> dict[str, float]:
    """The guard alone (features, admit, observe), in memory: microseconds per question."""
    # 20,000 accounts each asking every 1,000 s about its 50 regular patients: an ordinary day.
    n = 20_000
    callers = [Caller(i, f"rpps:{i}", Profession.pharmacist, "75", None) for i in range(n)]
    origins = [origin_of(f"192.0.2.{i % 250}", f"bench/{i}") for i in range(n)]
    containment = MemoryContainment()
    guard = Guard(MemoryQuotaStore(), containment)
    now = time.time()
    started = time.perf_counter()
    for i in range(decisions):
        now += 0.05
        who, patient = i % n, (i * 7919) % 50
        nir = f"18501751{(who * 50 + patient) % 100_000:05d}"
        q = question(nir, date(1985, 1, 1 + patient % 28), 1, account=1, cardless=False, agree=True)
        caller, origin = callers[who], origins[who]
        if guard.admit(caller, q, origin, None, now).refused:
            raise SystemExit("la garde a refusé pendant la mesure : mesure invalide")
        guard.observe(caller, q, origin, True, now)
    elapsed = time.perf_counter() - started
    return {"decisions": decisions, "us_per_question": 1e6 * elapsed / decisions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.guard", description=__doc__)
    parser.add_argument("bodies", type=Path, nargs="?", help="JSON file: a list of request bodies")
    parser.add_argument("--mode", choices=("estimate", "agree"), default="estimate")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--redis-url", default=None, help="shared quotas (VIGIE_REDIS_URL)")
    parser.add_argument("--micro", action="store_true", help="the guard alone, no store")
    parser.add_argument(
        "--only", choices=("plain", "guarded"), help="one arm alone (bench/instructions.py)"
    )
    args = parser.parse_args(argv)
    if args.micro or args.bodies is None:
        print(json.dumps(micro()))
        return 0
    token = sys.stdin.readline().strip()  # not on the command line, where ps would show it
    payload = json.loads(args.bodies.read_text(encoding="utf-8"))
    bodies = [str(b).replace("__MODE__", args.mode) for b in payload]
    result = measure(
        bodies, token, requests=args.requests, warmup=args.warmup, redis_url=args.redis_url,
        only=args.only,
    )  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
