"""The baseline: a bare FastAPI app that validates Vigie's eligibility request and does nothing.

It parses and validates the same body model (``EligibilityRequest``) on the same route, then answers
a constant JSON document; no authentication, database or encryption. Vigie's throughput is reported
as a ratio to this app's, measured in the same run, under the same uvicorn settings.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response

from vigie.eligibility.schemas import EligibilityRequest

ANSWER = b'{"eligible":true,"agreement":null,"lines":[]}'


def build() -> FastAPI:
    """Factory, as for Vigie (``uvicorn --factory bench.bare_app:build``)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/eligibility")
    def eligibility(body: EligibilityRequest) -> Response:
        return Response(ANSWER, media_type="application/json")

    return app
