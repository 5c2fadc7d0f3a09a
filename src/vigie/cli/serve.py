"""vigie serve: the HTTP API under uvicorn, and the access log's sequencer beside it.

The sequencer runs in a process of its own (``vigie audit follow``): one for any number of
workers, off their CPU. It is started again if it dies, and stopped after the workers, so that
its last round covers what their last requests logged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import typer
import uvicorn

from vigie.cli.common import console, fail
from vigie.config import Settings
from vigie.crypto.keyfile import KeyFileError, load


class Sequencer:
    """``vigie audit follow`` beside the workers, supervised by a thread of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = False
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _supervise(self) -> None:
        command = [sys.executable, "-m", "vigie", "audit", "follow", "--supervised"]
        while True:
            with self._lock:
                if self._stopping:
                    return
                # Its own session: signals to this process group are not for it; it stops
                # when its standard input closes (``stop``, or this process gone).
                process = self._process = subprocess.Popen(  # noqa: S603 (fixed argv)
                    command, stdin=subprocess.PIPE, start_new_session=True
                )
            code = process.wait()
            with self._lock:
                if self._stopping:
                    return
            console.print(f"[yellow]séquenceur du journal arrêté (code {code}) : relancé[/yellow]")
            time.sleep(1.0)

    def stop(self, grace: float = 30.0) -> None:
        """Close its standard input (its last round runs), then wait; killed after ``grace``
        seconds."""
        with self._lock:
            self._stopping = True
            process = self._process
        if process is not None and process.poll() is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve(
    host: str = typer.Option("127.0.0.1", help="Adresse d'écoute."),
    port: int = typer.Option(8000, help="Port."),
    workers: int = typer.Option(1, min=1, max=32, help="Processus serveurs."),
    access_log: bool = typer.Option(False, help="Journal d'accès uvicorn (chemins seulement)."),
) -> None:
    """Serve the API (JSON and FHIR) on http://HOST:PORT."""
    try:
        load(Settings().keys)
    except KeyFileError as exc:
        raise fail(str(exc)) from exc
    os.environ["VIGIE_AUDIT_SEQUENCER"] = "external"  # the workers leave the log to the sequencer
    # uvicorn stops gracefully on SIGTERM, then raises it again under the handler it found:
    # this one lets the sequencer be stopped after the workers instead of dying with them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sequencer = Sequencer()
    sequencer.start()
    try:
        uvicorn.run(
            "vigie.api.asgi:build",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=access_log,
            log_level="warning",
        )
    finally:
        sequencer.stop()
