"""The Markdown summary of a run (``bench/results/latest.md``) and its targets, met or not."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.audit import markdown as audit_markdown

MIN_RATIO = 0.5  # Vigie's eligibility req/s, at least half the bare app's
MAX_P99_MS = 25.0  # Vigie's eligibility p99
MIN_IMPORT_ROWS_PER_S = 30_000.0  # rights import into PostgreSQL, encryption included


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _bare_rate(scenario: dict[str, Any]) -> float | None:
    valid = scenario["kind"] == "bare" and scenario.get("run") and not scenario.get("invalid")
    return float(scenario["run"]["requests_per_s"]) if valid else None


def bare_reference(scenarios: list[dict[str, Any]], index: int | None = None) -> float | None:
    """Mean req/s of the valid bare runs; with ``index``, of the nearest one before and the
    nearest one after that scenario (a run frames each of Vigie's with bare ones, so that a
    machine whose speed drifts during the run moves both sides of a ratio alike)."""
    rates = [r for s in scenarios if (r := _bare_rate(s)) is not None]
    if index is None or not rates:
        return sum(rates) / len(rates) if rates else None
    before = [r for s in scenarios[:index] if (r := _bare_rate(s)) is not None][-1:]
    after = [r for s in scenarios[index + 1 :] if (r := _bare_rate(s)) is not None][:1]
    near = before + after
    return sum(near) / len(near) if near else None


def http_rows(scenarios: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Table lines for the HTTP scenarios, and the target verdicts of Vigie's."""
    lines = [
        "| scenario | req/s | p50 (ms) | p99 (ms) | ratio to bare | req/s ≥ 0.5 × bare "
        "| p99 ≤ 25 ms | server CPU µs/req | CPU % server / PostgreSQL / wrk / other / idle |",
        "|---|--:|--:|--:|--:|---|---|--:|---|",
    ]
    verdicts: list[dict[str, Any]] = []
    for index, s in enumerate(scenarios):
        run = s.get("run")
        if not run:
            lines.append(f"| {s['label']} | — | — | — | — | — | — | — | not measured |")
            continue
        bare = bare_reference(scenarios, index)
        ratio = run["requests_per_s"] / bare if bare else None
        ratio_text = f"{ratio:.2f}" if ratio is not None else "—"
        cpu = s.get("cpu_percent", {})
        cpu_text = " / ".join(
            f"{cpu[k]:.0f}" if k in cpu else "—"
            for k in ("server", "postgres", "wrk", "other", "machine_idle")
        )
        ratio_ok = p99_ok = "—"
        if s["kind"] == "vigie":
            ok_ratio = ratio is not None and ratio >= MIN_RATIO and not s.get("invalid")
            ok_p99 = run["p99_ms"] <= MAX_P99_MS and not s.get("invalid")
            ratio_ok, p99_ok = _met(ok_ratio), _met(ok_p99)
            verdicts.append(
                {
                    "scenario": s["label"],
                    "target": f"req/s >= {MIN_RATIO} x bare",
                    "value": ratio,
                    "met": ok_ratio,
                }
            )
            verdicts.append(
                {
                    "scenario": s["label"],
                    "target": f"p99 <= {MAX_P99_MS} ms",
                    "value": run["p99_ms"],
                    "met": ok_p99,
                }
            )
        label = s["label"] + (f" — **INVALID: {s['invalid']}**" if s.get("invalid") else "")
        per_request = s.get("cpu_seconds", {}).get("server", 0.0) / max(1, run["requests"])
        lines.append(
            f"| {label} | {_num(run['requests_per_s'])} | {run['p50_ms']:.2f} "
            f"| {run['p99_ms']:.2f} | {ratio_text} | {ratio_ok} | {p99_ok} "
            f"| {_num(1e6 * per_request)} | {cpu_text} |"
        )
    return lines, verdicts


def p99_context(scenarios: list[dict[str, Any]], connections: int) -> list[str]:
    """What the p99 target asks of a closed loop: wrk keeps ``connections`` requests in flight,
    so the mean latency is connections / throughput whatever the server does (Little's law)."""
    bare = [s["run"] for s in scenarios if s["kind"] == "bare" and s.get("run")]
    if not bare:
        return []
    needed = connections / (MAX_P99_MS / 1000)
    worst = max(run["p99_ms"] for run in bare)
    return [
        f"At {connections} connections wrk keeps {connections} requests in flight: the mean "
        f"latency is {connections} / (req/s), so a p99 of {MAX_P99_MS:.0f} ms needs more than "
        f"{needed:,.0f} req/s even with no tail at all. The bare endpoint's own p99 in this run: "
        f"up to {worst:.1f} ms.",
        "",
    ]


def inprocess_rows(measured: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    lines = [
        "| Vigie in process, no HTTP, one thread | mean µs/req | p50 µs | p99 µs | CPU µs/req |",
        "|---|--:|--:|--:|--:|",
    ]
    for store, modes in measured.items():
        for mode, m in modes.items():
            lines.append(
                f"| {store}, {mode} | {_num(m['mean_us'])} | {_num(m['p50_us'])} "
                f"| {_num(m['p99_us'])} | {_num(m['cpu_us'])} |"
            )
    return lines


MAX_GUARD_OVERHEAD_PCT = 10.0  # the guard adds at most 10 % to the eligibility latency


def server_us_per_request(scenarios: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """Server CPU µs per request of each Vigie HTTP scenario, by (store, mode)."""
    out: dict[tuple[str, str], float] = {}
    for s in scenarios:
        run = s.get("run")
        if s.get("kind") == "vigie" and run and not s.get("invalid"):
            cpu = s.get("cpu_seconds", {}).get("server", 0.0)
            out[(s["store"], s["mode"])] = 1e6 * cpu / max(1, run["requests"])
    return out


def _opt(value: float | None, spec: str) -> str:
    """A figure older result files lack: "n/a" rather than another column's value."""
    return "n/a" if value is None else format(value, spec)


def guard_rows(
    measured: dict[str, dict[str, dict[str, Any]]],
    http_us: dict[tuple[str, str], float] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The guard's cost. Judged: the µs it adds to a typical question (the median over
    neighbouring blocks of their medians' difference, the larger of processor and wall time,
    plus with Redis the refill and risk-exchange threads' processor time per question) as a
    share of the same run's HTTP server CPU per request, which sets the HTTP benchmark's
    latency (one worker, a closed loop: latency grows with the server's time per request);
    without that run, as a share of the in-process flow's processor time. Also shown: both
    differences, the background threads' share, the spread of one pair's difference, and what
    another process spends replaying each question (off this one's path)."""
    lines = [
        "| guard cost | without guard, p50 CPU µs | with guard, p50 CPU µs "
        "| added CPU µs | added wall µs | added µs (judged: the larger) "
        "| of which in background (refills, risk exchange) "
        "| one pair's spread (IQR) | of the HTTP server's µs per request | ≤ 10 % "
        "| replayed by each other process, µs |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    verdicts: list[dict[str, Any]] = []
    for store, cases in measured.items():
        for case, m in cases.items():
            added = m.get("added_us", m["guarded"]["mean_us"] - m["plain"]["mean_us"])
            server = (http_us or {}).get((store, case.split(",")[0]))
            base = server if server else m["plain"].get("cpu_p50_us", m["plain"]["p50_us"])
            share = 100 * added / base
            ok = share <= MAX_GUARD_OVERHEAD_PCT
            verdicts.append(
                {
                    "scenario": f"guard {store}, {case}",
                    "target": f"added latency <= {MAX_GUARD_OVERHEAD_PCT:.0f} %",
                    "value": share,
                    "met": ok,
                }
            )
            of = f"{share:+.1f} % of {_num(base)} µs" + ("" if server else " (in process)")
            plain, guarded = m["plain"], m["guarded"]
            lines.append(
                f"| {store}, {case} | {_opt(plain.get('cpu_p50_us'), '.0f')} "
                f"| {_opt(guarded.get('cpu_p50_us'), '.0f')} "
                f"| {_opt(m.get('added_cpu_us'), '+.1f')} | {_opt(m.get('added_wall_us'), '+.1f')} "
                f"| {added:+.1f} | {_opt(m.get('refill_us_per_question'), '.1f')} "
                f"| {_opt(m.get('pair_iqr_us'), '.0f')} | {of} | {_met(ok)} "
                f"| {_opt(m.get('replay_us_per_question'), '.1f')} |"
            )
    return lines, verdicts


def instruction_rows(counted: dict[str, Any]) -> list[str]:
    """The guard's cost counted under callgrind: per question, without it and what it adds."""
    if "skipped" in counted:
        why = counted["skipped"]
        return [f"The guard's cost under callgrind (bench/instructions.py): not counted, {why}."]
    lines = [
        f"| per SQLite {counted['mode']}, callgrind | without the guard | added by the guard "
        "| in % |",
        "|---|--:|--:|--:|",
    ]
    for row in counted["shown"]:
        lines.append(
            f"| {row['label']} | {_num(row['without'])} | {row['added']:+,.0f} "
            f"| {row['added_pct']:+.1f} % |"
        )
    return lines


def import_rows(result: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    rows = result["rows"]
    lines = [
        f"| import of {_num(rows)} rights | plans (s) | rights (s) | importer CPU (s) | rows/s "
        "| target | met |",
        "|---|--:|--:|--:|--:|---|---|",
    ]
    verdicts: list[dict[str, Any]] = []
    for name, store in result["stores"].items():
        target, met = "—", "—"
        if store["kind"] == "postgres":
            ok = store["rows_per_s"] >= MIN_IMPORT_ROWS_PER_S
            target, met = f"≥ {_num(MIN_IMPORT_ROWS_PER_S)} rows/s", _met(ok)
            verdicts.append(
                {
                    "scenario": f"import {name}",
                    "target": f"rows/s >= {MIN_IMPORT_ROWS_PER_S:.0f}",
                    "value": store["rows_per_s"],
                    "met": ok,
                }
            )
        lines.append(
            f"| {name} | {store['plans_s']:.2f} | {store['rights_s']:.2f} "
            f"| {store.get('rights_cpu_s', 0):.2f} | {_num(store['rows_per_s'])} "
            f"| {target} | {met} |"
        )
    return lines, verdicts


def markdown(results: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The whole summary, and every target verdict (also stored in the JSON)."""
    p = results["parameters"]
    m = results["machine"]
    dirty = " (modified tree)" if m.get("git_dirty") else ""
    wrk_version = f", {m['wrk'].split(' Copyright')[0]}" if m.get("wrk") else ""
    load = " ".join(f"{x:.2f}" for x in m.get("load_average_at_start", ()))
    out = [
        f"# Vigie bench, {results['started_at']}",
        "",
        f"Machine: {m['nproc']} CPU(s) ({m.get('cpu_model', '?')}), Python {m['python']}, "
        f"PostgreSQL {m.get('postgres', '?')}{wrk_version}, load average at start "
        f"{load}. Commit {m.get('git_commit', '?')[:12]}{dirty}.",
        "",
    ]
    verdicts: list[dict[str, Any]] = []
    http = results.get("http")
    if http:
        out += [
            f"HTTP: `wrk -t{p['threads']} -c{p['connections']} -d{p['duration']}s --latency "
            "--timeout 10s` (a slow answer counts in the percentiles, not as a socket error) "
            f"after a {p['warmup']} s warm-up, uvicorn workers {p['workers']}, "
            f"{_num(p['insured'])} insured, {_num(http['bodies'])} distinct request bodies "
            "rotated (bench/eligibility.lua). Each Vigie run is framed by two bare runs and its "
            "ratio uses their mean (a bare run's own: to the mean of its neighbours). CPU is "
            f"in % of one core ({m['nproc']} cores = {100 * m['nproc']} %), over the measured "
            "run: wrk shares the cores with the servers, PostgreSQL is the whole server (every "
            "database, other people's tests included), and 'other' is every other process on "
            "the machine, this script included (a busy machine makes every figure noisier).",
            "",
        ]
        lines, found = http_rows(http["scenarios"])
        out += [*lines, "", *p99_context(http["scenarios"], p["connections"])]
        verdicts += found
        connections = [
            f"{s['label']} {s['postgres_new_connections']:,}"
            for s in http["scenarios"]
            if "postgres_new_connections" in s
        ]
        if connections:
            out += [
                f"New PostgreSQL connections during the measured runs: {', '.join(connections)}.",
                "",
            ]
        if http.get("inprocess"):
            out += [
                "Vigie's own work per request (bench/inprocess.py: validate the body, run the "
                "eligibility flow, serialise the answer, sequentially in one process; CPU "
                "excludes PostgreSQL's):",
                "",
                *inprocess_rows(http["inprocess"]),
                "",
            ]
        if http.get("guard"):
            out += [
                "The guard's cost (bench/guard.py): the same bodies alternately without and with "
                "the guard, in blocks of 100, in one process, questions spread over 500 accounts "
                "so that no quota refuses; quotas in memory, or shared through Redis (leased "
                "per process in small batches; the JSON counts round trips still paid). The HTTP "
                "scenarios above run without the guard: one account asking thousands of "
                "questions a second is what it stops. Judged: the µs the guard adds to a typical "
                "question (over neighbouring blocks, their medians' difference, in processor or "
                "wall time, whichever is larger) plus with Redis the refill and risk-exchange "
                "threads' (this process's notes published), as a share "
                "of the server's CPU per request in the HTTP run of the same store and mode, "
                "which is what the benchmark's latency grows with.",
                "",
            ]
            lines, found = guard_rows(
                http["guard"], server_us_per_request(http.get("scenarios", []))
            )
            out += [*lines, ""]
            verdicts += found
        counted = http.get("instructions")
        if counted and "skipped" in counted:
            out += [*instruction_rows(counted), ""]
        elif counted:
            out += [
                "The same guard counted rather than timed (bench/instructions.py): two processes "
                f"under valgrind's callgrind, {_num(http['instructions'].get('requests', 0))} "
                "SQLite questions each after the same warm-up, one without the guard and one with "
                "it; simulated caches and branch predictor: each process's totals repeat to "
                "about 1 %, their difference to about 5,000 instructions and 100 mispredictions. "
                "Not the budget's judge (the timings above are) but where the time goes: "
                "on a real core a mispredicted branch costs 15-20 cycles, a missed line of code "
                "10-20.",
                "",
                *instruction_rows(http["instructions"]),
                "",
            ]
    imported = results.get("import")
    if imported:
        out += [
            "Import: wall clock of `vigie import rights` (a whole CLI process, encryption "
            "included) into a fresh store, after `vigie import plans`.",
            "",
        ]
        lines, found = import_rows(imported)
        out += [*lines, ""]
        verdicts += found
    logged = results.get("audit")
    if logged and logged.get("stores"):
        out += [*audit_markdown(logged), ""]
        for verdict in logged.get("targets", []):
            out.append(f"- {verdict['target']}: {verdict['value']:,.1f} — {_met(verdict['met'])}")
            verdicts.append(
                {"scenario": "access log", **{k: verdict[k] for k in ("target", "value", "met")}}
            )
        out.append("")
    if results.get("failures"):
        out += ["**Failures:**", "", *(f"- {f}" for f in results["failures"]), ""]
    if results.get("error"):
        out += [f"**Run stopped early:** {results['error']}", ""]
    return "\n".join(out), verdicts


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report RESULTS.json``: print (and with --write, store) its summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=main.__doc__)
    parser.add_argument("results", type=Path, help="a bench/results/<timestamp>.json file")
    parser.add_argument("--write", action="store_true", help="also write bench/results/latest.md")
    args = parser.parse_args(argv)
    summary, _ = markdown(json.loads(args.results.read_text(encoding="utf-8")))
    if args.write:
        (args.results.parent / "latest.md").write_text(summary + "\n", encoding="utf-8")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
