"""Error bodies: a stable code, a French message, and never a value the caller sent.

Invariant: no error response quotes request input (it may hold a NIR); unexpected failures
answer a generic 500 without details.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from vigie.api.fhir_mapping import dumps as fhir_json
from vigie.api.fhir_mapping import operation_outcome

log = logging.getLogger("vigie.api")

# OperationOutcome.issue.code for an HTTP status (FHIR R4 IssueType).
FHIR_ISSUE_CODES = {
    401: "login",
    403: "forbidden",
    404: "not-found",
    413: "too-costly",
    415: "not-supported",
    503: "transient",
    500: "exception",
}

MESSAGES = {
    400: "requête mal formée",
    401: "authentification requise",
    403: "accès refusé",
    404: "ressource introuvable",
    405: "méthode non autorisée",
    409: "conflit",
    413: "requête trop volumineuse",
    415: "type de contenu non pris en charge",
    422: "requête invalide",
}


def error_body(status: int, message: str | None = None, details: list[Any] | None = None) -> bytes:
    body: dict[str, Any] = {"error": status, "message": message or MESSAGES.get(status, "erreur")}
    if details:
        body["details"] = details
    return orjson.dumps(body)


def json_error(
    status: int,
    message: str | None = None,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(error_body(status, message, details), status, headers, "application/json")


def error_response(
    path: str, status: int, message: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A FHIR OperationOutcome under /fhir/, the JSON error body elsewhere."""
    if path.startswith("/fhir/"):
        return fhir_error(status, message or MESSAGES.get(status, "erreur"), headers)
    return json_error(status, message, headers=headers)


def fhir_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    code = FHIR_ISSUE_CODES.get(status, "invalid")
    body = fhir_json(operation_outcome(message, code=code))
    return Response(body, status, headers, "application/fhir+json")


# Pydantic's own messages are English: the usual ones in French, for the people who read them
# (the type stays, for programs). Our validators' messages (value_error) are French already.
FRENCH_MESSAGES: dict[str, str] = {
    "missing": "champ obligatoire",
    "extra_forbidden": "champ non autorisé",
    "string_type": "texte attendu",
    "string_too_short": "texte trop court",
    "string_too_long": "texte trop long",
    "string_pattern_mismatch": "format invalide",
    "int_type": "nombre entier attendu",
    "int_parsing": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "float_type": "nombre attendu",
    "float_parsing": "nombre attendu",
    "decimal_type": "nombre décimal attendu",
    "decimal_parsing": "nombre décimal attendu",
    "decimal_max_digits": "trop de chiffres",
    "decimal_max_places": "trop de décimales",
    "bool_type": "vrai ou faux attendu",
    "bool_parsing": "vrai ou faux attendu",
    "date_type": "date attendue (AAAA-MM-JJ)",
    "date_parsing": "date attendue (AAAA-MM-JJ)",
    "date_from_datetime_parsing": "date attendue (AAAA-MM-JJ)",
    "datetime_type": "date et heure attendues",
    "datetime_parsing": "date et heure attendues",
    "list_type": "liste attendue",
    "dict_type": "objet attendu",
    "model_type": "objet attendu",
    "model_attributes_type": "objet attendu",
    "too_short": "trop peu d'éléments",
    "too_long": "trop d'éléments",
    "greater_than": "valeur trop petite",
    "greater_than_equal": "valeur trop petite",
    "less_than": "valeur trop grande",
    "less_than_equal": "valeur trop grande",
    "literal_error": "valeur non autorisée",
    "enum": "valeur non autorisée",
    "json_invalid": "JSON invalide",
    "json_type": "JSON attendu",
}


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """Where and why, from pydantic errors, dropping ``input`` and ``ctx`` (they echo values)."""
    details = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if p != "body"]
        kind = str(error.get("type", ""))
        if kind == "extra_forbidden" and loc:
            loc[-1] = "(champ inconnu)"  # the caller's own key: it could be anything, a NIR too
        if kind == "value_error":
            message = str(error.get("msg", "valeur invalide")).removeprefix("Value error, ")
        else:
            message = FRENCH_MESSAGES.get(kind, "valeur invalide")
        details.append({"loc": loc, "msg": message, "type": kind})
    return details


def _transient(exc: Exception) -> bool:
    """Worth a retry: SQLite locked by another writer, no free connection, PostgreSQL away."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, sqlite3.OperationalError):
        return "locked" in str(cause) or "busy" in str(cause)
    return isinstance(cause, psycopg.OperationalError | PoolTimeout)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return json_error(400, "corps JSON mal formé")
        return json_error(422, None, validation_details(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else None
        headers = getattr(exc, "headers", None)
        if request.url.path.startswith("/fhir/"):
            return fhir_error(
                exc.status_code, message or MESSAGES.get(exc.status_code, "erreur"), headers
            )
        return json_error(exc.status_code, message, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(sqlite3.OperationalError)
    @app.exception_handler(psycopg.OperationalError)
    async def _busy(request: Request, exc: Exception) -> Response:
        if not _transient(exc):
            return await _unexpected(request, exc)
        log.warning("store unavailable: %s", exc.__class__.__name__)
        message = "base de données momentanément indisponible : réessayez"
        return error_response(request.url.path, 503, message, {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # The type only: an exception's text may quote personal data.
        log.error("unexpected error: %s", exc.__class__.__name__)
        return error_response(request.url.path, 500, "erreur interne")
