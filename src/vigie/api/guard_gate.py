"""The guard at the API's door: one gate per eligibility request, JSON or FHIR.

Invariant: ``admit`` runs before the store call and ``observe`` after it, before the answer is
sent; a refusal never says anything about the patient asked about.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import orjson
from fastapi import Depends, Request
from starlette.responses import Response

from vigie.api.deps import PRINCIPAL, Services
from vigie.api.fhir_mapping import dumps as fhir_json
from vigie.api.fhir_mapping import operation_outcome
from vigie.eligibility import flows
from vigie.eligibility.schemas import EligibilityAnswer, EligibilityRequest
from vigie.guard import sharing
from vigie.guard.engine import Decision, Guard, Verdict
from vigie.guard.features import (
    Caller,
    Question,
    header_of,
    origin_of,
    practice_departement,
    question_of,
)
from vigie.guard.gcra import MemoryQuotaStore, QuotaStore, QuotaStoreUnavailable, WouldWait
from vigie.guard.redis_quotas import RedisQuotaStore
from vigie.guard.service import StoreContainment
from vigie.identity.principal import Principal
from vigie.identity.service import ProfessionalView
from vigie.runtime import Runtime

STEP_UP_PATH = "/auth/step-up"
# (HTTP status, FHIR issue code, machine-readable reason, French message)
REFUSALS: dict[Decision, tuple[int, str, str, str]] = {
    Decision.STEP_UP: (
        401,
        "login",
        "step_up_required",
        "réauthentification requise : cet appareil ou ce réseau est nouveau pour votre compte ;"
        f" confirmez votre identité (portail : {STEP_UP_PATH} ; logiciel : un nouveau jeton"
        " d'accès) puis renvoyez la demande",
    ),
    Decision.THROTTLE: (
        429,
        "throttled",
        "quota_exceeded",
        "trop de demandes d'éligibilité pour ce compte ou cette structure : réessayez plus tard",
    ),
    Decision.SUSPEND: (
        403,
        "forbidden",
        "account_suspended",
        "compte suspendu par la protection contre l'extraction massive : contactez l'équipe"
        " sécurité de Vigie pour le rétablir",
    ),
}
ALLOWED = Decision.ALLOW  # a module constant: the per-request test reads no enum class
UNAVAILABLE = "contrôle des quotas momentanément indisponible : réessayez dans un instant"


class Callers:
    """The guard's view of each professional, built once per account rather than per request
    (a frozen dataclass takes microseconds to build), and again when the account changes."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[ProfessionalView, Caller]] = {}  # by account

    def of(self, view: ProfessionalView) -> Caller:
        known = self.known.get(view.id)
        if known is not None and known[0] is view:
            return known[1]
        # An equal view (a renewed token, a portal session's request) keeps its Caller and
        # becomes the one the Gate's identity test finds next time.
        caller = known[1] if known is not None and known[0] == view else caller_of(view)
        self.known[view.id] = (view, caller)
        return caller


class Origins:
    """Each (address, user agent)'s origin digest, computed once rather than per request (a
    client keeps both for its connection, and a keyed digest costs microseconds). Keyed by
    Python's hash of the pair (its key random per process; two pairs would collide once in
    2**64): neither the address nor the agent is kept, and a huge agent takes no room. Built
    after the digests' key is set (features.share_digests, at start-up)."""

    MAX = 50_000  # then forgotten all at once: the next requests compute theirs again

    def __init__(self) -> None:
        self.known: dict[int, int] = {}

    def of(self, host: str | None, agent: bytes | None) -> int:
        key = hash((host, agent))
        origin = self.known.get(key)
        if origin is None:
            if len(self.known) >= self.MAX:
                self.known.clear()
            origin = self.known[key] = origin_of(
                host, None if agent is None else agent.decode("latin-1")
            )
        return origin


@dataclass
class GuardServices:
    guard: Guard
    containment: StoreContainment
    # Quotas shared through Redis may need the network: a check that would wait for it goes
    # where store calls go (worker threads on PostgreSQL; SQLite's run on the loop anyway); one
    # with its unit leased in hand stays where quota checks in memory run.
    waits: bool = False
    callers: Callers = field(default_factory=Callers)
    origins: Origins = field(default_factory=Origins)
    clock: Callable[[], float] = time.time  # the guard's "now" (a benchmark's simulated one)
    # With Redis: the risk state shared with the deployment's other server processes (started
    # and closed with the application).
    exchange: sharing.RiskExchange | None = None


def build_guard(runtime: Runtime) -> GuardServices | None:
    if not runtime.settings.guard:
        return None
    url = runtime.settings.redis_url
    quotas: QuotaStore = RedisQuotaStore.from_url(url) if url else MemoryQuotaStore()
    containment = StoreContainment(runtime.engine)
    guard = Guard(quotas, containment)
    exchange = sharing.for_deployment(runtime.keyring, guard, url) if url else None
    return GuardServices(guard, containment, waits=bool(url), exchange=exchange)


def caller_of(view: ProfessionalView) -> Caller:
    return Caller(
        view.id, f"rpps:{view.rpps}", view.profession, practice_departement(view.postcode),
        view.structure_id,
    )  # fmt: skip


def refusal(verdict: Verdict, *, fhir: bool) -> Response:
    status, code, reason, message = REFUSALS[verdict.decision]
    headers = {}
    if verdict.decision is Decision.THROTTLE:
        headers["Retry-After"] = str(max(1, int(verdict.retry_after + 0.999)))
    if verdict.decision is Decision.STEP_UP:
        headers["WWW-Authenticate"] = 'Bearer error="insufficient_user_authentication"'
    if fhir:
        outcome = operation_outcome(message, code=code)
        outcome["issue"][0]["details"]["coding"] = [
            {"system": "https://vigie.example/guard", "code": reason}
        ]
        return Response(fhir_json(outcome), status, headers, "application/fhir+json")
    body: dict[str, object] = {"error": status, "message": message, "reason": reason}
    if verdict.decision is Decision.STEP_UP:
        body["step_up"] = STEP_UP_PATH
    return Response(orjson.dumps(body), status, headers, "application/json")


def unavailable(*, fhir: bool) -> Response:
    headers = {"Retry-After": "1"}
    if fhir:
        body = fhir_json(operation_outcome(UNAVAILABLE, code="transient"))
        return Response(body, 503, headers, "application/fhir+json")
    payload = {"error": 503, "message": UNAVAILABLE, "reason": "guard_unavailable"}
    return Response(orjson.dumps(payload), 503, headers, "application/json")


class Gate:
    """One request's passage through the guard."""

    __slots__ = ("caller", "clock", "fhir", "guard", "origin", "question", "stepped_up_at")

    def __init__(
        self, services: GuardServices, request: Request, view: ProfessionalView,
        body: EligibilityRequest, *, fhir: bool,
    ) -> None:  # fmt: skip
        self.guard = services.guard
        self.clock = services.clock
        self.fhir = fhir
        self.caller = services.callers.of(view)
        patient = body.patient
        self.question: Question = question_of(
            patient.nir, patient.birth_date, patient.birth_rank, account=self.caller.account,
            cardless=body.card is None, agree=body.mode == "agree",
        )  # fmt: skip
        # Read from the ASGI scope: Starlette's accessors (request.client, request.headers,
        # request.state) cost microseconds of Python calls each on this path.
        scope = request.scope
        client = scope.get("client")  # (host, port)
        agent = header_of(scope["headers"], b"user-agent")
        self.origin = services.origins.of(client[0] if client else None, agent)
        # The caller's last proof of identity: a portal session's step-up, a token's auth_time
        # (or iat); None: never re-authenticated.
        principal: Principal | None = scope.get(PRINCIPAL)
        self.stepped_up_at = principal.step_up_epoch if principal is not None else None

    def admit(self, wait: bool = True) -> Response | None:
        """None: admitted; WouldWait (``wait`` False) when the quotas need the network."""
        try:
            verdict = self.guard.admit(
                self.caller, self.question, self.origin, self.stepped_up_at, self.clock(),
                wait=wait,
            )  # fmt: skip
        except QuotaStoreUnavailable:
            return unavailable(fhir=self.fhir)  # fail closed: no shared quota, no answer
        return None if verdict.decision is ALLOWED else refusal(verdict, fhir=self.fhir)

    def observe(self, positive: bool) -> Response | None:
        verdict = self.guard.observe(
            self.caller, self.question, self.origin, positive, self.clock()
        )
        return None if verdict.decision is ALLOWED else refusal(verdict, fhir=self.fhir)


async def guarded(
    services: Services,
    guard: GuardServices | None,
    request: Request,
    caller: ProfessionalView,
    body: EligibilityRequest,
    *,
    fhir: bool,
) -> EligibilityAnswer | Response:
    """The eligibility flow between the guard's two checks; a Response when refused."""
    gate = Gate(guard, request, caller, body, fhir=fhir) if guard is not None else None
    inline = services.light_inline  # the guard's checks on the loop, called directly
    if guard is not None and gate is not None:
        if guard.waits and inline:
            try:
                refused = gate.admit(False)  # on the loop: fine while no Redis round trip
            except WouldWait:
                refused = await services.call(gate.admit, True)
        else:
            refused = gate.admit() if inline else await services.call_light(gate.admit, True)
        if refused is not None:
            return refused
    answer = await services.check_eligibility(caller, body, "fhir" if fhir else "json")
    if gate is None:
        return answer
    if inline:
        refused = gate.observe(answer.eligible)
    else:
        refused = await services.call_light(gate.observe, answer.eligible)
    if refused is not None:
        if answer.agreement is not None:
            # The answer is withheld: the agreement it carried is cancelled (and logged), so
            # that nothing stays consumed under a number nobody was given.
            await services.call(flows.cancel, services.runtime, caller, answer.agreement)
        return refused
    return answer


async def get_guard(request: Request) -> GuardServices | None:
    guard: GuardServices | None = request.app.state.guard
    return guard


AppGuard = Annotated[GuardServices | None, Depends(get_guard)]
