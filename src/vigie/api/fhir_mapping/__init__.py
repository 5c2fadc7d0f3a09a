"""FHIR R4 front end of eligibility: a CoverageEligibilityRequest in, a
CoverageEligibilityResponse or an OperationOutcome out. Pure translation: no I/O, no database,
no web framework. Modules: ``common`` (systems, errors, typed JSON access), ``envelope``
(contained or bundled resources), ``request``, ``response``.

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

from vigie.api.fhir_mapping.common import (
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
    EXTENSION_BASE,
    HL7_BENEFIT_TYPE_SYSTEM,
    NIR_SYSTEM,
    REQUEST_ID_SYSTEM,
    VIGIE_FHIR,
    FhirInputError,
    operation_outcome,
)
from vigie.api.fhir_mapping.request import (
    parse_request,
)
from vigie.api.fhir_mapping.response import (
    answer_to_fhir,
    dumps,
)

__all__ = [
    "AMC_SYSTEM",
    "BENEFIT_SHARE_SYSTEM",
    "CARE_CATEGORY_SYSTEM",
    "EXTENSION_BASE",
    "EXT_AMO_DEDUCTION",
    "EXT_AMO_RATE",
    "EXT_BR",
    "EXT_LENS_CLASS",
    "EXT_LINE_REASON",
    "EXT_MODE",
    "EXT_PRESCRIPTION_CHANGED",
    "HL7_BENEFIT_TYPE_SYSTEM",
    "NIR_SYSTEM",
    "REQUEST_ID_SYSTEM",
    "VIGIE_FHIR",
    "FhirInputError",
    "answer_to_fhir",
    "dumps",
    "operation_outcome",
    "parse_request",
]
