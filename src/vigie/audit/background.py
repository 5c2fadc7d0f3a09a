"""The sequencer as a server runs it: a round every ``audit_sequence_seconds``, off the event
loop; a failed round is logged (its type only) and retried at the next tick."""

from __future__ import annotations

import asyncio
import logging
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
