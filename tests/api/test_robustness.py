"""Fuzzing the eligibility routes: whatever arrives, a JSON answer, never a 5xx, never a NIR back.

SQLite only: the question is how the routes treat input, not how a store behaves.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx2
import hypothesis.strategies as st
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings

from tests.api.test_fhir_api import OPTICS_B, fhir_request
from tests.factories import ALICE, GP_LINE, PEOPLE, load_people, professional_token, request
from vigie.api.app import MAX_BODY, create_app
from vigie.config import Settings
from vigie.crypto import keyfile
from vigie.runtime import Runtime, open_runtime

JSON_ROUTE = "/v1/eligibility"
FHIR_ROUTE = "/fhir/CoverageEligibilityRequest"
ROUTES = (JSON_ROUTE, FHIR_ROUTE)
# Every NIR the store knows, and the 13 digits without the key: none may come back.
SECRETS = tuple({s for p in PEOPLE for s in (p.nir, p.nir[:13])})

FUZZ = settings(
    max_examples=150,
    deadline=None,
    # One client and one store serve every example of a test: examples only read or add
    # agreements, which no assertion here depends on.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- A client on a SQLite store -----------------------------------------------------------------


@pytest.fixture
def sqlite_runtime(tmp_path: Path, sqlite_store: str) -> Iterator[Runtime]:
    keys = tmp_path / "keys.json"
    keyfile.save(keyfile.generate(), keys)
    runtime = open_runtime(
        Settings(database_url=sqlite_store, keys=keys, token_cache_seconds=60), pool_size=2
    )
    load_people(runtime)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def fuzz_client(sqlite_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_runtime), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def token(sqlite_runtime: Runtime) -> dict[str, str]:
    return {"Authorization": f"Bearer {professional_token(sqlite_runtime)}"}


# --- Random JSON --------------------------------------------------------------------------------

NAN_LIKE = st.sampled_from(
    ["NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "1e400", "-1e400", "1E+999999",
     "0x10", "1_000", " 12 ", "12,50", "", " ", "\u0000", "\ud800", "٣٠", "３０", "null",
     "true", "9" * 400, "0." + "0" * 300 + "1", "-0", "+1", ".5", "5.", "1e-400"]
)  # fmt: skip
HUGE_NUMBERS = st.sampled_from(
    [10**18, -(10**18), 2**63, 2**64, 10**300, -(10**300), 10**4000, 1e308, -1e308, 5e-324]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE_NUMBERS
    | st.floats()  # NaN and ±Infinity included: written as the bare tokens NaN and Infinity
    | st.text()
    | NAN_LIKE
    | st.builds(lambda c, n: c * n, st.characters(), st.integers(1_000, 20_000))
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)


# Deep nesting is spliced into the JSON text (the json module and Hypothesis's reports recurse):
# the document holds a short marker, "dumps" replaces it.
DEEP_MARK = "<<deep {} {}>>"
DEEP_RE = re.compile(r'"<<deep (list|dict) (\d+)>>"')
DEEP = st.builds(DEEP_MARK.format, st.sampled_from(["list", "dict"]), st.integers(1, 3_000))


def _deep_text(match: re.Match[str]) -> str:
    depth = int(match.group(2))
    if match.group(1) == "list":
        return "[" * depth + '"x"' + "]" * depth
    return '{"a":' * depth + '"x"' + "}" * depth


# Values of every JSON type, for places that expect another one.
WRONG_TYPES = st.sampled_from(
    [0, 1, -1, 5, 1.5, -0.0, True, False, None, "", "x", [], {}, [None], {"": None}]
)
REPLACEMENTS = st.one_of(WRONG_TYPES, WRONG_TYPES, JSON_VALUES, DEEP)


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return sorted(value)
    if isinstance(value, list):
        return list(range(len(value)))
    return []


@st.composite
def _place(draw: st.DrawFn, document: Any) -> tuple[Any, Any]:
    """A container in ``document`` and one of its keys: a walk down from the root that stops at
    each level with probability 1/3, so that shallow places (whole resources, arrays) are hit as
    often as leaves."""
    parent, key = document, draw(st.sampled_from(_children(document)))
    while _children(parent[key]) and draw(st.integers(0, 2)) > 0:
        parent, key = parent[key], draw(st.sampled_from(_children(parent[key])))
    return parent, key


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """A valid request with one to three places replaced, removed, or given a new key."""
    body = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        if not _children(body):
            break
        parent, key = draw(_place(body))
        action = draw(st.sampled_from(["replace", "replace", "delete", "extra"]))
        if action == "delete":
            del parent[key]
        elif action == "extra" and isinstance(parent, dict):
            parent[draw(st.text(max_size=20))] = copy.deepcopy(draw(JSON_VALUES))
        else:
            # A copy: the sampled constants ([], {}...) must not be changed by later mutations.
            parent[key] = copy.deepcopy(draw(REPLACEMENTS))
    return body


JSON_BASE = request(ALICE, mode="agree", lines=[GP_LINE, OPTICS_B])
FHIR_BASES = [
    fhir_request(ALICE, mode="agree", lines=[GP_LINE, OPTICS_B], form="contained"),
    fhir_request(ALICE, lines=[GP_LINE], form="batch"),
]


def dumps(value: Any) -> bytes:
    """JSON text; NaN and infinities as the bare tokens a careless client sends; deep nesting."""
    return DEEP_RE.sub(_deep_text, json.dumps(value, allow_nan=True)).encode()


RAW_BODIES = st.one_of(
    st.binary(max_size=2_000),
    st.text(max_size=2_000).map(str.encode),
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 30_000)),
    st.builds(lambda n: b'{"a":' * n + b"1" + b"}" * n, st.integers(1, 12_000)),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b"{}",
            b"NaN",
            b"Infinity",
            b'{"card": NaN}',
            b"\xff\xfe",
            b"1" * 5000,
            b'"\\ud800"',
            b'{"a": "\\ud800"}',
            b'{"resourceType": "Bundle", "type": "batch", "entry": 5}',
            b'{"resourceType": "CoverageEligibilityRequest", "extension": 5}',
        ]
    ),
)


# --- What every answer must satisfy -------------------------------------------------------------


def post(
    client: TestClient, route: str, headers: dict[str, str], content: bytes
) -> httpx2.Response:
    content_type = "application/fhir+json" if route == FHIR_ROUTE else "application/json"
    return client.post(route, content=content, headers={**headers, "content-type": content_type})


def check(response: httpx2.Response) -> None:
    assert response.status_code < 500, response.text
    body = json.loads(response.content)  # JSON, whatever the status
    assert isinstance(body, dict)
    for secret in SECRETS:
        assert secret not in response.text
    if response.status_code == 200:
        assert "eligible" in body or body.get("resourceType") == "CoverageEligibilityResponse"


# --- Regressions found by fuzzing -------------------------------------------------------------
# A number or ``true`` where FHIR wants the ``extension`` or ``Bundle.entry`` array: once a 500.


def _entry_number(body: dict[str, Any]) -> None:
    body["entry"] = 5


def _request_extension_number(body: dict[str, Any]) -> None:
    body["extension"] = 5


def _item_extension_true(body: dict[str, Any]) -> None:
    body["item"][0]["extension"] = True


@pytest.mark.parametrize(
    ("form", "change"),
    [
        ("batch", _entry_number),
        ("contained", _request_extension_number),
        ("contained", _item_extension_true),
    ],
)
def test_scalar_extension_or_entry_is_a_400(
    fuzz_client: TestClient,
    token: dict[str, str],
    form: Literal["contained", "batch"],
    change: Callable[[dict[str, Any]], None],
) -> None:
    body = fhir_request(ALICE, form=form)
    change(body)
    response = post(fuzz_client, FHIR_ROUTE, token, dumps(body))
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("day", ["9998-07-01", "1999-12-31"])
def test_care_date_out_of_range_is_refused(
    fuzz_client: TestClient, token: dict[str, str], route: str, day: str
) -> None:
    """A renewal period once ran past year 9999 and answered 500; such dates are typos."""
    lines = [OPTICS_B]
    if route == JSON_ROUTE:
        body = request(ALICE, day=day, lines=lines)
    else:
        body = fhir_request(ALICE, day=day, lines=lines)
    response = post(fuzz_client, route, token, dumps(body))
    check(response)
    assert response.status_code in (400, 422)


# --- Fuzzing ------------------------------------------------------------------------------------


@FUZZ
@given(body=st.one_of(JSON_VALUES, DEEP, mutated(JSON_BASE)))
def test_json_route_survives_random_json(
    fuzz_client: TestClient, token: dict[str, str], body: Any
) -> None:
    response = post(fuzz_client, JSON_ROUTE, token, dumps(body))
    event(f"HTTP {response.status_code}")
    check(response)


@FUZZ
@given(body=st.one_of(JSON_VALUES, DEEP, *(mutated(base) for base in FHIR_BASES)))
def test_fhir_route_survives_random_json(
    fuzz_client: TestClient, token: dict[str, str], body: Any
) -> None:
    content = dumps(body)
    response = post(fuzz_client, FHIR_ROUTE, token, content)
    event(f"HTTP {response.status_code}")
    check(response)
    if response.status_code not in (200, 413):  # 413 comes from the envelope, in plain JSON
        assert response.json()["resourceType"] == "OperationOutcome"


@FUZZ
@given(route=st.sampled_from(ROUTES), content=RAW_BODIES)
def test_routes_survive_random_bytes(
    fuzz_client: TestClient, token: dict[str, str], route: str, content: bytes
) -> None:
    response = post(fuzz_client, route, token, content)
    event(f"HTTP {response.status_code}")
    check(response)


def test_the_fuzzed_bases_are_valid(fuzz_client: TestClient, token: dict[str, str]) -> None:
    """Mutating a valid request explores the checks past parsing, not only the parser."""
    answer = post(fuzz_client, JSON_ROUTE, token, dumps(JSON_BASE))
    check(answer)
    assert answer.json()["eligible"] is True
    for base in FHIR_BASES:
        response = post(fuzz_client, FHIR_ROUTE, token, dumps(base))
        check(response)
        assert response.json()["insurance"][0]["inforce"] is True


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**4000, 1e308])
@pytest.mark.parametrize("route", ROUTES)
def test_non_finite_and_huge_amounts(
    fuzz_client: TestClient, token: dict[str, str], route: str, value: float
) -> None:
    if route == JSON_ROUTE:
        body: Any = request(ALICE, lines=[dict(GP_LINE, billed=value)])
    else:
        body = fhir_request(ALICE)
        body["item"][0]["unitPrice"]["value"] = value
    response = post(fuzz_client, route, token, dumps(body))
    check(response)
    assert response.status_code in (400, 422)


# --- Body size limit ----------------------------------------------------------------------------


def _padded(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    head = b'{"pad":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


@pytest.mark.parametrize("route", ROUTES)
def test_declared_length_over_64_kib_is_413(
    fuzz_client: TestClient, token: dict[str, str], route: str
) -> None:
    response = post(fuzz_client, route, token, _padded(MAX_BODY + 1))
    assert response.request.headers["content-length"] == str(MAX_BODY + 1)
    check(response)
    assert response.status_code == 413
    # At the limit, the body is read and judged on its content.
    at_limit = post(fuzz_client, route, token, _padded(MAX_BODY))
    assert at_limit.status_code in (400, 422)


def _chunks(content: bytes, size: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start : start + size]


@pytest.mark.parametrize("route", ROUTES)
def test_chunked_body_over_64_kib_is_413(
    fuzz_client: TestClient, token: dict[str, str], route: str
) -> None:
    content_type = "application/fhir+json" if route == FHIR_ROUTE else "application/json"
    headers = {**token, "content-type": content_type}
    response = fuzz_client.post(route, content=_chunks(_padded(MAX_BODY + 1)), headers=headers)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    check(response)
    assert response.status_code == 413
    # A chunked request under the limit goes through, whole.
    valid = dumps(fhir_request(ALICE) if route == FHIR_ROUTE else request(ALICE))
    small = fuzz_client.post(route, content=_chunks(valid, 100), headers=headers)
    assert small.request.headers["transfer-encoding"] == "chunked"
    check(small)
    assert small.status_code == 200
