"""The sequencer as it runs beside serving: a round every ``audit_sequence_seconds``, in a
server process off its event loop (``start_sequencer``) or in a process of its own (``follow``,
``vigie audit follow``); a failed round is logged (its type only) and retried at the next tick,
and stopping runs a last round, so that what the last requests logged gets a head too."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from anyio import to_thread

from vigie.audit.sequencer import Round, sequence
from vigie.runtime import Runtime

log = logging.getLogger("vigie.audit")


def run_round(runtime: Runtime, *, force: bool = False) -> Round:
    settings = runtime.settings
    return sequence(
        runtime.engine,
        runtime.keys,
        log_id=settings.audit_log_id,
        heads_file=settings.audit_heads_file,
        force=force,
    )


async def _safe_round(runtime: Runtime) -> None:
    try:
        await to_thread.run_sync(run_round, runtime)
    except Exception as exc:  # a server keeps running; the next round retries
        log.warning("audit sequencer round failed: %s", exc.__class__.__name__)


def start_sequencer(runtime: Runtime) -> asyncio.Task[None]:
    async def loop() -> None:
        period = runtime.settings.audit_sequence_seconds
        tick = time.monotonic() + period
        try:
            while True:
                # A fixed clock: a slow round does not stretch the time between heads.
                await asyncio.sleep(max(0.0, tick - time.monotonic()))
                await _safe_round(runtime)
                tick = max(tick + period, time.monotonic())
        except asyncio.CancelledError:
            await _safe_round(runtime)  # what the last requests logged gets a head too
            raise

    return asyncio.get_running_loop().create_task(loop())


def follow(runtime: Runtime, stop: threading.Event) -> bool:
    """Rounds on a fixed clock until ``stop`` is set, then a last one; whether that one
    succeeded (every entry committed until then has its leaf and a signed head)."""
    period = runtime.settings.audit_sequence_seconds
    tick = time.monotonic() + period
    while not stop.wait(max(0.0, tick - time.monotonic())):
        _safe_sync_round(runtime)
        tick = max(tick + period, time.monotonic())
    return _safe_sync_round(runtime)


def _safe_sync_round(runtime: Runtime) -> bool:
    try:
        run_round(runtime)
    except Exception as exc:  # the next tick retries
        log.warning("audit sequencer round failed: %s", exc.__class__.__name__)
        return False
    return True
