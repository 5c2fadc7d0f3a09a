"""The sequencer as a server runs it: a round every ``audit_sequence_seconds``, off the event
loop; a failed round is logged (its type only) and retried at the next tick."""

from __future__ import annotations

import asyncio
import logging

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
        try:
            while True:
                await asyncio.sleep(runtime.settings.audit_sequence_seconds)
                await _safe_round(runtime)
        except asyncio.CancelledError:
            await _safe_round(runtime)  # what the last requests logged gets a head too
            raise

    return asyncio.get_running_loop().create_task(loop())
