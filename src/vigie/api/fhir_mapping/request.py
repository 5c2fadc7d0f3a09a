"""A CoverageEligibilityRequest read into the JSON API's EligibilityRequest."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from vigie.api.fhir_mapping.common import (
    AMC_SYSTEM,
    CARE_CATEGORY_SYSTEM,
    CER,
    EXT_AMO_DEDUCTION,
    EXT_AMO_RATE,
    EXT_BR,
    EXT_LENS_CLASS,
    EXT_MODE,
    EXT_PRESCRIPTION_CHANGED,
    EXTENSION_BASE,
    MAX_REPORTED_ERRORS,
    NIR_SYSTEM,
    FhirInputError,
    JsonObject,
    Loc,
    _array,
    _boolean,
    _child,
    _date,
    _decimal,
    _malformed,
    _missing,
    _money,
    _object,
    _string,
)
from vigie.api.fhir_mapping.envelope import (
    _ext_expr,
    _ext_value,
    _extensions,
    _Lookup,
    _no_modifier_extension,
    _unwrap,
)
from vigie.eligibility.schemas import EligibilityRequest

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


def _card(request: JsonObject, lookup: _Lookup, trace: dict[Loc, str]) -> JsonObject | None:
    """The mutuelle card from the Coverage; no ``insurance`` at all: a card-less question."""
    if "insurance" not in request:
        return None
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
