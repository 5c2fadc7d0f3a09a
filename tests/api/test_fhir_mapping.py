"""FHIR R4 mapping: requests become the JSON API's model, answers valid R4, errors safe."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome

from vigie.api.fhir_mapping import (
    AMC_SYSTEM,
    BENEFIT_SHARE_SYSTEM,
    CARE_CATEGORY_SYSTEM,
    EXT_AMO_DEDUCTION,
    EXT_AMO_RATE,
    EXT_BR,
    EXT_LENS_CLASS,
    EXT_LINE_REASON,
    EXT_MODE,
    EXT_PRESCRIPTION_CHANGED,
    HL7_BENEFIT_TYPE_SYSTEM,
    NIR_SYSTEM,
    FhirInputError,
    answer_to_fhir,
    dumps,
    operation_outcome,
    parse_request,
)
from vigie.eligibility.categories import Category
from vigie.eligibility.schemas import NOT_ELIGIBLE, EligibilityAnswer, EligibilityRequest, LineOut

JsonObject = dict[str, Any]


def with_key(base: str) -> str:
    return base + f"{97 - int(base) % 97:02d}"


NIR = with_key("2900575123045")
BAD_KEY_NIR = NIR[:13] + f"{(int(NIR[13:]) + 1) % 100:02d}"
AMC = "123456789"
MEMBER = "ADH-4217"
BIRTH_DATE = "1990-05-17"
CARE_DATE = "2024-03-01"
SECRETS = (NIR, NIR[:13], BAD_KEY_NIR, AMC, MEMBER, BIRTH_DATE)
CREATED = datetime(2024, 3, 2, 9, 30, tzinfo=UTC)

JSON_REQUEST: JsonObject = {
    "card": {"amc": AMC, "member": MEMBER},
    "patient": {"nir": NIR, "birth_date": BIRTH_DATE, "birth_rank": 2},
    "date": CARE_DATE,
    "mode": "estimate",
    "lines": [
        {
            "category": "consultation_gp",
            "billed": "30.00",
            "br": "30.00",
            "amo_rate": "0.70",
            "amo_deduction": "2.00",
        },
        {
            "category": "optics_b",
            "billed": "450.00",
            "br": "0.09",
            "amo_rate": "0.60",
            "lens_class": "complex",
            "prescription_changed": True,
        },
    ],
}


def ext(url: str, **value: Any) -> JsonObject:
    return {"url": url, **value}


def eur(value: Any) -> JsonObject:
    return {"value": value, "currency": "EUR"}


def items() -> list[JsonObject]:
    return [
        {
            "extension": [
                ext(EXT_BR, valueMoney=eur(30.0)),
                ext(EXT_AMO_RATE, valueDecimal=0.7),
                ext(EXT_AMO_DEDUCTION, valueMoney=eur(2)),
            ],
            "category": {"coding": [{"system": CARE_CATEGORY_SYSTEM, "code": "consultation_gp"}]},
            "unitPrice": eur(30),
        },
        {
            "extension": [
                ext("https://other.example/ignored", valueString="anything"),
                ext(EXT_BR, valueMoney={"value": Decimal("0.09")}),
                ext(EXT_AMO_RATE, valueDecimal=Decimal("0.6")),
                ext(EXT_LENS_CLASS, valueCode="complex"),
                ext(EXT_PRESCRIPTION_CHANGED, valueBoolean=True),
            ],
            "category": {
                "coding": [
                    {"system": "http://example.org/other", "code": "x"},
                    {"system": CARE_CATEGORY_SYSTEM, "code": "optics_b"},
                ]
            },
            "unitPrice": eur(450.0),
            "quantity": {"value": 1},
        },
    ]


def patient_resource(ident: str = "pat") -> JsonObject:
    return {
        "resourceType": "Patient",
        "id": ident,
        "identifier": [
            {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "ignored"},
            {"system": NIR_SYSTEM, "value": NIR},
        ],
        "birthDate": BIRTH_DATE,
        "multipleBirthInteger": 2,
    }


def coverage_resource(ident: str = "cov", payor: JsonObject | None = None) -> JsonObject:
    return {
        "resourceType": "Coverage",
        "id": ident,
        "status": "active",
        "subscriberId": MEMBER,
        "beneficiary": {"reference": "#pat"},
        "payor": [payor or {"identifier": {"system": AMC_SYSTEM, "value": AMC}}],
    }


def request_resource(patient_ref: str, coverage_ref: str) -> JsonObject:
    return {
        "resourceType": "CoverageEligibilityRequest",
        "extension": [ext(EXT_MODE, valueCode="estimate")],
        "status": "active",
        "purpose": ["benefits", "validation"],
        "patient": {"reference": patient_ref},
        "servicedDate": CARE_DATE,
        "created": "2024-03-01T09:00:00+01:00",
        "insurer": {"display": "AMC"},
        "insurance": [{"coverage": {"reference": coverage_ref}}],
        "item": items(),
    }


def contained() -> JsonObject:
    body = request_resource("#pat", "#cov")
    body["contained"] = [patient_resource(), coverage_resource()]
    return body


def bundle(kind: str = "collection") -> JsonObject:
    organization = {
        "resourceType": "Organization",
        "id": "org1",
        "identifier": [
            {"system": "http://example.org/finess", "value": "000000000"},
            {"system": AMC_SYSTEM, "value": AMC},
        ],
    }
    coverage = coverage_resource(payor={"reference": "Organization/org1"})
    resources = [
        ("urn:uuid:0b8f3c0e-1", request_resource("urn:uuid:0b8f3c0e-2", "Coverage/cov")),
        ("urn:uuid:0b8f3c0e-2", patient_resource("p2")),
        ("https://pro.example/fhir/Coverage/cov", coverage),
        (None, organization),
    ]
    entries: list[JsonObject] = []
    for full_url, resource in resources:
        entry: JsonObject = {"resource": resource}
        if full_url is not None:
            entry["fullUrl"] = full_url
        if kind == "batch":
            entry["request"] = {"method": "POST", "url": resource["resourceType"]}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def expected() -> EligibilityRequest:
    return EligibilityRequest.model_validate(JSON_REQUEST)


# --- Equivalence with the JSON API ----------------------------------------------------------------


def test_contained_form_equals_json_request() -> None:
    assert parse_request(contained()) == expected()


@pytest.mark.parametrize("kind", ["collection", "batch"])
def test_bundle_form_equals_json_request(kind: str) -> None:
    assert parse_request(bundle(kind)) == expected()


def test_bundle_may_still_contain_the_patient() -> None:
    body = bundle()
    request = body["entry"][0]["resource"]
    request["contained"] = [patient_resource()]
    request["patient"] = {"reference": "#pat"}
    del body["entry"][1]
    assert parse_request(body) == expected()


def test_bundle_coverage_with_contained_organization() -> None:
    body = bundle()
    coverage = body["entry"][2]["resource"]
    coverage["contained"] = [{"resourceType": "Organization", "id": "o", "identifier": [
        {"value": AMC}
    ]}]  # fmt: skip
    coverage["payor"] = [{"reference": "#o"}]
    assert parse_request(body) == expected()


def test_defaults_mode_agree_and_rank_one() -> None:
    body = contained()
    del body["extension"]
    patient = body["contained"][0]
    del patient["multipleBirthInteger"]
    patient["multipleBirthBoolean"] = False
    parsed = parse_request(body)
    assert parsed.mode == "agree"
    assert parsed.patient.birth_rank == 1
    plain = {k: v for k, v in JSON_REQUEST.items() if k != "mode"}
    plain["patient"] = {"nir": NIR, "birth_date": BIRTH_DATE}
    assert parsed == EligibilityRequest.model_validate(plain)


def test_identifiers_are_canonicalised_like_the_json_api() -> None:
    body = contained()
    body["contained"][0]["identifier"][1]["value"] = f"{NIR[0]} {NIR[1:3]} {NIR[3:]}"
    body["contained"][1]["subscriberId"] = MEMBER.lower()
    assert parse_request(body) == expected()


def test_unknown_extensions_are_ignored() -> None:
    body = contained()
    body["extension"].append(ext("https://other.example/x", valueBoolean=True))
    assert parse_request(body) == expected()


# --- Errors ---------------------------------------------------------------------------------------

Mutator = Callable[[JsonObject], Any]


def line_ext(body: JsonObject, index: int, url: str) -> JsonObject:
    return next(e for e in body["item"][index]["extension"] if e["url"] == url)


def set_at(path: list[Any], value: Any) -> Mutator:
    def mutate(body: JsonObject) -> None:
        node: Any = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def delete_at(path: list[Any]) -> Mutator:
    def mutate(body: JsonObject) -> None:
        node: Any = body
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def set_ext(index: int, url: str, **value: Any) -> Mutator:
    def mutate(body: JsonObject) -> None:
        extension = line_ext(body, index, url)
        for key in [k for k in extension if k.startswith("value")]:
            del extension[key]
        extension.update(value)

    return mutate


def drop_ext(index: int, url: str) -> Mutator:
    def mutate(body: JsonObject) -> None:
        body["item"][index]["extension"].remove(line_ext(body, index, url))

    return mutate


PAT = ["contained", 0]
COV = ["contained", 1]
ERROR_CASES: list[tuple[str, Mutator, str]] = [
    ("no patient", delete_at(["patient"]), "CoverageEligibilityRequest.patient"),
    ("patient not a reference", set_at(["patient"], {"display": "x"}), ".patient.reference"),
    ("patient unresolved", set_at(["patient", "reference"], "#nope"), ".patient.reference"),
    ("patient is a coverage", set_at(["patient", "reference"], "#cov"), ".patient.reference"),
    ("patient absolute ref", set_at(["patient", "reference"], "Patient/pat"), ".patient"),
    ("contained not a list", set_at(["contained"], {"a": 1}), "contained"),
    ("no identifier", delete_at([*PAT, "identifier"]), "Patient.identifier"),
    ("no NIR identifier", set_at([*PAT, "identifier", 1, "system"], "urn:x"), "Patient.identifier"),
    ("NIR without value", delete_at([*PAT, "identifier", 1, "value"]), "Patient.identifier[1]"),
    ("NIR not a string", set_at([*PAT, "identifier", 1, "value"], int(NIR)), "Patient.identifier"),
    ("bad NIR key", set_at([*PAT, "identifier", 1, "value"], BAD_KEY_NIR), "identifier[1].value"),
    (
        "two NIRs",
        lambda b: b["contained"][0]["identifier"].append({"system": NIR_SYSTEM, "value": NIR}),
        "Patient.identifier",
    ),
    ("no birth date", delete_at([*PAT, "birthDate"]), "Patient.birthDate"),
    ("partial birth date", set_at([*PAT, "birthDate"], "1990-05"), "Patient.birthDate"),
    ("impossible birth date", set_at([*PAT, "birthDate"], "1990-02-30"), "Patient.birthDate"),
    ("birth date not a str", set_at([*PAT, "birthDate"], 19900517), "Patient.birthDate"),
    ("two multipleBirth", set_at([*PAT, "multipleBirthBoolean"], False), "multipleBirth"),
    (
        "twin without rank",
        lambda b: b["contained"][0].update(multipleBirthInteger=None, multipleBirthBoolean=True),
        "Patient.multipleBirthBoolean",
    ),
    ("twin as text", set_at([*PAT, "multipleBirthBoolean"], "true"), "Patient.multipleBirth"),
    ("rank zero", set_at([*PAT, "multipleBirthInteger"], 0), "Patient.multipleBirthInteger"),
    ("rank as text", set_at([*PAT, "multipleBirthInteger"], "2"), "Patient.multipleBirthInteger"),
    ("rank as bool", set_at([*PAT, "multipleBirthInteger"], True), "Patient.multipleBirthInteger"),
    # No insurance at all is a card-less question (tests/eligibility/test_cardless.py).
    ("empty insurance", set_at(["insurance"], []), "CoverageEligibilityRequest.insurance"),
    (
        "two insurances",
        lambda b: b["insurance"].append(b["insurance"][0]),
        "CoverageEligibilityRequest.insurance",
    ),
    ("no coverage ref", set_at(["insurance", 0], {}), "insurance[0].coverage"),
    ("no coverage", lambda b: b["contained"].pop(1), "insurance[0].coverage.reference"),
    ("no payor", delete_at([*COV, "payor"]), "Coverage.payor"),
    ("payor empty", set_at([*COV, "payor"], []), "Coverage.payor"),
    ("payor is a string", set_at([*COV, "payor"], ["x"]), "Coverage.payor[0]"),
    ("payor without id", set_at([*COV, "payor", 0], {"display": "x"}), "Coverage.payor[0]"),
    ("AMC without value", delete_at([*COV, "payor", 0, "identifier", "value"]), "payor[0]"),
    ("bad AMC", set_at([*COV, "payor", 0, "identifier", "value"], "12345"), "payor[0].identifier"),
    ("payor org unresolved", set_at([*COV, "payor", 0], {"reference": "#o"}), "payor[0].reference"),
    ("no subscriberId", delete_at([*COV, "subscriberId"]), "Coverage.subscriberId"),
    ("bad subscriberId", set_at([*COV, "subscriberId"], "ADH 42!"), "Coverage.subscriberId"),
    ("blank subscriberId", set_at([*COV, "subscriberId"], " "), "Coverage.subscriberId"),
    ("no servicedDate", delete_at(["servicedDate"]), "CoverageEligibilityRequest.servicedDate"),
    ("bad servicedDate", set_at(["servicedDate"], "2024-13-01"), ".servicedDate"),
    ("french servicedDate", set_at(["servicedDate"], "01/03/2024"), ".servicedDate"),
    ("datetime servicedDate", set_at(["servicedDate"], "2024-03-01T10:00:00Z"), ".servicedDate"),
    ("no items", delete_at(["item"]), "CoverageEligibilityRequest.item"),
    ("too many items", lambda b: b.update(item=b["item"] * 16), "CoverageEligibilityRequest.item"),
    ("item not an object", set_at(["item", 0], "x"), "item[0]"),
    (
        "unknown category",
        set_at(["item", 0, "category", "coding", 0, "code"], "massage"),
        "item[0].category.coding[0].code",
    ),
    (
        "category of another system",
        set_at(["item", 0, "category", "coding", 0, "system"], "http://x"),
        "item[0].category.coding",
    ),
    ("no category", delete_at(["item", 0, "category"]), "item[0].category"),
    ("no unitPrice", delete_at(["item", 0, "unitPrice"]), "item[0].unitPrice"),
    ("unitPrice text", set_at(["item", 0, "unitPrice", "value"], "30.00"), "unitPrice.value"),
    ("unitPrice bool", set_at(["item", 0, "unitPrice", "value"], True), "unitPrice.value"),
    ("unitPrice negative", set_at(["item", 0, "unitPrice", "value"], -1), "unitPrice.value"),
    ("unitPrice 3 places", set_at(["item", 0, "unitPrice", "value"], 30.001), "unitPrice.value"),
    ("unitPrice huge", set_at(["item", 0, "unitPrice", "value"], 1e9), "unitPrice.value"),
    ("unitPrice NaN", set_at(["item", 0, "unitPrice", "value"], float("nan")), "unitPrice.value"),
    ("unitPrice USD", set_at(["item", 0, "unitPrice", "currency"], "USD"), "unitPrice.currency"),
    ("quantity two", set_at(["item", 0, "quantity"], {"value": 2}), "item[0].quantity.value"),
    ("no BR", drop_ext(0, EXT_BR), "base-remboursement"),
    ("BR above billed", set_ext(0, EXT_BR, valueMoney=eur(31)), "item[0]"),
    ("BR as decimal", set_ext(0, EXT_BR, valueDecimal=30), "base-remboursement"),
    ("no AMO rate", drop_ext(0, EXT_AMO_RATE), "amo-rate"),
    ("AMO rate above 1", set_ext(0, EXT_AMO_RATE, valueDecimal=1.5), "amo-rate"),
    ("AMO rate as text", set_ext(0, EXT_AMO_RATE, valueString="0.7"), "amo-rate"),
    ("AMO rate as string", set_ext(0, EXT_AMO_RATE, valueDecimal="0.7"), "amo-rate"),
    ("deduction negative", set_ext(0, EXT_AMO_DEDUCTION, valueMoney=eur(-2)), "amo-deduction"),
    ("no lens class for optics_b", drop_ext(1, EXT_LENS_CLASS), "item[1]"),
    ("bad lens class", set_ext(1, EXT_LENS_CLASS, valueCode="bifocal"), "lens-class"),
    ("prescription yes", set_ext(1, EXT_PRESCRIPTION_CHANGED, valueBoolean="yes"), "prescription"),
    (
        "repeated extension",
        lambda b: b["item"][0]["extension"].append(ext(EXT_BR, valueMoney=eur(1))),
        "base-remboursement",
    ),
    (
        "modifierExtension",
        set_at(["item", 0, "modifierExtension"], [ext("https://x", valueBoolean=True)]),
        "item[0].modifierExtension",
    ),
    (
        "patient modifierExtension",
        set_at([*PAT, "modifierExtension"], [ext("https://x", valueBoolean=True)]),
        "Patient.modifierExtension",
    ),
    (
        "coverage modifierExtension",
        set_at([*COV, "modifierExtension"], [ext("https://x", valueBoolean=True)]),
        "Coverage.modifierExtension",
    ),
    ("bad mode", set_at(["extension", 0, "valueCode"], "grant"), "eligibility-mode"),
    ("mode not a code", set_at(["extension", 0, "valueCode"], 1), "eligibility-mode"),
]


def assert_safe(error: FhirInputError, *also: str) -> None:
    text = str(error) + " ".join(error.expression)
    for secret in (*SECRETS, *also):
        assert secret not in text
    assert error.message_fr == str(error)
    assert error.message_fr.strip()
    OperationOutcome.model_validate(error.to_operation_outcome())


@pytest.mark.parametrize(
    ("mutate", "where"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_malformed_contained_request_is_refused_safely(mutate: Mutator, where: str) -> None:
    body = contained()
    mutate(body)
    with pytest.raises(FhirInputError) as caught:
        parse_request(body)
    assert_safe(caught.value, "massage", "ADH 42!", "bifocal", "01/03/2024")
    assert any(where in expression for expression in caught.value.expression), caught.value


BUNDLE_CASES: list[tuple[str, Mutator]] = [
    ("type transaction", set_at(["type"], "transaction")),
    ("no entries", delete_at(["entry"])),
    ("entry without resource", set_at(["entry", 1], {"fullUrl": "urn:uuid:x"})),
    ("entry not an object", set_at(["entry", 1], "x")),
    ("fullUrl not a string", set_at(["entry", 1, "fullUrl"], 3)),
    ("two requests", lambda b: b["entry"].append(copy.deepcopy(b["entry"][0]))),
    ("patient unresolved", set_at(["entry", 0, "resource", "patient", "reference"], "Patient/p9")),
    ("coverage missing", lambda b: b["entry"].pop(2)),
    ("organization missing", lambda b: b["entry"].pop(3)),
    (
        "organization without AMC id",
        set_at(["entry", 3, "resource", "identifier", 1, "system"], "http://x"),
    ),
    ("organization bad AMC", set_at(["entry", 3, "resource", "identifier", 1, "value"], "1")),
]


@pytest.mark.parametrize("mutate", [c[1] for c in BUNDLE_CASES], ids=[c[0] for c in BUNDLE_CASES])
def test_malformed_bundle_is_refused_safely(mutate: Mutator) -> None:
    body = bundle()
    mutate(body)
    with pytest.raises(FhirInputError) as caught:
        parse_request(body)
    assert_safe(caught.value)


@pytest.mark.parametrize(
    "body",
    [None, [], "CoverageEligibilityRequest", 3, {}, {"resourceType": "Patient", "id": NIR}],
    ids=["null", "list", "string", "number", "no type", "wrong type"],
)
def test_not_a_request_is_refused(body: object) -> None:
    with pytest.raises(FhirInputError) as caught:
        parse_request(body)
    assert_safe(caught.value)


def test_twin_without_rank_asks_for_the_rank() -> None:
    body = contained()
    del body["contained"][0]["multipleBirthInteger"]
    body["contained"][0]["multipleBirthBoolean"] = True
    with pytest.raises(FhirInputError, match="rang de naissance") as caught:
        parse_request(body)
    assert caught.value.expression == ["Patient.multipleBirthBoolean"]


def test_missing_element_is_reported_as_required() -> None:
    body = contained()
    del body["item"][0]["unitPrice"]
    with pytest.raises(FhirInputError, match="absent") as caught:
        parse_request(body)
    assert caught.value.code == "required"
    assert caught.value.to_operation_outcome()["issue"][0]["code"] == "required"


def test_validation_error_does_not_chain_the_pydantic_error() -> None:
    body = contained()
    set_at([*PAT, "identifier", 1, "value"], BAD_KEY_NIR)(body)
    with pytest.raises(FhirInputError) as caught:
        parse_request(body)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert "NIR" in caught.value.message_fr


def test_several_validation_errors_are_all_named() -> None:
    body = contained()
    set_at([*COV, "payor", 0, "identifier", "value"], "12")(body)
    set_at(["item", 1, "unitPrice", "value"], -3)(body)
    with pytest.raises(FhirInputError) as caught:
        parse_request(body)
    assert "Coverage.payor[0].identifier.value" in caught.value.expression
    assert "CoverageEligibilityRequest.item[1].unitPrice.value" in caught.value.expression


# --- Responses ------------------------------------------------------------------------------------


def eligible_answer(agreement: str | None = "AGR-2024-000123") -> EligibilityAnswer:
    return EligibilityAnswer(
        eligible=True,
        agreement=agreement,
        lines=[
            LineOut(
                category=Category.consultation_gp,
                billed="30.00",
                amo="19.00",
                amc="9.00",
                patient="2.00",
                covered=True,
                reason="pct_br",
            ),
            LineOut(
                category=Category.optics_b,
                billed="450.00",
                amo="0.05",
                amc="0",
                patient="449.95",
                covered=False,
                reason="not_in_plan",
            ),
        ],
    )


def benefit(item: JsonObject, code: str) -> Decimal:
    for entry in item["benefit"]:
        codes = {(c["system"], c["code"]) for c in entry["type"]["coding"]}
        if (BENEFIT_SHARE_SYSTEM, code) in codes:
            assert entry["allowedMoney"]["currency"] == "EUR"
            value = entry["allowedMoney"]["value"]
            assert isinstance(value, Decimal)
            return value
    raise AssertionError(code)


def test_eligible_answer_is_a_valid_response() -> None:
    resource = answer_to_fhir(
        eligible_answer(), request=expected(), request_id="req-1", created=CREATED
    )
    CoverageEligibilityResponse.model_validate(resource)
    assert resource["status"] == "active"
    assert resource["purpose"] == ["validation", "benefits"]
    assert resource["outcome"] == "complete"
    assert resource["created"] == "2024-03-02T09:30:00Z"
    assert resource["servicedDate"] == CARE_DATE
    assert resource["preAuthRef"] == "AGR-2024-000123"
    assert resource["insurer"]["identifier"] == {"system": AMC_SYSTEM, "value": AMC}
    assert resource["request"]["identifier"]["value"] == "req-1"
    assert set(resource["patient"]) == {"display"}
    insurance = resource["insurance"][0]
    assert insurance["inforce"] is True
    first, second = insurance["item"]
    assert first["category"]["coding"] == [
        {"system": CARE_CATEGORY_SYSTEM, "code": "consultation_gp"}
    ]
    assert first["excluded"] is False and second["excluded"] is True
    assert first["extension"] == [{"url": EXT_LINE_REASON, "valueCode": "pct_br"}]
    amc_types = first["benefit"][0]["type"]["coding"]
    assert {"system": HL7_BENEFIT_TYPE_SYSTEM, "code": "benefit", "display": "Benefit"} in amc_types
    assert (benefit(first, "amc"), benefit(first, "amo"), benefit(first, "patient")) == (
        Decimal("9.00"),
        Decimal("19.00"),
        Decimal("2.00"),
    )
    assert benefit(second, "amc") == Decimal("0.00")


def test_amounts_have_two_decimal_places_on_the_wire() -> None:
    resource = answer_to_fhir(
        eligible_answer(), request=expected(), request_id=None, created=CREATED
    )
    wire = dumps(resource)
    assert b'"value":9.00,' in wire
    assert b'"value":0.00,' in wire
    assert b'"value":449.95,' in wire
    assert json.loads(wire, parse_float=Decimal) == resource
    items = resource["insurance"][0]["item"]
    for item in items:
        for entry in item["benefit"]:
            assert entry["allowedMoney"]["value"].as_tuple().exponent == -2


def test_estimate_has_no_agreement() -> None:
    resource = answer_to_fhir(
        eligible_answer(None), request=expected(), request_id=None, created=CREATED
    )
    CoverageEligibilityResponse.model_validate(resource)
    assert "preAuthRef" not in resource
    assert "identifier" not in resource["request"]


def test_response_echoes_nothing_personal() -> None:
    for answer in (eligible_answer(), NOT_ELIGIBLE):
        wire = dumps(answer_to_fhir(answer, request=expected(), request_id="r", created=CREATED))
        for secret in (NIR, NIR[:13], MEMBER, BIRTH_DATE):
            assert secret.encode() not in wire


def other_request() -> EligibilityRequest:
    data = copy.deepcopy(JSON_REQUEST)
    data["card"] = {"amc": "987654321", "member": "Z9"}
    data["patient"] = {"nir": with_key("1850199999999"), "birth_date": "1985-01-01"}
    data["date"] = "2023-12-31"
    data["mode"] = "agree"
    return EligibilityRequest.model_validate(data)


def test_not_eligible_is_constant_whatever_the_request() -> None:
    stray = EligibilityAnswer(eligible=False, agreement="X", lines=eligible_answer().lines)
    wires = {
        dumps(answer_to_fhir(answer, request=request, request_id="req-9", created=CREATED))
        for answer in (NOT_ELIGIBLE, stray)
        for request in (expected(), other_request())
    }
    assert len(wires) == 1
    resource = answer_to_fhir(NOT_ELIGIBLE, request=expected(), request_id="req-9", created=CREATED)
    CoverageEligibilityResponse.model_validate(resource)
    assert resource["insurance"] == [
        {"coverage": {"display": "Couverture de la demande"}, "inforce": False}
    ]
    assert set(resource["insurer"]) == {"display"}
    wire = wires.pop()
    for forbidden in (AMC, "987654321", CARE_DATE, "2023-12-31", "preAuthRef", "servicedDate"):
        assert forbidden.encode() not in wire


def test_created_is_written_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    aware = answer_to_fhir(
        NOT_ELIGIBLE,
        request=expected(),
        request_id=None,
        created=datetime(2024, 3, 1, 10, 30, tzinfo=paris),
    )
    naive = answer_to_fhir(
        NOT_ELIGIBLE, request=expected(), request_id=None, created=datetime(2024, 3, 1, 9, 30)
    )
    assert aware["created"] == naive["created"] == "2024-03-01T09:30:00Z"


# --- OperationOutcome -----------------------------------------------------------------------------


def test_operation_outcome_is_valid() -> None:
    resource = operation_outcome(
        "Élément obligatoire absent : Patient.birthDate.", expression=["Patient.birthDate"]
    )
    parsed = OperationOutcome.model_validate(resource)
    issue = parsed.issue[0]
    assert (issue.severity, issue.code) == ("error", "invalid")
    assert issue.details is not None and (issue.details.text or "").startswith("Élément")
    assert issue.expression == ["Patient.birthDate"]
    assert "Élément".encode() in dumps(resource)


def test_operation_outcome_without_expression_and_with_code() -> None:
    resource = operation_outcome("accès refusé", code="forbidden")
    OperationOutcome.model_validate(resource)
    assert "expression" not in resource["issue"][0]
    assert resource["issue"][0]["code"] == "forbidden"


def test_operation_outcome_rejects_unknown_issue_type() -> None:
    with pytest.raises(ValueError, match="IssueType"):
        operation_outcome("x", code="bogus")


def test_fhir_input_error_accepts_a_message_alone() -> None:
    error = FhirInputError("corps JSON mal formé")
    assert error.expression == [] and error.code == "invalid"
    assert "expression" not in error.to_operation_outcome()["issue"][0]
