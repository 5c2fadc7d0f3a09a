"""An EligibilityAnswer written as a CoverageEligibilityResponse."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from vigie.api.fhir_mapping.common import (
    AMC_SYSTEM,
    BENEFIT_SHARE_SYSTEM,
    CARE_CATEGORY_SYSTEM,
    CENT,
    CER,
    EXT_LINE_REASON,
    HL7_BENEFIT_TYPE_SYSTEM,
    REQUEST_ID_SYSTEM,
    JsonObject,
)
from vigie.eligibility.schemas import EligibilityAnswer, EligibilityRequest, LineOut

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
    # Card-less: the caller did not send the AMC number, so the answer does not name it.
    insurer: JsonObject = (
        dict(_NEGATIVE_INSURER)
        if request.card is None
        else {
            "identifier": {"system": AMC_SYSTEM, "value": request.card.amc},
            "display": "Organisme complémentaire (AMC)",
        }
    )
    body: JsonObject = {
        "disposition": _DISPOSITION_AGREED if answer.agreement else _DISPOSITION_ESTIMATE,
        "insurer": insurer,
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


def dumps(resource: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; a Decimal is written as a JSON number with its digits ("12.30")."""
    return orjson.dumps(resource, default=_decimal_fragment)


def _decimal_fragment(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"not serializable as FHIR JSON: {type(value).__name__}")
