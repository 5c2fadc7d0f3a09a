"""Shared by the FHIR request and response code: systems, the input error, typed JSON access."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

JsonObject = dict[str, Any]
Loc = tuple[str | int, ...]

NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
VIGIE_FHIR = "https://vigie.example/fhir"
CARE_CATEGORY_SYSTEM = f"{VIGIE_FHIR}/CodeSystem/care-category"
BENEFIT_SHARE_SYSTEM = f"{VIGIE_FHIR}/CodeSystem/benefit-share"
AMC_SYSTEM = f"{VIGIE_FHIR}/sid/amc-number"
REQUEST_ID_SYSTEM = f"{VIGIE_FHIR}/sid/request-id"
HL7_BENEFIT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-type"

EXTENSION_BASE = f"{VIGIE_FHIR}/StructureDefinition/"
EXT_MODE = EXTENSION_BASE + "eligibility-mode"
EXT_BR = EXTENSION_BASE + "base-remboursement"
EXT_AMO_RATE = EXTENSION_BASE + "amo-rate"
EXT_AMO_DEDUCTION = EXTENSION_BASE + "amo-deduction"
EXT_LENS_CLASS = EXTENSION_BASE + "lens-class"
EXT_PRESCRIPTION_CHANGED = EXTENSION_BASE + "prescription-changed"
EXT_LINE_REASON = EXTENSION_BASE + "line-reason"

CER = "CoverageEligibilityRequest"
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
CENT = Decimal("0.01")
MAX_REPORTED_ERRORS = 10

# R4 IssueType codes (http://hl7.org/fhir/issue-type).
ISSUE_TYPES = frozenset(
    {
        "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
        "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
        "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
        "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
        "exception", "timeout", "incomplete", "throttled", "informational",
    }
)  # fmt: skip


class FhirInputError(ValueError):
    """A FHIR request is missing an element or has a malformed one.

    ``message_fr`` names the element (never its value) and is safe to show and to log;
    ``expression`` lists FHIRPath expressions of the faulty elements; ``code`` is an R4 IssueType.
    """

    def __init__(
        self, message_fr: str, expression: Sequence[str] | None = None, *, code: str = "invalid"
    ) -> None:
        super().__init__(message_fr)
        self.message_fr = message_fr
        self.expression = list(expression or [])
        self.code = code

    def to_operation_outcome(self) -> JsonObject:
        return operation_outcome(self.message_fr, expression=self.expression, code=self.code)


# --- Errors -------------------------------------------------------------------------------------


def _missing(expr: str, what: str) -> FhirInputError:
    return FhirInputError(f"Élément obligatoire absent : {expr} ({what}).", [expr], code="required")


def _malformed(expr: str, expected: str) -> FhirInputError:
    return FhirInputError(f"Élément mal formé : {expr} (attendu : {expected}).", [expr])


# --- Typed access to JSON -----------------------------------------------------------------------


def _object(value: object, expr: str) -> JsonObject:
    if not isinstance(value, dict):
        raise _malformed(expr, "objet JSON")
    return value


def _child(obj: JsonObject, key: str, expr: str, what: str) -> JsonObject:
    value = obj.get(key)
    if value is None:
        raise _missing(expr, what)
    return _object(value, expr)


def _array(obj: JsonObject, key: str, expr: str, what: str) -> list[Any]:
    value = obj.get(key)
    if value is None or value == []:
        raise _missing(expr, what)
    if not isinstance(value, list):
        raise _malformed(expr, "tableau JSON")
    return value


def _optional_array(obj: JsonObject, key: str, expr: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _malformed(expr, "tableau JSON")
    return value


def _string(obj: JsonObject, key: str, expr: str, what: str) -> str:
    value = obj.get(key)
    if value is None:
        raise _missing(expr, what)
    if not isinstance(value, str) or not value.strip():
        raise _malformed(expr, "texte non vide")
    return value


def _boolean(value: object, expr: str) -> bool:
    if not isinstance(value, bool):
        raise _malformed(expr, "booléen")
    return value


def _decimal(value: object, expr: str, what: str) -> Decimal:
    if value is None:
        raise _missing(expr, what)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _malformed(expr, "nombre JSON")
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise _malformed(expr, "nombre fini")
    return number


def _money(value: object, expr: str, what: str) -> Decimal:
    if value is None:
        raise _missing(expr, what)
    money = _object(value, expr)
    currency = money.get("currency")
    if currency is not None and currency != "EUR":
        raise FhirInputError(
            f"Devise non prise en charge : {expr}.currency (EUR attendu).", [f"{expr}.currency"]
        )
    return _decimal(money.get("value"), f"{expr}.value", what)


def _date(obj: JsonObject, key: str, expr: str, what: str) -> date:
    text = _string(obj, key, expr, what)
    if not DATE_RE.match(text):
        raise _malformed(expr, "date complète AAAA-MM-JJ")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FhirInputError(f"Date inexistante : {expr}.", [expr]) from None


def operation_outcome(
    message_fr: str, *, expression: Sequence[str] | None = None, code: str = "invalid"
) -> JsonObject:
    """An R4 OperationOutcome with one issue of severity error."""
    if code not in ISSUE_TYPES:
        raise ValueError(f"not an R4 IssueType code: {code}")
    issue: JsonObject = {"severity": "error", "code": code, "details": {"text": message_fr}}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}
