"""The ASGI application: routes, error handling, request ids and a body size limit."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigie import __version__
from vigie.api import errors
from vigie.api.admin_routes import router as admin_router
from vigie.api.audit_routes import router as audit_router
from vigie.api.bodies import BodyTooLarge, read_body, replay
from vigie.api.deps import Services, authenticate
from vigie.api.eligibility_routes import router as eligibility_router
from vigie.api.fast_lane import FastLane
from vigie.api.fhir_routes import router as fhir_router
from vigie.api.guard_gate import build_guard
from vigie.api.guard_routes import router as guard_router
from vigie.api.incident_routes import router as incident_router
from vigie.api.oidc_routes import router as oidc_router
from vigie.audit.background import start_sequencer
from vigie.db.engine import checkpoint_in_background
from vigie.db.loop_engines import LoopEngines
from vigie.identity.authentication import Authenticator
from vigie.runtime import Runtime
from vigie.web.routes import router as portal_router

MAX_BODY = 64 * 1024


class Envelope:
    """Adds X-Request-Id to every response and refuses bodies over MAX_BODY bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await _reject(scope, send, request_id, 413 if length.isdigit() else 400)
            return
        if length is None and b"transfer-encoding" in headers:
            # A chunked body is read up front so its size is known before any route runs.
            try:
                body = await read_body(receive, MAX_BODY)
            except BodyTooLarge:
                await _reject(scope, send, request_id, 413)
                return
            if body is None:  # the client went away: nothing to answer
                return
            receive = replay(body, receive)

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                tag = (b"x-request-id", request_id.encode())
                message["headers"] = [*message.get("headers", []), tag]
            await send(message)

        await self.app(scope, receive, tagged_send)


class Quiet:
    """The outermost layer: Starlette re-raises an unexpected error after its 500 has gone out,
    and uvicorn would then log the traceback and the message, which may quote personal data.
    The error handler has already logged the exception's type; nothing more is said."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Answered (500) and logged (type only) already.
        with contextlib.suppress(Exception):
            await self.app(scope, receive, send)


async def _reject(scope: Scope, send: Send, request_id: str, status: int) -> None:
    response = errors.error_response(scope["path"], status, headers={"x-request-id": request_id})
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _checkpoints(runtime: Runtime) -> asyncio.Task[None]:
    checkpoint = checkpoint_in_background(runtime.engine)

    async def loop() -> None:
        while True:
            await asyncio.sleep(1.0)
            await to_thread.run_sync(checkpoint)

    return asyncio.get_running_loop().create_task(loop())


def worker_threads(runtime: Runtime) -> int:
    """One worker thread per database connection: more would only queue for a connection."""
    return int(runtime.engine.pool.size())  # type: ignore[attr-defined]


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = worker_threads(runtime)
        # What start-up built lives as long as the process: keep the collector off it, or each
        # full collection walks a hundred thousand objects again.
        gc.collect()
        gc.freeze()
        background = _checkpoints(runtime) if runtime.engine.dialect.name == "sqlite" else None
        in_process = runtime.settings.audit_sequencer == "in-process"
        sequencer = start_sequencer(runtime) if in_process else None
        exchange = _app.state.guard.exchange if _app.state.guard is not None else None
        if exchange is not None:
            exchange.start()
        yield
        try:
            if exchange is not None:  # this process's last notes go out
                await to_thread.run_sync(exchange.close)
            if _app.state.guard is not None:  # leased quota units go back to the shared store
                await to_thread.run_sync(_app.state.guard.guard.quotas.close)
        finally:
            if sequencer is not None:
                sequencer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sequencer
            if background is not None:
                background.cancel()
            if _app.state.services.loop is not None:
                await _app.state.services.loop.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="Vigie",
        version=__version__,
        description="Tiers payant : droits, éligibilité et calcul de la part complémentaire.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    dialect = runtime.engine.dialect.name
    app.state.services = Services(
        runtime,
        auth=Authenticator(runtime.settings, runtime.engine),
        inline=not runtime.settings.store_calls_in_threads(dialect),
        loop=(
            LoopEngines(runtime.engine, runtime.settings.db_loop_pool)
            if runtime.settings.loop_engines(dialect)
            else None
        ),
    )
    app.state.guard = build_guard(runtime)
    errors.install(app)
    app.include_router(eligibility_router)
    app.include_router(fhir_router)
    app.include_router(oidc_router)
    app.include_router(admin_router)
    app.include_router(portal_router)
    app.include_router(guard_router)
    app.include_router(audit_router)
    app.include_router(incident_router)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authenticate)])
    async def openapi() -> JSONResponse:
        return JSONResponse(_schema(app))

    app.add_middleware(FastLane)  # inside the Envelope: request ids and size limit first
    app.add_middleware(Envelope)
    return app


def _schema(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
    return app.openapi_schema
