"""wrk: make sure it is installed, run it, and parse its text report (``--latency``)."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed something this parser does not understand."""


@dataclass
class WrkResult:
    """One wrk run: the figures the report needs, and wrk's own text for the raw results."""

    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    command: list[str]
    raw: str
    wrk_cpu_s: float = 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_wrk() -> str:
    """The path of wrk, installed with apt-get when missing; exits with a clear message if not."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk est absent : installation (apt-get install -y wrk)…", file=sys.stderr, flush=True)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        done = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, text=True
        )
    except OSError as exc:
        raise WrkError(f"impossible de lancer apt-get ({exc}) : installez wrk à la main") from exc
    found = shutil.which("wrk")
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip()[-800:]
        raise WrkError(
            "échec de 'apt-get install -y wrk' (il faut être root, ou installer wrk à la main ;"
            f" https://github.com/wg/wrk) :\n{tail}"
        )
    return found


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse(raw: str) -> dict[str, Any]:
    """The figures of a ``wrk --latency`` report; raises WrkError when one is missing."""
    percentiles = {int(p): _ms(v, u) for p, v, u in re.findall(rf"^\s+(\d+)%\s+{_TIME}", raw, re.M)}
    total = re.search(r"^\s*(\d+) requests in " + _TIME, raw, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", raw, re.M)
    if total is None or rate is None or not {50, 75, 90, 99} <= percentiles.keys():
        raise WrkError(f"sortie de wrk inattendue :\n{raw}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", raw)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", raw
    )
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    if sockets:
        socket_errors = dict(zip(socket_errors, map(int, sockets.groups()), strict=True))
    return {
        "requests": int(total.group(1)),
        "seconds": _ms(total.group(2), total.group(3)) / 1000.0,
        "requests_per_s": float(rate.group(1)),
        "p50_ms": percentiles[50],
        "p75_ms": percentiles[75],
        "p90_ms": percentiles[90],
        "p99_ms": percentiles[99],
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors,
    }


def run(
    wrk: str,
    url: str,
    *,
    script: Path,
    duration: float,
    threads: int,
    connections: int,
    env: dict[str, str],
    timeout: int = 10,
) -> WrkResult:
    """Run wrk once against `url` with the Lua `script`; `env` reaches the script (os.getenv).

    A request unanswered after `timeout` seconds is a socket error (wrk's default is 2 s, which
    would drop the slowest answers from the percentiles instead of counting them).
    """
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        f"--timeout={timeout}s",
        "-s",
        script.name,  # run from its folder: the command kept in the results names no machine path
        url,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        command,
        cwd=script.parent,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise WrkError(f"wrk a échoué (code {done.returncode}) :\n{done.stderr}{done.stdout}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WrkResult(
        **parse(done.stdout), command=command, raw=done.stdout + done.stderr, wrk_cpu_s=cpu
    )


def version(wrk: str) -> str:
    """wrk's first line of ``--version`` (it exits 1 after printing it)."""
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else ""
