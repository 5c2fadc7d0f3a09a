"""The FHIR R4 eligibility routes, end to end on both stores, checked against the JSON API."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import httpx2
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.factories import (
    ALICE,
    BOB,
    CAROL,
    GP_LINE,
    TWIN_1,
    TWIN_2,
    Person,
    make_nir,
    request,
)
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
    REQUEST_ID_SYSTEM,
)

JsonObject = dict[str, Any]
Form = Literal["contained", "collection", "batch"]

FHIR_JSON = "application/fhir+json"
PATHS = ("/fhir/CoverageEligibilityRequest", "/fhir/CoverageEligibilityRequest/$submit")
CER_PATH = PATHS[0]
AGREEMENT_RE = re.compile(r"^A\d{6}-[0-9A-Z]{12}$")
DAY = "2026-03-02"


# --- Building FHIR requests from the factories' people ------------------------------------------


def _money(amount: str) -> JsonObject:
    # FHIR amounts are JSON numbers; a float keeps these decimal strings exactly (repr round-trip).
    return {"value": float(amount), "currency": "EUR"}


def fhir_item(line: JsonObject) -> JsonObject:
    """One ``CoverageEligibilityRequest.item`` for one JSON API line (see fhir_mapping)."""
    extensions: list[JsonObject] = [
        {"url": EXT_BR, "valueMoney": _money(line["br"])},
        {"url": EXT_AMO_RATE, "valueDecimal": float(line["amo_rate"])},
    ]
    if "amo_deduction" in line:
        extensions.append({"url": EXT_AMO_DEDUCTION, "valueMoney": _money(line["amo_deduction"])})
    if "lens_class" in line:
        extensions.append({"url": EXT_LENS_CLASS, "valueCode": line["lens_class"]})
    if "prescription_changed" in line:
        extensions.append(
            {"url": EXT_PRESCRIPTION_CHANGED, "valueBoolean": line["prescription_changed"]}
        )
    return {
        "extension": extensions,
        "category": {"coding": [{"system": CARE_CATEGORY_SYSTEM, "code": line["category"]}]},
        "unitPrice": _money(line["billed"]),
        "quantity": {"value": 1},
    }


def fhir_request(
    person: Person,
    *,
    day: str = DAY,
    mode: str | None = "estimate",
    lines: list[JsonObject] | None = None,
    form: Form = "contained",
) -> JsonObject:
    """The FHIR twin of ``tests.factories.request(person, day=, mode=, lines=)``.

    ``mode=None`` leaves the mode extension out. ``contained``: Patient and Coverage inside the
    request; ``collection``/``batch``: a Bundle whose Coverage's payor is an Organization entry.
    """
    patient: JsonObject = {
        "resourceType": "Patient",
        "id": "pat",
        "identifier": [{"system": NIR_SYSTEM, "value": person.nir}],
        "birthDate": person.birth_date.isoformat(),
        "multipleBirthInteger": person.birth_rank,
    }
    coverage: JsonObject = {
        "resourceType": "Coverage",
        "id": "cov",
        "status": "active",
        "subscriberId": person.member,
        "beneficiary": {"reference": "#pat" if form == "contained" else "Patient/pat"},
        "payor": [{"identifier": {"system": AMC_SYSTEM, "value": person.amc}}],
    }
    cer: JsonObject = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["validation", "benefits"],
        "created": f"{day}T09:00:00+01:00",
        "servicedDate": day,
        "insurer": {"display": "AMC"},
        "item": [fhir_item(line) for line in lines or [GP_LINE]],
    }
    if mode is not None:
        cer["extension"] = [{"url": EXT_MODE, "valueCode": mode}]
    if form == "contained":
        cer["patient"] = {"reference": "#pat"}
        cer["insurance"] = [{"coverage": {"reference": "#cov"}}]
        cer["contained"] = [patient, coverage]
        return cer
    organization = {
        "resourceType": "Organization",
        "id": "amc",
        "identifier": [{"system": AMC_SYSTEM, "value": person.amc}],
    }
    coverage["payor"] = [{"reference": "Organization/amc"}]
    cer["patient"] = {"reference": "urn:uuid:5a1c7f0e-0000-4000-8000-000000000002"}
    cer["insurance"] = [{"coverage": {"reference": "Coverage/cov"}}]
    resources = [
        ("urn:uuid:5a1c7f0e-0000-4000-8000-000000000001", cer),
        ("urn:uuid:5a1c7f0e-0000-4000-8000-000000000002", patient),
        ("https://pro.example/fhir/Coverage/cov", coverage),
        ("https://pro.example/fhir/Organization/amc", organization),
    ]
    entries = []
    for full_url, resource in resources:
        entry: JsonObject = {"fullUrl": full_url, "resource": resource}
        if form == "batch":
            entry["request"] = {"method": "POST", "url": resource["resourceType"]}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": form, "entry": entries}


def post_fhir(
    client: TestClient,
    headers: dict[str, str],
    body: object,
    *,
    path: str = CER_PATH,
    content_type: str | None = FHIR_JSON,
) -> httpx2.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = dict(headers)
    if content_type is not None:
        sent["content-type"] = content_type
    return client.post(path, content=content, headers=sent)


def post_json(client: TestClient, auth: dict[str, str], body: JsonObject) -> JsonObject:
    response = client.post("/v1/eligibility", json=body, headers=auth)
    assert response.status_code == 200, response.text
    answer: JsonObject = response.json()
    return answer


def fhir_response(response: httpx2.Response) -> JsonObject:
    """The validated CoverageEligibilityResponse (amounts as Decimal, exactly as written)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    resource: JsonObject = json.loads(response.content, parse_float=Decimal)
    CoverageEligibilityResponse.model_validate(response.json())
    assert resource["resourceType"] == "CoverageEligibilityResponse"
    # The request id is the one the envelope gave this HTTP exchange.
    assert resource["request"]["identifier"] == {
        "system": REQUEST_ID_SYSTEM,
        "value": response.headers["x-request-id"],
    }
    return resource


def outcome(response: httpx2.Response, status: int = 400) -> JsonObject:
    """The validated OperationOutcome of a refused request."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    resource: JsonObject = response.json()
    OperationOutcome.model_validate(resource)
    assert resource["resourceType"] == "OperationOutcome"
    assert resource["issue"] and all(i["severity"] == "error" for i in resource["issue"])
    assert all(i["details"]["text"] for i in resource["issue"])
    return resource


def as_json_answer(resource: JsonObject) -> JsonObject:
    """The JSON API answer a CoverageEligibilityResponse stands for."""
    insurance = resource["insurance"]
    assert len(insurance) == 1
    lines = []
    for item in insurance[0].get("item", []):
        shares: dict[str, str] = {}
        for benefit in item["benefit"]:
            codings = {(c["system"], c["code"]) for c in benefit["type"]["coding"]}
            (share,) = [code for system, code in codings if system == BENEFIT_SHARE_SYSTEM]
            # The AMC share is also the HL7 "benefit": what the insurer pays.
            assert ((HL7_BENEFIT_TYPE_SYSTEM, "benefit") in codings) == (share == "amc")
            money = benefit["allowedMoney"]
            assert money["currency"] == "EUR" and isinstance(money["value"], Decimal)
            shares[share] = str(money["value"])
        (reason,) = [e["valueCode"] for e in item["extension"] if e["url"] == EXT_LINE_REASON]
        (category,) = item["category"]["coding"]
        assert category["system"] == CARE_CATEGORY_SYSTEM
        lines.append(
            {
                "category": category["code"],
                # Not in the FHIR answer: the three shares add up to it.
                "billed": str(sum(Decimal(shares[k]) for k in ("amo", "amc", "patient"))),
                "amo": shares["amo"],
                "amc": shares["amc"],
                "patient": shares["patient"],
                "covered": not item["excluded"],
                "reason": reason,
            }
        )
    return {
        "eligible": insurance[0]["inforce"],
        "agreement": resource.get("preAuthRef"),
        "lines": lines,
    }


def same_decision(fhir: JsonObject, answer: JsonObject, case: str) -> None:
    assert as_json_answer(fhir) == answer, case


# --- The same decision and amounts as the JSON API ----------------------------------------------

OPTICS_B = {
    "category": "optics_b",
    "billed": "600.00",
    "br": "0.09",
    "amo_rate": "0.60",
    "lens_class": "simple",
}
LINE_SETS: dict[str, tuple[Person, list[JsonObject]]] = {
    "gp": (ALICE, [GP_LINE]),
    "mixed": (
        BOB,
        [
            GP_LINE,
            {
                "category": "consultation_specialist",
                "billed": "80.00",
                "br": "30.00",
                "amo_rate": "0.70",
                "amo_deduction": "2.00",
            },
            {"category": "pharmacy_65", "billed": "12.35", "br": "12.35", "amo_rate": "0.65"},
            {"category": "physiotherapy", "billed": "25.00", "br": "16.13", "amo_rate": "0.60"},
        ],
    ),
    "optics_b": (ALICE, [OPTICS_B]),
    "optics_b_very_complex": (
        BOB,
        [dict(OPTICS_B, billed="950.00", lens_class="very_complex", prescription_changed=True)],
    ),
    "optics_a_child": (
        TWIN_2,
        [{"category": "optics_a", "billed": "95.00", "br": "9.00", "amo_rate": "0.60"}],
    ),
    "audio_2": (
        TWIN_1,
        [{"category": "audio_2", "billed": "1950.00", "br": "400.00", "amo_rate": "0.60"}] * 2,
    ),
    "dental_year": (
        ALICE,
        [{"category": "dental_moderate", "billed": "500.00", "br": "107.50", "amo_rate": "0.70"}],
    ),
    "not_responsable": (
        CAROL,
        [
            {"category": "consultation_gp", "billed": "50.00", "br": "30.00", "amo_rate": "0.70"},
            {"category": "optics_a", "billed": "95.00", "br": "9.00", "amo_rate": "0.60"},
        ],
    ),
}


def test_same_decision_and_amounts_as_the_json_api(
    client: TestClient, auth: dict[str, str]
) -> None:
    for case, (person, lines) in LINE_SETS.items():
        answer = post_json(client, auth, request(person, lines=lines))
        resource = fhir_response(post_fhir(client, auth, fhir_request(person, lines=lines)))
        assert answer["eligible"] is True and len(answer["lines"]) == len(lines), case
        same_decision(resource, answer, case)
        assert resource["servicedDate"] == DAY, case
        assert resource["insurer"]["identifier"] == {"system": AMC_SYSTEM, "value": person.amc}
        assert "preAuthRef" not in resource, case


@pytest.mark.parametrize("form", ["contained", "collection", "batch"])
def test_every_form_and_path_gives_the_json_answer(
    client: TestClient, auth: dict[str, str], form: Form
) -> None:
    lines = [GP_LINE, OPTICS_B]
    answer = post_json(client, auth, request(BOB, lines=lines))
    # The brief's worked example: BR 30 × 70 % = 21, AMO 21 − 2 = 19; 200 % BR caps the AMC at
    # what is left above the AMO (9); the patient keeps the 2 € participation forfaitaire.
    assert answer["lines"][0] == {
        "category": "consultation_gp",
        "billed": "30.00",
        "amo": "19.00",
        "amc": "9.00",
        "patient": "2.00",
        "covered": True,
        "reason": "pct_br",
    }
    for path in PATHS:
        response = post_fhir(client, auth, fhir_request(BOB, lines=lines, form=form), path=path)
        same_decision(fhir_response(response), answer, path)


def test_eligible_answer_echoes_nothing_personal(client: TestClient, auth: dict[str, str]) -> None:
    response = post_fhir(client, auth, fhir_request(ALICE, form="collection"))
    fhir_response(response)
    for secret in (
        ALICE.nir,
        ALICE.nir[:13],
        ALICE.member,
        ALICE.birth_date.isoformat(),
        ALICE.last_name,
        ALICE.first_name,
        ALICE.postcode,
    ):
        assert secret not in response.text


# --- Content types ------------------------------------------------------------------------------


ACCEPTED = (
    FHIR_JSON,
    "application/json",
    "application/fhir+json; charset=utf-8",
    "Application/JSON",
)
REFUSED = (
    "text/plain",
    "application/xml",
    "application/fhir+xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    None,
)


def test_fhir_and_plain_json_are_accepted(client: TestClient, auth: dict[str, str]) -> None:
    for content_type in ACCEPTED:
        response = post_fhir(client, auth, fhir_request(ALICE), content_type=content_type)
        assert as_json_answer(fhir_response(response))["eligible"] is True, content_type


def test_other_content_types_are_refused(client: TestClient, auth: dict[str, str]) -> None:
    for content_type in REFUSED:
        response = post_fhir(client, auth, fhir_request(ALICE), content_type=content_type)
        # 415 is the HTTP status for it; the route answers 400 today. Either way, no answer.
        assert response.status_code in (400, 415), content_type
        issue = outcome(response, response.status_code)["issue"][0]
        assert "application/fhir+json" in issue["details"]["text"]
        assert ALICE.nir not in response.text


# --- Not eligible: one answer whatever was wrong ------------------------------------------------


def _not_eligible_variants() -> list[tuple[str, JsonObject]]:
    base = fhir_request(BOB)
    cases: list[tuple[str, JsonObject]] = []

    def variant(name: str, change: Callable[[JsonObject], None]) -> None:
        body = copy.deepcopy(base)
        change(body)
        cases.append((name, body))

    patient = 0
    coverage = 1

    def set_amc(b: JsonObject) -> None:
        b["contained"][coverage]["payor"][0]["identifier"]["value"] = "111111111"

    def set_member(b: JsonObject) -> None:
        b["contained"][coverage]["subscriberId"] = "M0002"

    def set_nir(b: JsonObject) -> None:
        b["contained"][patient]["identifier"][0]["value"] = ALICE.nir

    def set_unknown_nir(b: JsonObject) -> None:
        b["contained"][patient]["identifier"][0]["value"] = make_nir(1, 1983, 9, order=999)

    def set_birth_date(b: JsonObject) -> None:
        b["contained"][patient]["birthDate"] = "1983-09-04"

    def set_rank(b: JsonObject) -> None:
        b["contained"][patient]["multipleBirthInteger"] = 2

    def set_day(b: JsonObject) -> None:
        b["servicedDate"] = "2023-12-31"

    for name, change in [
        ("amc", set_amc),
        ("member", set_member),
        ("nir", set_nir),
        ("unknown_nir", set_unknown_nir),
        ("birth_date", set_birth_date),
        ("birth_rank", set_rank),
        ("date_before_start", set_day),
    ]:
        variant(name, change)
    cases.append(("right_closed", fhir_request(CAROL, day="2031-01-01")))
    cases.append(("agree_not_eligible", fhir_request(CAROL, day="2031-01-01", mode="agree")))
    cases.append(("bundle", fhir_request(BOB, day="2023-12-31", form="batch")))
    return cases


def _without_request_specifics(response: httpx2.Response) -> bytes:
    """The body with this request's id and creation time cut out, the rest byte for byte."""
    resource = fhir_response(response)
    created = resource["created"]
    datetime.fromisoformat(created.replace("Z", "+00:00"))
    request_id = response.headers["x-request-id"]
    assert response.content.count(request_id.encode()) == 1
    assert response.content.count(created.encode()) == 1
    return response.content.replace(request_id.encode(), b"ID").replace(created.encode(), b"T")


def test_every_negative_answer_is_identical(client: TestClient, auth: dict[str, str]) -> None:
    bodies = set()
    for name, body in _not_eligible_variants():
        response = post_fhir(client, auth, body)
        resource = fhir_response(response)
        assert as_json_answer(resource) == {"eligible": False, "agreement": None, "lines": []}, name
        bodies.add(_without_request_specifics(response))
    submitted = post_fhir(client, auth, fhir_request(BOB, day="2023-12-31"), path=PATHS[1])
    bodies.add(_without_request_specifics(submitted))
    assert len(bodies) == 1
    (negative,) = bodies
    for secret in (BOB.nir, BOB.member, BOB.amc, BOB.birth_date.isoformat(), "2023-12-31"):
        assert secret.encode() not in negative
    resource = json.loads(negative)
    assert "preAuthRef" not in resource and "servicedDate" not in resource
    assert resource["insurance"][0]["inforce"] is False
    assert set(resource["insurer"]) == {"display"}


def test_json_and_fhir_agree_on_negatives(client: TestClient, auth: dict[str, str]) -> None:
    body = request(BOB)
    body["patient"]["birth_rank"] = 2
    assert post_json(client, auth, body) == {"eligible": False, "agreement": None, "lines": []}
    variant = fhir_request(BOB)
    variant["contained"][0]["multipleBirthInteger"] = 2
    assert as_json_answer(fhir_response(post_fhir(client, auth, variant)))["eligible"] is False


# --- Agree mode -----------------------------------------------------------------------------------

DENTAL = {"category": "dental_moderate", "billed": "500.00", "br": "107.50", "amo_rate": "0.70"}


@pytest.mark.parametrize("mode", ["agree", None])
def test_agree_grants_pre_auth_ref(
    client: TestClient, auth: dict[str, str], mode: str | None
) -> None:
    body = fhir_request(ALICE, mode=mode, lines=[DENTAL], form="batch")
    resource = fhir_response(post_fhir(client, auth, body))
    agreement = resource["preAuthRef"]
    assert AGREEMENT_RE.match(agreement)
    assert "accord" in resource["disposition"]
    assert as_json_answer(resource)["lines"][0]["amc"] == "300.00"
    # The agreement consumed the year's budget: both front ends now see it used up.
    estimate = request(ALICE, lines=[DENTAL])
    assert post_json(client, auth, estimate)["lines"][0]["amc"] == "0.00"
    again = fhir_response(post_fhir(client, auth, fhir_request(ALICE, lines=[DENTAL])))
    assert as_json_answer(again)["lines"][0]["amc"] == "0.00"
    # It is a real agreement of this caller: the JSON API cancels it and gives the budget back.
    cancelled = client.delete(f"/v1/agreements/{agreement}", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
    assert post_json(client, auth, estimate)["lines"][0]["amc"] == "300.00"


def test_estimate_grants_nothing(client: TestClient, auth: dict[str, str]) -> None:
    for _ in range(2):
        body = fhir_request(ALICE, mode="estimate", lines=[DENTAL])
        resource = fhir_response(post_fhir(client, auth, body))
        assert "preAuthRef" not in resource
        assert as_json_answer(resource)["lines"][0]["amc"] == "300.00"
        assert "estimation" in resource["disposition"]


# --- Malformed bodies ---------------------------------------------------------------------------

BAD_KEY_NIR = ALICE.nir[:13] + f"{(int(ALICE.nir[13:]) + 1) % 100:02d}"
SECRETS = (ALICE.nir, ALICE.nir[:13], BAD_KEY_NIR, ALICE.member, ALICE.birth_date.isoformat())


def _patient(body: JsonObject) -> JsonObject:
    patient: JsonObject = body["contained"][0]
    return patient


def _ext(body: JsonObject, url: str) -> JsonObject:
    found: JsonObject = next(e for e in body["item"][0]["extension"] if e["url"] == url)
    return found


Mutation = Callable[[JsonObject], object]
PATIENT_REF = "CoverageEligibilityRequest.patient.reference"
RANK = ("contained", 0, "multipleBirthInteger")
NIR_VALUE = ("contained", 0, "identifier", 0, "value")
BIRTH_DATE = ("contained", 0, "birthDate")
AMC_VALUE = ("contained", 1, "payor", 0, "identifier", "value")


def _set(path: tuple[str | int, ...], value: object) -> Mutation:
    def change(body: JsonObject) -> object:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return body

    return change


def _delete(path: tuple[str | int, ...]) -> Mutation:
    def change(body: JsonObject) -> object:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return body

    return change


def _both_nirs(body: JsonObject) -> object:
    _patient(body)["identifier"].append({"system": NIR_SYSTEM, "value": ALICE.nir})
    return body


def _nir_in_other_system(body: JsonObject) -> object:
    _patient(body)["identifier"][0]["system"] = "urn:oid:1.2.250.1.213.1.4.10"
    return body


def _twins_without_rank(body: JsonObject) -> object:
    del _patient(body)["multipleBirthInteger"]
    _patient(body)["multipleBirthBoolean"] = True
    return body


def _period_not_date(body: JsonObject) -> object:
    day = body.pop("servicedDate")
    body["servicedPeriod"] = {"start": day, "end": day}
    return body


def _ext_value(url: str, key: str, value: object) -> Mutation:
    def change(body: JsonObject) -> object:
        _ext(body, url)[key] = value
        return body

    return change


def _optics_without_lens(body: JsonObject) -> object:
    body["item"] = [fhir_item({k: v for k, v in OPTICS_B.items() if k != "lens_class"})]
    return body


def _modifier(body: JsonObject) -> object:
    _patient(body)["modifierExtension"] = [{"url": "https://x.example/m", "valueBoolean": True}]
    return body


def _two_insurances(body: JsonObject) -> object:
    body["insurance"].append(body["insurance"][0])
    return body


def _wrap(value: object) -> Mutation:
    return lambda _body: value


ITEM = "CoverageEligibilityRequest.item[0]"


def _item_ext(url: str, value_key: str | None = None) -> str:
    expr = f"{ITEM}.extension('{url}')"
    return f"{expr}.{value_key}" if value_key else expr


# Each malformed body, and the FHIRPath expression its OperationOutcome must name (None: the body
# is not a JSON object at all, so there is no element to name).
MALFORMED: dict[str, tuple[Mutation, str | None]] = {
    "not_json": (_wrap(b"{not json"), None),
    "empty": (_wrap(b""), None),
    "nan": (_wrap(b'{"resourceType": "CoverageEligibilityRequest", "x": NaN}'), None),
    "array": (lambda body: [body], None),
    "string": (_wrap("CoverageEligibilityRequest"), None),
    "wrong_resource_type": (_patient, "resourceType"),
    "no_resource_type": (_delete(("resourceType",)), "resourceType"),
    "transaction_bundle": (
        lambda b: {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": b}]},
        "Bundle.type",
    ),
    "bundle_without_request": (_wrap({"resourceType": "Bundle", "type": "batch"}), "Bundle.entry"),
    "missing_nir": (_nir_in_other_system, "Patient.identifier"),
    "no_identifier": (_delete(("contained", 0, "identifier")), "Patient.identifier"),
    "bad_nir_key": (_set(NIR_VALUE, BAD_KEY_NIR), "Patient.identifier[0].value"),
    "short_nir": (_set(NIR_VALUE, ALICE.nir[:13]), "Patient.identifier[0].value"),
    "nir_as_number": (_set(NIR_VALUE, int(ALICE.nir)), "Patient.identifier[0].value"),
    "two_nirs": (_both_nirs, "Patient.identifier"),
    "partial_birth_date": (_set(BIRTH_DATE, ALICE.birth_date.isoformat()[:7]), "Patient.birthDate"),
    "impossible_birth_date": (_set(BIRTH_DATE, "1985-02-30"), "Patient.birthDate"),
    "twins_without_rank": (_twins_without_rank, "Patient.multipleBirthBoolean"),
    "rank_zero": (_set(RANK, 0), "Patient.multipleBirthInteger"),
    "serviced_period": (_period_not_date, "CoverageEligibilityRequest.servicedDate"),
    "dangling_patient": (_set(("patient", "reference"), "#nobody"), PATIENT_REF),
    "patient_is_coverage": (_set(("patient", "reference"), "#cov"), PATIENT_REF),
    "two_insurances": (_two_insurances, "CoverageEligibilityRequest.insurance"),
    "bad_amc": (_set(AMC_VALUE, "12345678"), "Coverage.payor[0].identifier.value"),
    "no_member": (_delete(("contained", 1, "subscriberId")), "Coverage.subscriberId"),
    "no_items": (_set(("item",), []), "CoverageEligibilityRequest.item"),
    "unknown_category": (
        _set(("item", 0, "category", "coding", 0, "code"), "massage"),
        f"{ITEM}.category.coding[0].code",
    ),
    "price_as_string": (
        _set(("item", 0, "unitPrice", "value"), "30.00"),
        f"{ITEM}.unitPrice.value",
    ),
    "dollars": (_set(("item", 0, "unitPrice", "currency"), "USD"), f"{ITEM}.unitPrice.currency"),
    "three_decimals": (_set(("item", 0, "unitPrice", "value"), 30.001), f"{ITEM}.unitPrice.value"),
    "quantity_two": (_set(("item", 0, "quantity", "value"), 2), f"{ITEM}.quantity.value"),
    "rate_above_one": (
        _ext_value(EXT_AMO_RATE, "valueDecimal", 1.5),
        _item_ext(EXT_AMO_RATE, "valueDecimal"),
    ),
    "br_above_billed": (_ext_value(EXT_BR, "valueMoney", {"value": 40.0}), ITEM),
    "no_br": (_delete(("item", 0, "extension", 0)), _item_ext(EXT_BR)),
    "optics_without_lens": (_optics_without_lens, ITEM),
    "mode_steal": (
        _set(("extension", 0, "valueCode"), "steal"),
        f"CoverageEligibilityRequest.extension('{EXT_MODE}').valueCode",
    ),
    "modifier_extension": (_modifier, "Patient.modifierExtension"),
}


def test_malformed_bodies_get_an_operation_outcome_without_the_nir(
    client: TestClient, auth: dict[str, str]
) -> None:
    wrong: dict[str, object] = {}
    for i, (case, (mutate, expression)) in enumerate(MALFORMED.items()):
        path = PATHS[i % 2]
        response = post_fhir(client, auth, mutate(fhir_request(ALICE)), path=path)
        try:
            issue = outcome(response)["issue"][0]
            assert expression is None or issue.get("expression") == [expression], issue
            for secret in SECRETS:
                assert secret not in response.text
        except AssertionError as exc:
            wrong[case] = exc
    assert not wrong


def test_malformed_bundle_is_refused_on_submit_too(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = fhir_request(ALICE, form="collection")
    body["entry"][1]["resource"]["identifier"][0]["value"] = BAD_KEY_NIR
    response = post_fhir(client, auth, body, path=PATHS[1])
    assert outcome(response)["issue"][0]["expression"] == ["Patient.identifier[0].value"]
    for secret in SECRETS:
        assert secret not in response.text


# --- Authentication -------------------------------------------------------------------------------


UNAUTHENTICATED: tuple[dict[str, str], ...] = (
    {},
    {"Authorization": "Bearer vg_unknown"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer"},
)


def test_unauthenticated_gets_401_operation_outcome(client: TestClient) -> None:
    for path in PATHS:
        for headers in UNAUTHENTICATED:
            for body in (fhir_request(ALICE), b"{not json"):
                response = post_fhir(client, headers, body, path=path)
                issue = outcome(response, 401)["issue"][0]
                assert issue["code"] == "login"
                assert response.headers["www-authenticate"] == "Bearer"
                assert ALICE.nir not in response.text
