"""Servers under test: started as process groups on free loopback ports, always terminated.

Also counts the CPU time of a server's processes (and of PostgreSQL's) from /proc, so that a run
can say where the two cores went: the server, the database, or the load generator.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
_TICK = os.sysconf("SC_CLK_TCK")
# (pid, command name, process group, parent pid) -> whether the process counts.
Selector = Callable[[int, str, int, int], bool]


class ServerError(RuntimeError):
    """A server did not start, or answered the sanity check wrongly."""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU time of every live process of the server's process group, and of
        its children in a session of their own (``vigie serve``'s sequencer)."""
        leader = self.process.pid
        return _cpu_seconds(lambda _pid, _comm, pgrp, ppid: leader in (pgrp, ppid))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _stat_fields(pid: str) -> tuple[str, list[str]] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    return comm, text[text.rindex(")") + 2 :].split()


def _processes(*, reaped: bool = False) -> Iterator[tuple[int, str, int, int, int]]:
    """(pid, command name, process group, parent pid, CPU ticks) of every live process.

    With `reaped`, a process's ticks include those of its children that have exited and been
    waited for (cutime, cstime).
    """
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = _stat_fields(pid)
        if fields is not None:
            comm, rest = fields
            # rest[0] is field 3 (state): ppid is field 4, pgrp 5, utime 14, stime 15, cutime 16,
            # cstime 17.
            ticks = int(rest[11]) + int(rest[12])
            if reaped:
                ticks += int(rest[13]) + int(rest[14])
            yield int(pid), comm, int(rest[2]), int(rest[1]), ticks


def _cpu_seconds(select: Selector, *, reaped: bool = False) -> float:
    ticks = sum(
        cpu
        for pid, comm, pgrp, ppid, cpu in _processes(reaped=reaped)
        if select(pid, comm, pgrp, ppid)
    )
    return ticks / _TICK


def postgres_cpu_seconds() -> float:
    """CPU time of the whole PostgreSQL server: live processes, and backends that have exited.

    Backends come and go (a connection pool that closes its overflow connections makes one per
    new connection); the postmaster reaps them, so their time is in its cutime/cstime. Every
    database of the server counts, other people's included.
    """
    return _cpu_seconds(lambda _pid, comm, _pgrp, _ppid: comm == "postgres", reaped=True)


def machine_busy_seconds() -> float:
    """CPU time spent by the whole machine, all cores, outside idle and I/O wait (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user).
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


@contextlib.contextmanager
def serve(
    name: str, command: list[str], *, env: dict[str, str], cwd: Path, log: Path, timeout: float
) -> Iterator[Server]:
    """Start `command` (which gets ``{port}`` filled in), wait for /health, stop it on exit."""
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in command]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        server = Server(name, process, port, log)
        _wait_healthy(server, timeout)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the whole process group (uvicorn and its workers), then SIGKILL if needed."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Workers outliving their supervisor would keep the port and the CPU: only those of this
    # group, found by their process group id, one by one.
    for pid, _comm, pgrp, _ppid, _cpu in _processes():
        if pgrp == process.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _wait_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(
                f"{server.name} s'est arrêté (code {server.process.returncode}) :\n"
                + _tail(server.log)
            )
        try:
            with urllib.request.urlopen(f"{server.base_url}/health", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise ServerError(f"{server.name} ne répond pas sur /health après {timeout:.0f} s")


def post_json(url: str, body: str, token: str | None) -> tuple[int, dict[str, object]]:
    """One POST, for the sanity check made before a measurement."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # Only the loopback http:// URLs built by this package get here.
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")[:500]}
