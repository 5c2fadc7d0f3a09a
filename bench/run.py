"""``make bench``: Vigie's eligibility API against a bare FastAPI app, and the rights import.

One run builds fresh stores (SQLite, PostgreSQL), seeds them through the CLI, serves the bare app
and Vigie the same way under uvicorn, measures each with wrk, times a large rights import, writes
``bench/results/<UTC timestamp>.json`` (raw) and ``bench/results/latest.md`` (summary), and prints
the summary. Every figure worth comparing is a ratio measured in the same run: the machine is small
and noisy. Exit status 1 when a measurement is invalid (non-2xx answers, socket errors).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import audit, lua, report, servers, stores, wrk

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
SCRIPT = BENCH / "eligibility.lua"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run (20)")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of wrk warm-up (5)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server (1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--insured", type=int, default=50_000, help="seeded insured (50,000)")
    parser.add_argument("--professionals", type=int, default=500, help="seeded pros (500)")
    parser.add_argument("--bodies", type=int, default=2_000, help="distinct bodies (2,000)")
    parser.add_argument(
        "--import-rows", type=int, default=1_000_000, help="rights to import (1,000,000)"
    )
    parser.add_argument("--skip-http", action="store_true", help="no HTTP measurement")
    parser.add_argument("--skip-import", action="store_true", help="no import measurement")
    parser.add_argument(
        "--audit-entries", type=int, default=10_000_000, help="access-log entries (10,000,000)"
    )
    parser.add_argument("--skip-audit", action="store_true", help="no access-log measurement")
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("VIGIE_BENCH_PG_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL connection used to drop/create the bench database",
    )
    parser.add_argument("--pg-database", default="vigie_bench", help="database to recreate")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("VIGIE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        help="Redis for the guard's shared quotas (bench.guard uses a fresh key prefix)",
    )
    parser.add_argument(
        "--skip-instructions", action="store_true", help="no callgrind count of the guard"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temporary files")
    args = parser.parse_args(argv)
    for name in ("duration", "workers", "connections", "threads", "insured", "bodies"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.import_rows < 1 or args.warmup < 0:
        parser.error("--import-rows must be at least 1 and --warmup not negative")
    return args


# ---------------------------------------------------------------------------------------------
# Machine


def _command(*argv: str) -> str:
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def machine_info(wrk_path: str | None, admin_url: str) -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "packages": {},
        "git_commit": _command("git", "rev-parse", "HEAD"),
        "git_dirty": bool(_command("git", "status", "--porcelain")),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory"] = line.split(":", 1)[1].strip()
    for package in ("fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "psycopg"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            info["packages"][package] = importlib.metadata.version(package)
    if wrk_path:
        info["wrk"] = wrk.version(wrk_path)
    with contextlib.suppress(Exception):
        info["postgres"] = stores.server_version(admin_url)
    return info


# ---------------------------------------------------------------------------------------------
# HTTP


def uvicorn_bare(workers: int) -> list[str]:
    """The bare app under the same uvicorn settings as ``vigie serve`` (see vigie/cli/serve.py)."""
    return [
        sys.executable, "-m", "uvicorn", "bench.bare_app:build", "--factory",
        "--host", servers.HOST, "--port", "{port}", "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def vigie_serve(workers: int) -> list[str]:
    return [
        stores.VIGIE, "serve", "--host", servers.HOST, "--port", "{port}",
        "--workers", str(workers),
    ]  # fmt: skip


def sanity_check(
    server: servers.Server, bodies: list[str], token: str | None, expect_eligible: bool
) -> list[dict[str, Any]]:
    """A few estimate requests before measuring: 200, and eligible people really found."""
    seen: list[dict[str, Any]] = []
    for body in bodies[:3]:
        status, answer = servers.post_json(
            f"{server.base_url}/v1/eligibility", lua.with_mode(body, "estimate"), token
        )
        seen.append({"status": status, "answer": answer})
        if status != 200 or (expect_eligible and answer.get("eligible") is not True):
            raise servers.ServerError(
                f"{server.name} : réponse inattendue au contrôle préalable ({status}) : {answer}"
            )
    return seen


def measure(
    args: argparse.Namespace,
    wrk_path: str,
    server: servers.Server,
    *,
    label: str,
    kind: str,
    mode: str,
    token: str,
) -> dict[str, Any]:
    """Warm-up, then one measured wrk run with CPU accounting; `invalid` set on any error."""
    url = f"{server.base_url}/v1/eligibility"
    env = {lua.BEARER_ENV: token, lua.MODE_ENV: mode}
    common = {"script": SCRIPT, "threads": args.threads, "connections": args.connections}
    log(f"{label} : échauffement {args.warmup} s, puis mesure {args.duration} s")
    scenario: dict[str, Any] = {"label": label, "kind": kind, "mode": mode, "server": server.name}
    if args.warmup:
        warm = wrk.run(wrk_path, url, duration=args.warmup, env=env, **common)
        scenario["warmup"] = warm.as_dict()
    time.sleep(1)
    scenario["load_average_before"] = os.getloadavg()
    server_before = server.cpu_seconds()
    pg_before = servers.postgres_cpu_seconds()
    sessions_before = stores.sessions(args.pg_admin_url, args.pg_database)
    busy_before = servers.machine_busy_seconds()
    started = time.perf_counter()
    result = wrk.run(wrk_path, url, duration=args.duration, env=env, **common)
    wall = time.perf_counter() - started
    busy = servers.machine_busy_seconds() - busy_before
    cpu = {
        "server": max(0.0, server.cpu_seconds() - server_before),
        "postgres": max(0.0, servers.postgres_cpu_seconds() - pg_before),
        "wrk": result.wrk_cpu_s,
    }
    # Whatever else ran on the machine meanwhile (other users' processes, this script, the OS).
    cpu["other"] = max(0.0, busy - sum(cpu.values()))
    cpu["machine_idle"] = max(0.0, wall * (os.cpu_count() or 1) - busy)
    sessions_after = stores.sessions(args.pg_admin_url, args.pg_database)
    if kind == "vigie" and sessions_before is not None and sessions_after is not None:
        # New connections to the bench database: a pool that keeps its connections opens none.
        scenario["postgres_new_connections"] = sessions_after - sessions_before
    scenario["run"] = result.as_dict()
    scenario["wall_s"] = wall
    scenario["cpu_seconds"] = cpu
    scenario["cpu_percent"] = {k: 100 * v / wall for k, v in cpu.items()}
    if result.errors:
        scenario["invalid"] = f"{result.non_2xx} non-2xx, socket errors {result.socket_errors}"
    log(
        f"{label} : {result.requests_per_s:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, erreurs {result.errors}"
    )
    return scenario


def bench_module(store: stores.Store, module: str, *args: str) -> dict[str, Any]:
    """``python -m <module> ARGS`` against the store (no server running meanwhile): the token
    on stdin, one JSON object on stdout."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        input=store.token + "\n",
        env={**store.env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise stores.StoreError(f"{module} ({store.name}, {args}) :\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def inprocess(store: stores.Store, bodies_file: Path, mode: str) -> dict[str, Any]:
    """Vigie's own work per request, without HTTP."""
    return bench_module(store, "bench.inprocess", str(bodies_file), "--mode", mode)


def guard_cost(
    store: stores.Store, bodies_file: Path, mode: str, redis_url: str | None
) -> dict[str, Any]:
    """The same bodies alternately without and with the guard."""
    redis = ["--redis-url", redis_url] if redis_url else []
    # 10,000 questions each way, 100 pairs of blocks: one pair's difference strays by 20-60 µs
    # (interquartile range), their median by a few.
    return bench_module(
        store, "bench.guard", str(bodies_file), "--mode", mode, "--requests", "10000", *redis
    )


def instructions(store: stores.Store, bodies_file: Path, mode: str) -> dict[str, Any]:
    """The guard's cost counted under callgrind (deterministic, where timings are noisy); a
    failure is reported, and does not void the timings."""
    try:
        return bench_module(store, "bench.instructions", str(bodies_file), "--mode", mode)
    except (stores.StoreError, ValueError) as error:  # ValueError: not one JSON object
        return {"skipped": "callgrind failed (see the JSON file)", "error": str(error)[-2000:]}


def http_phase(
    args: argparse.Namespace, wrk_path: str, workdir: Path, results: dict[str, Any]
) -> None:
    seed_dir = workdir / "seed"
    log(f"population : {args.insured:,} assurés, {args.professionals:,} professionnels")
    generated = stores.generate_population(
        seed_dir, insured=args.insured, professionals=args.professionals
    )
    request_bodies = lua.bodies(seed_dir / "rights.csv", count=args.bodies, day=date.today())
    lua.write_script(SCRIPT, request_bodies)
    bodies_file = workdir / "bodies.json"
    bodies_file.write_text(json.dumps(request_bodies), encoding="utf-8")
    http: dict[str, Any] = {
        "generate_s": generated,
        "bodies": len(request_bodies),
        "script": str(SCRIPT.relative_to(ROOT)),
        "stores": {},
        "scenarios": [],
        "inprocess": {},
        "guard": {},
    }
    results["http"] = http

    built = [
        stores.sqlite_store(workdir, "sqlite"),
        stores.postgres_store(workdir, "postgres", args.pg_admin_url, args.pg_database),
    ]
    for store in built:
        log(f"{store.name} : clés, import de la population, jeton")
        stores.load_population(store, seed_dir)
        http["stores"][store.name] = {
            "url": stores.recorded_url(store),
            "timings": store.timings,
            "cpu": store.cpu,
        }

    scenarios: list[dict[str, Any]] = http["scenarios"]
    bare_env = {**os.environ, "PYTHONPATH": str(ROOT)}

    with servers.serve(
        "bare", uvicorn_bare(args.workers), env=bare_env, cwd=ROOT,
        log=workdir / "bare.log", timeout=60,
    ) as bare_server:  # fmt: skip
        bare_sanity = sanity_check(bare_server, request_bodies, None, expect_eligible=False)

        def bare(label: str) -> None:
            """The bare app, measured again between each of Vigie's runs (its server waits,
            idle, meanwhile): each ratio compares runs minutes apart at most."""
            scenario = measure(
                args, wrk_path, bare_server, label=label, kind="bare", mode="agree", token=""
            )
            scenario["sanity"] = bare_sanity
            scenarios.append(scenario)

        bare("bare FastAPI (1)")
        for store in built:
            for mode in ("estimate", "agree"):
                # A Vigie server per run, stopped (its sequencer's last round done) before the
                # bare run that follows: nothing of Vigie's competes with it for the cores.
                with servers.serve(
                    f"vigie-{store.name}", vigie_serve(args.workers), env=store.env, cwd=ROOT,
                    log=workdir / f"vigie-{store.name}-{mode}.log", timeout=120,
                ) as server:  # fmt: skip
                    sanity = sanity_check(server, request_bodies, store.token, expect_eligible=True)
                    scenario = measure(
                        args, wrk_path, server,
                        label=f"Vigie {store.name}, {mode}", kind="vigie", mode=mode,
                        token=store.token,
                    )  # fmt: skip
                scenario["store"] = store.name
                scenario["sanity"] = sanity
                scenarios.append(scenario)
                bare(f"bare FastAPI ({sum(s['kind'] == 'bare' for s in scenarios) + 1})")
            log(f"{store.name} : coût en processus, sans HTTP (bench.inprocess)")
            http["inprocess"][store.name] = {
                mode: inprocess(store, bodies_file, mode) for mode in ("estimate", "agree")
            }
            log(f"{store.name} : coût de la garde, en processus (bench.guard)")
            http["guard"][store.name] = {
                f"{mode}, {quotas}": guard_cost(
                    store, bodies_file, mode, args.redis_url if quotas == "redis" else None
                )
                for mode in ("estimate", "agree")
                for quotas in ("memory", "redis")
            }
            if store.name == "sqlite" and not args.skip_instructions:
                # The cheapest request, where the guard weighs most: counted, not timed.
                log("sqlite : coût de la garde compté (callgrind, bench.instructions)")
                http["instructions"] = instructions(store, bodies_file, "estimate")
    for scenario in scenarios:
        if scenario.get("invalid"):
            results["failures"].append(f"{scenario['label']} : {scenario['invalid']}")


# ---------------------------------------------------------------------------------------------
# Import


def import_phase(args: argparse.Namespace, workdir: Path, results: dict[str, Any]) -> None:
    seed_dir = workdir / "import-seed"
    rows = args.import_rows
    log(f"import : génération de {rows:,} droits (vigie seed --no-load)")
    generated = stores.generate_population(seed_dir, insured=rows, professionals=10)
    imported: dict[str, Any] = {"rows": rows, "generate_s": generated, "stores": {}}
    results["import"] = imported
    for kind in ("sqlite", "postgres"):
        if kind == "sqlite":
            store = stores.sqlite_store(workdir, "import-sqlite")
        else:
            store = stores.postgres_store(
                workdir, "import-postgres", args.pg_admin_url, args.pg_database
            )
        store.vigie("keys", "init")
        store.vigie("import", "plans", str(seed_dir / "plans.json"), timing="plans")
        log(f"import : {rows:,} droits dans {kind}…")
        store.vigie("import", "rights", str(seed_dir / "rights.csv"), timing="rights")
        seconds = store.timings["rights"]
        entry = {
            "kind": kind,
            "url": stores.recorded_url(store),
            "plans_s": store.timings["plans"],
            "rights_s": seconds,
            "rows_per_s": rows / seconds,
            # The importing process only: the PostgreSQL backend's share is not measured.
            "rights_cpu_s": store.cpu["rights"],
        }
        imported["stores"][kind] = entry
        log(f"import {kind} : {seconds:.1f} s, {rows / seconds:,.0f} lignes/s")


# ---------------------------------------------------------------------------------------------


class Interrupted(BaseException):
    """SIGTERM (or SIGINT): stop measuring, but still stop the servers and write the results."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # Once is enough: a second Ctrl-C must not cut short the servers' shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    if keep:
        path = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
        log(f"fichiers temporaires conservés : {path}")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as name:
        yield Path(name)


def write_results(results: dict[str, Any], stamp: str) -> tuple[Path, str]:
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    summary, verdicts = report.markdown(results)
    results["targets"] = verdicts
    RESULTS.mkdir(exist_ok=True)
    raw = RESULTS / f"{stamp}.json"
    raw.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (RESULTS / "latest.md").write_text(summary + "\n", encoding="utf-8")
    return raw, summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Also when started in the background, where SIGINT would otherwise be ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    wrk_path: str | None = None
    if not args.skip_http:
        try:
            wrk_path = wrk.ensure_wrk()
        except wrk.WrkError as exc:
            print(f"bench : {exc}", file=sys.stderr)
            return 2
    results: dict[str, Any] = {
        "started_at": now.isoformat(timespec="seconds"),
        "parameters": vars(args) | {"pg_admin_url": stores.without_password(args.pg_admin_url)},
        "machine": machine_info(wrk_path, args.pg_admin_url),
        "failures": [],
    }
    status = 0
    try:
        with workspace(args.keep_workdir) as workdir:
            if wrk_path is not None:
                http_phase(args, wrk_path, workdir, results)
            if not args.skip_import:
                import_phase(args, workdir, results)
            if not args.skip_audit:
                log(f"journal d'accès : {args.audit_entries:,} entrées par base")
                audit.audit_phase(
                    workdir, results, entries=args.audit_entries, pg_admin_url=args.pg_admin_url
                )
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        results["error"] = f"interrompu ({signal.Signals(signum).name})"
        status = 128 + signum
    except (
        servers.ServerError, stores.StoreError, wrk.WrkError, OSError, ValueError
    ) as exc:  # fmt: skip
        results["error"] = f"{type(exc).__name__}: {exc}"
        status = 1
    finally:
        raw, summary = write_results(results, stamp)
    print(summary)
    print(f"résultats bruts : {raw.relative_to(ROOT)}", file=sys.stderr)
    if results.get("error"):
        print(f"\nbench : ÉCHEC : {results['error']}", file=sys.stderr)
    if results["failures"]:
        print("\nbench : MESURES INVALIDES :", file=sys.stderr)
        for failure in results["failures"]:
            print(f"  - {failure}", file=sys.stderr)
        status = status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
