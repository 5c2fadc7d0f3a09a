"""FHIR R4 front end of eligibility: a CoverageEligibilityRequest in, a CoverageEligibilityResponse
or an OperationOutcome out. Pure translation: no I/O, no database, no web framework.

Invariant: a FHIR request becomes exactly the ``EligibilityRequest`` the JSON API would build (so
all validation is shared), no answer or error built here carries the patient's identifiers or birth
date, and every "not eligible" answer is the same bytes whatever its cause.

Request (R4, JSON already parsed into a dict), either form:

- the ``CoverageEligibilityRequest`` alone, its Patient and Coverage (and the payor Organization,
  if referenced) in ``contained`` and referenced as ``#id``;
- a ``Bundle`` of type ``collection`` or ``batch`` holding exactly one CoverageEligibilityRequest,
  the Patient and the Coverage (and the Organization), referenced by ``fullUrl`` or ``Type/id``;
  ``#id`` still points into the referring resource's ``contained``.

=====================  ========================================================================
EligibilityRequest     FHIR element
=====================  ========================================================================
patient.nir            ``Patient.identifier`` with system ``urn:oid:1.2.250.1.213.1.4.8``
                       (exactly one), NIR with its key
patient.birth_date     ``Patient.birthDate`` (full date)
patient.birth_rank     ``Patient.multipleBirthInteger``; 1 when absent or
                       ``multipleBirthBoolean`` false; ``multipleBirthBoolean`` true is refused
                       (the rank is needed)
card.amc               ``Coverage.payor[0].identifier.value``; or, when ``payor[0]`` is a
                       reference, the Organization's identifier of system ``AMC_SYSTEM`` (or its
                       only identifier)
card.member            ``Coverage.subscriberId``
date                   ``CoverageEligibilityRequest.servicedDate`` (required; not servicedPeriod)
mode                   extension ``EXT_MODE`` on the request, ``valueCode`` ``estimate`` or
                       ``agree``; ``agree`` when absent, as in the JSON API
lines[i]               ``CoverageEligibilityRequest.item[i]``, one billed line each:
  .category            ``item.category.coding`` of system ``CARE_CATEGORY_SYSTEM``, the category
                       code of the JSON API (``consultation_gp``, ``optics_b``...)
  .billed              ``item.unitPrice`` (Money, EUR); ``item.quantity``, if any, must be 1
  .br                  item extension ``.../base-remboursement``, ``valueMoney`` (required)
  .amo_rate            item extension ``.../amo-rate``, ``valueDecimal`` in [0, 1] (required)
  .amo_deduction       item extension ``.../amo-deduction``, ``valueMoney`` (default 0)
  .lens_class          item extension ``.../lens-class``, ``valueCode`` ``simple``, ``complex``,
                       ``very_complex`` (required for ``optics_b``)
  .prescription_ch...  item extension ``.../prescription-changed``, ``valueBoolean``
=====================  ========================================================================

The request's ``insurance`` must hold exactly one entry, whose ``coverage`` references the
Coverage. Amounts are JSON numbers (as FHIR wants), in euros; a Money ``currency``, when given,
must be ``EUR``. Any ``modifierExtension`` is refused; other extensions, ``status``, ``purpose``,
``provider``, ``insurer`` and ``Coverage.beneficiary`` are ignored. Anything missing or malformed
raises ``FhirInputError``, whose French message and FHIRPath ``expression`` name the element, never
its value; errors of the shared pydantic model are translated likewise (from ``loc`` and the error
type, never ``input``).

Response: ``status`` active, ``purpose`` [validation, benefits], ``outcome`` complete, ``patient``
and ``insurance[0].coverage`` display-only references, ``request`` carrying ``request_id`` as an
identifier of system ``REQUEST_ID_SYSTEM``, ``disposition`` in French. When eligible: ``insurer``
carries the AMC number the caller sent (system ``AMC_SYSTEM``), ``servicedDate`` the care date,
``insurance[0].inforce`` true, one ``item`` per answered line (category coding, ``excluded`` = not
covered, French ``description`` and extension ``.../line-reason`` with the rule's reason code) whose
``benefit`` entries give the AMC share (types ``benefit`` of the HL7 benefit-type system and ``amc``
of ``BENEFIT_SHARE_SYSTEM``), the AMO share (``amo``) and the patient's share (``patient``) as
``allowedMoney`` in EUR with two decimals, and ``preAuthRef`` the agreement number when one was
granted. When not eligible: a constant resource (only ``request_id`` and ``created`` vary), with a
display-only ``insurer`` and ``inforce`` false.

Amounts are ``Decimal`` values in the returned dicts: serialize with ``dumps``, which writes them as
JSON numbers keeping their two decimals ("12.30"); plain ``orjson.dumps`` refuses Decimal and
``json.dumps`` too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from vigie.eligibility.schemas import EligibilityAnswer, EligibilityRequest, LineOut

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


# --- Envelope and references --------------------------------------------------------------------


@dataclass(frozen=True)
class _Lookup:
    """Resolves literal references: ``#id`` in a container's ``contained``, else Bundle entries."""

    entries: tuple[tuple[str | None, JsonObject], ...] = ()

    def resolve(
        self, reference: JsonObject, expr: str, expected: str, *, container: JsonObject
    ) -> tuple[JsonObject, JsonObject]:
        """The referenced resource, and the container its own ``#id`` references point into."""
        ref_expr = f"{expr}.reference"
        ref = _string(reference, "reference", ref_expr, f"référence vers une ressource {expected}")
        if ref.startswith("#"):
            found, inner = _contained(container, ref[1:], expr), container
        else:
            found = self._entry(ref)
            inner = found if found is not None else container
        if found is None:
            where = "ni dans contained ni dans le Bundle" if self.entries else "dans contained"
            raise FhirInputError(
                f"Référence non résolue : {ref_expr} (ressource {expected} introuvable {where}).",
                [ref_expr],
                code="not-found",
            )
        if found.get("resourceType") != expected:
            raise FhirInputError(
                f"{ref_expr} doit désigner une ressource {expected}.", [ref_expr], code="invalid"
            )
        return found, inner

    def _entry(self, ref: str) -> JsonObject | None:
        for full_url, resource in self.entries:
            local = f"{resource.get('resourceType')}/{resource.get('id')}"
            if ref in (full_url, local):
                return resource
        return None


def _contained(container: JsonObject, ident: str, expr: str) -> JsonObject | None:
    contained = container.get("contained")
    if contained is None:
        return None
    if not isinstance(contained, list):
        raise _malformed(f"{container.get('resourceType')}.contained", "tableau JSON")
    for resource in contained:
        if isinstance(resource, dict) and resource.get("id") == ident:
            return resource
    return None


def _unwrap(body: object) -> tuple[JsonObject, _Lookup]:
    """The CoverageEligibilityRequest, and how to resolve its references."""
    if not isinstance(body, dict):
        raise FhirInputError(
            "Le corps doit être un objet JSON : ressource CoverageEligibilityRequest ou Bundle.",
            code="structure",
        )
    kind = body.get("resourceType")
    if kind == CER:
        return body, _Lookup()
    if kind == "Bundle":
        return _from_bundle(body)
    raise FhirInputError(
        "resourceType non pris en charge : CoverageEligibilityRequest ou Bundle attendu.",
        ["resourceType"],
        code="not-supported",
    )


def _from_bundle(bundle: JsonObject) -> tuple[JsonObject, _Lookup]:
    if bundle.get("type") not in ("collection", "batch"):
        raise FhirInputError(
            "Bundle.type non pris en charge : collection ou batch attendu.",
            ["Bundle.type"],
            code="not-supported",
        )
    raw_entries = _optional_array(bundle, "entry", "Bundle.entry")
    entries = tuple(_bundle_entry(entry, i) for i, entry in enumerate(raw_entries))
    requests = [resource for _, resource in entries if resource.get("resourceType") == CER]
    if len(requests) != 1:
        raise FhirInputError(
            "Le Bundle doit contenir exactement une ressource CoverageEligibilityRequest.",
            ["Bundle.entry"],
        )
    return requests[0], _Lookup(entries)


def _bundle_entry(value: object, index: int) -> tuple[str | None, JsonObject]:
    expr = f"Bundle.entry[{index}]"
    entry = _object(value, expr)
    resource = _child(entry, "resource", f"{expr}.resource", "ressource")
    full_url = entry.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        raise _malformed(f"{expr}.fullUrl", "URI")
    return full_url, resource


def _extensions(element: JsonObject, expr: str) -> dict[str, JsonObject]:
    """Extensions by URL; a repeated URL is refused, and so is any modifierExtension."""
    _no_modifier_extension(element, expr)
    found: dict[str, JsonObject] = {}
    for i, value in enumerate(_optional_array(element, "extension", f"{expr}.extension")):
        extension = _object(value, f"{expr}.extension[{i}]")
        url = _string(extension, "url", f"{expr}.extension[{i}].url", "URL d'extension")
        if url in found:
            raise FhirInputError(
                f"Extension répétée : {_ext_expr(expr, url)}.", [_ext_expr(expr, url)]
            )
        found[url] = extension
    return found


def _no_modifier_extension(element: JsonObject, expr: str) -> None:
    """FHIR: a modifier extension that is not understood makes the element unusable."""
    if element.get("modifierExtension"):
        raise FhirInputError(
            f"modifierExtension non prise en charge : {expr}.modifierExtension.",
            [f"{expr}.modifierExtension"],
            code="not-supported",
        )


def _ext_expr(expr: str, url: str) -> str:
    return f"{expr}.extension('{url}')"


def _ext_value(
    extensions: Mapping[str, JsonObject], url: str, value_key: str, expr: str
) -> tuple[object, str] | None:
    """The ``value[x]`` of the extension ``url`` and its expression; None when absent."""
    extension = extensions.get(url)
    if extension is None:
        return None
    value_expr = f"{_ext_expr(expr, url)}.{value_key}"
    if extension.get(value_key) is None:
        raise _malformed(_ext_expr(expr, url), value_key)
    return extension[value_key], value_expr


# --- Request ------------------------------------------------------------------------------------


def parse_request(body: object) -> EligibilityRequest:
    """The JSON API's ``EligibilityRequest`` for a FHIR CoverageEligibilityRequest (or Bundle).

    Raises ``FhirInputError`` (French, no value the caller sent) for anything missing or malformed.
    """
    request, lookup = _unwrap(body)
    trace: dict[Loc, str] = {("date",): f"{CER}.servicedDate"}
    data: JsonObject = {
        "card": _card(request, lookup, trace),
        "patient": _patient(request, lookup, trace),
        "date": _date(request, "servicedDate", f"{CER}.servicedDate", "date des soins"),
        "lines": _lines(request, trace),
    }
    mode = _mode(request, trace)
    if mode is not None:
        data["mode"] = mode
    return _validated(data, trace)


def _patient(request: JsonObject, lookup: _Lookup, trace: dict[Loc, str]) -> JsonObject:
    expr = f"{CER}.patient"
    reference = _child(request, "patient", expr, "référence au patient")
    patient, _ = lookup.resolve(reference, expr, "Patient", container=request)
    _no_modifier_extension(patient, "Patient")
    trace[("patient",)] = "Patient"
    trace[("patient", "birth_date")] = "Patient.birthDate"
    result: JsonObject = {
        "nir": _nir(patient, trace),
        "birth_date": _date(patient, "birthDate", "Patient.birthDate", "date de naissance"),
    }
    rank = _birth_rank(patient, trace)
    if rank is not None:
        result["birth_rank"] = rank
    return result


def _nir(patient: JsonObject, trace: dict[Loc, str]) -> str:
    identifiers = _array(patient, "identifier", "Patient.identifier", "identifiant NIR")
    indexes = [
        i
        for i, identifier in enumerate(identifiers)
        if isinstance(identifier, dict) and identifier.get("system") == NIR_SYSTEM
    ]
    if not indexes:
        raise _missing("Patient.identifier", f"identifiant NIR de système {NIR_SYSTEM}")
    if len(indexes) > 1:
        raise FhirInputError(
            "Un seul identifiant NIR attendu : Patient.identifier.", ["Patient.identifier"]
        )
    expr = f"Patient.identifier[{indexes[0]}].value"
    trace[("patient", "nir")] = expr
    return _string(identifiers[indexes[0]], "value", expr, "NIR")


def _birth_rank(patient: JsonObject, trace: dict[Loc, str]) -> int | None:
    rank, twin = patient.get("multipleBirthInteger"), patient.get("multipleBirthBoolean")
    if rank is not None and twin is not None:
        raise FhirInputError(
            "Patient.multipleBirth[x] : une seule forme attendue (multipleBirthInteger).",
            ["Patient.multipleBirthInteger", "Patient.multipleBirthBoolean"],
        )
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, int):
            raise _malformed("Patient.multipleBirthInteger", "entier")
        trace[("patient", "birth_rank")] = "Patient.multipleBirthInteger"
        return rank
    if twin is not None and _boolean(twin, "Patient.multipleBirthBoolean"):
        raise FhirInputError(
            "Naissance multiple : indiquer le rang de naissance dans Patient.multipleBirthInteger.",
            ["Patient.multipleBirthBoolean"],
            code="required",
        )
    return None


def _card(request: JsonObject, lookup: _Lookup, trace: dict[Loc, str]) -> JsonObject:
    coverage, container = _coverage(request, lookup)
    _no_modifier_extension(coverage, "Coverage")
    trace[("card",)] = "Coverage"
    trace[("card", "member")] = "Coverage.subscriberId"
    return {
        "amc": _amc(coverage, container, lookup, trace),
        "member": _string(coverage, "subscriberId", "Coverage.subscriberId", "numéro d'adhérent"),
    }


def _coverage(request: JsonObject, lookup: _Lookup) -> tuple[JsonObject, JsonObject]:
    insurance = _array(request, "insurance", f"{CER}.insurance", "couverture")
    if len(insurance) != 1:
        raise FhirInputError(
            f"Une seule couverture attendue : {CER}.insurance.", [f"{CER}.insurance"]
        )
    expr = f"{CER}.insurance[0].coverage"
    entry = _object(insurance[0], f"{CER}.insurance[0]")
    reference = _child(entry, "coverage", expr, "référence à la ressource Coverage")
    return lookup.resolve(reference, expr, "Coverage", container=request)


def _amc(
    coverage: JsonObject, container: JsonObject, lookup: _Lookup, trace: dict[Loc, str]
) -> str:
    payor = _object(
        _array(coverage, "payor", "Coverage.payor", "organisme complémentaire AMC")[0],
        "Coverage.payor[0]",
    )
    if payor.get("identifier") is not None:
        expr = "Coverage.payor[0].identifier.value"
        trace[("card", "amc")] = expr
        identifier = _object(payor["identifier"], "Coverage.payor[0].identifier")
        return _string(identifier, "value", expr, "numéro AMC")
    if payor.get("reference") is None:
        raise _missing("Coverage.payor[0].identifier", "numéro AMC, ou référence à l'Organization")
    organization, _ = lookup.resolve(
        payor, "Coverage.payor[0]", "Organization", container=container
    )
    return _organization_amc(organization, trace)


def _organization_amc(organization: JsonObject, trace: dict[Loc, str]) -> str:
    identifiers = _array(organization, "identifier", "Organization.identifier", "numéro AMC")
    indexes = [
        i
        for i, identifier in enumerate(identifiers)
        if isinstance(identifier, dict) and identifier.get("system") == AMC_SYSTEM
    ]
    if not indexes and len(identifiers) == 1:
        indexes = [0]
    if len(indexes) != 1:
        raise FhirInputError(
            f"Organization.identifier : un seul identifiant de système {AMC_SYSTEM} attendu.",
            ["Organization.identifier"],
        )
    expr = f"Organization.identifier[{indexes[0]}]"
    trace[("card", "amc")] = f"{expr}.value"
    return _string(_object(identifiers[indexes[0]], expr), "value", f"{expr}.value", "numéro AMC")


def _mode(request: JsonObject, trace: dict[Loc, str]) -> str | None:
    found = _ext_value(_extensions(request, CER), EXT_MODE, "valueCode", CER)
    if found is None:
        return None
    value, expr = found
    trace[("mode",)] = expr
    if not isinstance(value, str):
        raise _malformed(expr, "code")
    return value


def _lines(request: JsonObject, trace: dict[Loc, str]) -> list[JsonObject]:
    expr = f"{CER}.item"
    trace[("lines",)] = expr
    items = _array(request, "item", expr, "lignes facturées")
    return [
        _line(_object(item, f"{expr}[{i}]"), f"{expr}[{i}]", ("lines", i), trace)
        for i, item in enumerate(items)
    ]


def _line(item: JsonObject, expr: str, loc: Loc, trace: dict[Loc, str]) -> JsonObject:
    trace[loc] = expr
    trace[(*loc, "billed")] = f"{expr}.unitPrice.value"
    _check_quantity(item, expr)
    extensions = _extensions(item, expr)
    line: JsonObject = {
        "category": _category(item, expr, loc, trace),
        "billed": _money(item.get("unitPrice"), f"{expr}.unitPrice", "montant facturé"),
    }
    for field, url, value_key in _LINE_EXTENSIONS:
        found = _ext_value(extensions, url, value_key, expr)
        if found is None:
            if field in _REQUIRED_LINE_FIELDS:
                raise _missing(
                    _ext_expr(expr, url), f"extension {url.removeprefix(EXTENSION_BASE)}"
                )
            continue
        value, value_expr = found
        trace[(*loc, field)] = value_expr
        line[field] = _LINE_VALUE_READERS[value_key](value, value_expr)
    return line


def _check_quantity(item: JsonObject, expr: str) -> None:
    quantity = item.get("quantity")
    if quantity is None:
        return
    value_expr = f"{expr}.quantity.value"
    value = _decimal(_object(quantity, f"{expr}.quantity").get("value"), value_expr, "quantité")
    if value != 1:
        raise FhirInputError(
            f"{value_expr} doit valoir 1 : une ligne par acte ou équipement.", [value_expr]
        )


def _category(item: JsonObject, expr: str, loc: Loc, trace: dict[Loc, str]) -> str:
    concept_expr = f"{expr}.category"
    concept = _child(item, "category", concept_expr, "catégorie de soin")
    codings = _array(concept, "coding", f"{concept_expr}.coding", "catégorie de soin")
    for i, coding in enumerate(codings):
        coding_expr = f"{concept_expr}.coding[{i}]"
        if _object(coding, coding_expr).get("system") == CARE_CATEGORY_SYSTEM:
            trace[(*loc, "category")] = f"{coding_expr}.code"
            return _string(coding, "code", f"{coding_expr}.code", "code de catégorie")
    raise _missing(f"{concept_expr}.coding", f"code de catégorie du système {CARE_CATEGORY_SYSTEM}")


def _read_money(value: object, expr: str) -> Decimal:
    return _money(value, expr, "montant")


def _read_decimal(value: object, expr: str) -> Decimal:
    return _decimal(value, expr, "nombre")


def _read_code(value: object, expr: str) -> str:
    if not isinstance(value, str):
        raise _malformed(expr, "code")
    return value


_LINE_EXTENSIONS = (
    ("br", EXT_BR, "valueMoney"),
    ("amo_rate", EXT_AMO_RATE, "valueDecimal"),
    ("amo_deduction", EXT_AMO_DEDUCTION, "valueMoney"),
    ("lens_class", EXT_LENS_CLASS, "valueCode"),
    ("prescription_changed", EXT_PRESCRIPTION_CHANGED, "valueBoolean"),
)
_REQUIRED_LINE_FIELDS = frozenset({"br", "amo_rate"})
_LINE_VALUE_READERS = {
    "valueMoney": _read_money,
    "valueDecimal": _read_decimal,
    "valueCode": _read_code,
    "valueBoolean": _boolean,
}


# --- Validation errors of the shared model ------------------------------------------------------

_REASONS_FR = {
    "missing": "élément obligatoire absent",
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "greater_than": "doit être supérieur à {gt}",
    "less_than": "doit être inférieur à {lt}",
    "decimal_max_places": "au plus {decimal_places} décimales",
    "decimal_max_digits": "trop de chiffres",
    "decimal_whole_digits": "trop de chiffres avant la virgule",
    "finite_number": "nombre fini attendu",
    "enum": "code inconnu ; valeurs admises : {expected}",
    "literal_error": "valeur non admise ; valeurs admises : {expected}",
    "too_short": "au moins {min_length} élément(s) attendu(s)",
    "too_long": "au plus {max_length} élément(s) admis",
}


def _validated(data: JsonObject, trace: Mapping[Loc, str]) -> EligibilityRequest:
    try:
        return EligibilityRequest.model_validate(data)
    except ValidationError as exc:
        # ``from None``: the ValidationError's text holds the input values (the NIR among them).
        raise _translated(exc, trace) from None


def _translated(exc: ValidationError, trace: Mapping[Loc, str]) -> FhirInputError:
    errors = exc.errors(include_url=False, include_input=False)[:MAX_REPORTED_ERRORS]
    parts: dict[str, str] = {}
    for error in errors:
        expr = _expression_for(error["loc"], trace)
        parts.setdefault(expr, f"{expr} : {_reason_fr(error)}")
    return FhirInputError("Élément invalide : " + " ; ".join(parts.values()) + ".", list(parts))


def _expression_for(loc: Loc, trace: Mapping[Loc, str]) -> str:
    for end in range(len(loc), 0, -1):
        expr = trace.get(loc[:end])
        if expr is not None:
            return expr
    return CER


def _reason_fr(error: ErrorDetails) -> str:
    """French reason from the error type and schema constants; never from the input."""
    ctx = error.get("ctx") or {}
    if error["type"] == "value_error":
        # The schema's validators raise messages written to be shown (no value in them).
        return str(ctx.get("error", "valeur invalide")).removeprefix("Value error, ")
    template = _REASONS_FR.get(error["type"], "valeur invalide")
    try:
        return template.format(**ctx).replace(" or ", " ou ")
    except (KeyError, IndexError):
        return "valeur invalide"


# --- Response -----------------------------------------------------------------------------------

_REASON_TEXT_FR = {
    "pct_br": "Pris en charge selon la garantie en pourcentage de la base de remboursement.",
    "flat": "Pris en charge selon le forfait de la garantie.",
    "flat_year": "Pris en charge dans la limite du forfait annuel.",
    "year_ceiling_reached": "Forfait annuel épuisé.",
    "sante_100": "100 % Santé : pris en charge au-delà de la part AMO.",
    "legal_ceiling": "Prise en charge limitée au plafond légal du contrat responsable.",
    "renewal_period": "Délai de renouvellement de l'équipement non écoulé.",
    "not_in_plan": "Soin non couvert par le contrat.",
}
_DISPOSITION_AGREED = "Droits ouverts : accord de prise en charge délivré (voir preAuthRef)."
_DISPOSITION_ESTIMATE = "Droits ouverts : estimation, sans accord de prise en charge."
_DISPOSITION_NOT_ELIGIBLE = "Non éligible : la demande ne correspond à aucun droit ouvert."
_PATIENT_REFERENCE = {"display": "Patient de la demande"}
_COVERAGE_REFERENCE = {"display": "Couverture de la demande"}
_NEGATIVE_INSURER = {"display": "Organisme complémentaire de la demande"}

_AMC_TYPE = {
    "coding": [
        {"system": HL7_BENEFIT_TYPE_SYSTEM, "code": "benefit", "display": "Benefit"},
        {"system": BENEFIT_SHARE_SYSTEM, "code": "amc", "display": "Part complémentaire (AMC)"},
    ]
}
_AMO_TYPE = {
    "coding": [{"system": BENEFIT_SHARE_SYSTEM, "code": "amo", "display": "Part obligatoire (AMO)"}]
}
_PATIENT_TYPE = {
    "coding": [{"system": BENEFIT_SHARE_SYSTEM, "code": "patient", "display": "Reste à charge"}]
}


def answer_to_fhir(
    answer: EligibilityAnswer,
    *,
    request: EligibilityRequest,
    request_id: str | None,
    created: datetime,
) -> JsonObject:
    """A CoverageEligibilityResponse; "not eligible" depends on ``request_id`` and ``created`` only.

    ``created`` without a time zone is taken as UTC.
    """
    resource: JsonObject = {"resourceType": "CoverageEligibilityResponse", "status": "active"}
    resource["purpose"] = ["validation", "benefits"]
    resource["patient"] = dict(_PATIENT_REFERENCE)
    if answer.eligible:
        resource["servicedDate"] = request.date.isoformat()
    resource["created"] = _datetime(created)
    resource["request"] = _request_reference(request_id)
    resource["outcome"] = "complete"
    if answer.eligible:
        resource |= _eligible_body(answer, request)
    else:
        resource |= _not_eligible_body()
    return resource


def _not_eligible_body() -> JsonObject:
    return {
        "disposition": _DISPOSITION_NOT_ELIGIBLE,
        "insurer": dict(_NEGATIVE_INSURER),
        "insurance": [{"coverage": dict(_COVERAGE_REFERENCE), "inforce": False}],
    }


def _eligible_body(answer: EligibilityAnswer, request: EligibilityRequest) -> JsonObject:
    insurance: JsonObject = {"coverage": dict(_COVERAGE_REFERENCE), "inforce": True}
    if answer.lines:
        insurance["item"] = [_item(line) for line in answer.lines]
    body: JsonObject = {
        "disposition": _DISPOSITION_AGREED if answer.agreement else _DISPOSITION_ESTIMATE,
        "insurer": {
            "identifier": {"system": AMC_SYSTEM, "value": request.card.amc},
            "display": "Organisme complémentaire (AMC)",
        },
        "insurance": [insurance],
    }
    if answer.agreement:
        body["preAuthRef"] = answer.agreement
    return body


def _item(line: LineOut) -> JsonObject:
    return {
        "extension": [{"url": EXT_LINE_REASON, "valueCode": line.reason}],
        "category": {"coding": [{"system": CARE_CATEGORY_SYSTEM, "code": line.category.value}]},
        "excluded": not line.covered,
        "description": _REASON_TEXT_FR.get(line.reason, "Voir le motif codé de la ligne."),
        "benefit": [
            _benefit(_AMC_TYPE, line.amc),
            _benefit(_AMO_TYPE, line.amo),
            _benefit(_PATIENT_TYPE, line.patient),
        ],
    }


def _benefit(kind: JsonObject, amount: str) -> JsonObject:
    return {
        "type": copy.deepcopy(kind),
        "allowedMoney": {"value": Decimal(amount).quantize(CENT), "currency": "EUR"},
    }


def _request_reference(request_id: str | None) -> JsonObject:
    reference: JsonObject = {"type": CER}
    if request_id:
        reference["identifier"] = {"system": REQUEST_ID_SYSTEM, "value": request_id}
    reference["display"] = "Demande d'éligibilité"
    return reference


def _datetime(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- OperationOutcome and serialization ---------------------------------------------------------


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


def dumps(resource: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; a Decimal is written as a JSON number with its digits ("12.30")."""
    return orjson.dumps(resource, default=_decimal_fragment)


def _decimal_fragment(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"not serializable as FHIR JSON: {type(value).__name__}")
