"""Bearer JWT validation: every rejection path, key rotation, JWKS refetch limits, revocation,
an outside issuer served over HTTP, and the per-token cache."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey, RSAKey

from tests.factories import RPPS, professional_token
from tests.identity.forge import claims, forged_tokens, our_key, sign
from vigie.db.engine import write_transaction
from vigie.identity import issuer_keys
from vigie.identity.authentication import Authenticator
from vigie.identity.jwt_verify import (
    KeyCache,
    TokenRejected,
    TokenVerifier,
    TrustedIssuer,
    http_jwks,
)
from vigie.identity.principal import Role
from vigie.identity.token_principals import principal_of
from vigie.identity.token_service import revoke_subject
from vigie.runtime import Runtime

EXPECTED = {
    "bad signature": "bad_signature",
    "signed by a stranger under our kid": "bad_signature",
    "unknown key": "unknown_key",
    "wrong issuer": "unknown_issuer",
    "wrong audience": "wrong_audience",
    "expired": "expired",
    "not yet valid": "not_yet_valid",
    "no expiry": "malformed",
    "alg none": "malformed",
    "revoked": "revoked",
}


def test_each_forged_token_is_refused_for_its_reason(runtime: Runtime) -> None:
    auth = Authenticator(runtime.settings, runtime.engine)
    forged = forged_tokens(runtime)
    for label, reason in EXPECTED.items():
        with pytest.raises(TokenRejected) as refused:
            auth.verifier.verify(forged[label])
        assert refused.value.reason == reason, label
        assert auth.bearer(forged[label]) is None, label
    # Signed correctly, but names a professional Vigie does not know: refused (documented).
    assert auth.bearer(forged["unregistered professional"]) is None


def test_a_valid_token_gives_the_professional(runtime: Runtime) -> None:
    auth = Authenticator(runtime.settings, runtime.engine)
    principal = auth.bearer(professional_token(runtime))
    assert principal is not None and principal.role == Role.PROFESSIONAL
    assert principal.professional is not None and principal.professional.rpps == RPPS
    assert principal.subject == f"rpps:{RPPS}" and principal.scopes is None


def test_a_wrong_issuer_claim_under_a_trusted_key_is_refused(runtime: Runtime) -> None:
    """Our key, but an ``iss`` naming the outside issuer: checked against that issuer's keys."""
    issuer = TrustedIssuer("https://psc.example.invalid", KeyCache(lambda: {"keys": []}), False)
    local = TrustedIssuer(runtime.settings.local_issuer(), _static(our_key(runtime)), True)
    verifier = TokenVerifier([local, issuer], audience="vigie", algorithms=["Ed25519"])
    token = sign(claims(runtime, iss="https://psc.example.invalid"), our_key(runtime))
    with pytest.raises(TokenRejected, match="unknown_key"):
        verifier.verify(token)


def test_revocation_reaches_a_cached_token(runtime: Runtime) -> None:
    auth = Authenticator(runtime.settings, runtime.engine)  # token_cache_seconds=0 in tests
    token = professional_token(runtime)
    assert auth.bearer(token) is not None and auth.cached(token) is not None
    with write_transaction(runtime.engine) as conn:
        assert revoke_subject(conn, f"rpps:{RPPS}") == 1
    assert auth.cached(token) is None and auth.bearer(token) is None


def test_signing_key_rotation(runtime: Runtime) -> None:
    auth = Authenticator(runtime.settings, runtime.engine)
    before = professional_token(runtime)
    assert auth.bearer(before) is not None
    issuer_keys.rotate(runtime.settings.issuer_keys_path())
    time.sleep(1.05)  # the local key cache refetches an unknown kid at most once a second
    after = professional_token(runtime)
    assert json.loads(_header(after))["kid"] != json.loads(_header(before))["kid"]
    assert auth.bearer(after) is not None  # unknown kid: the JWKS is fetched again
    assert auth.bearer(before) is not None  # the previous key still verifies what it signed


def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval() -> None:
    key = OKPKey.generate_key("Ed25519", auto_kid=True)
    now = [1000.0]
    fetched: list[int] = []

    def source() -> Mapping[str, Any]:
        fetched.append(1)
        return {"keys": [key.as_dict(private=False)]}

    cache = KeyCache(source, max_age=3600, refetch_interval=30, clock=lambda: now[0])
    assert cache.key(key.kid) is not None and len(fetched) == 1
    assert cache.key("made-up") is None and len(fetched) == 1  # fetched just now: not again
    now[0] += 31
    for i in range(100):
        assert cache.key(f"made-up-{i}") is None
    assert len(fetched) == 2  # one refetch for the first unknown kid, then none for 30 s
    now[0] += 31
    assert cache.key("another") is None and len(fetched) == 3
    now[0] += 4000  # too old: refetched even for a known kid
    assert cache.key(key.kid) is not None and len(fetched) == 4


def test_a_failed_jwks_fetch_keeps_the_keys_held() -> None:
    key = OKPKey.generate_key("Ed25519", auto_kid=True)
    answers: list[Any] = [{"keys": [key.as_dict(private=False)]}, OSError("down")]

    def source() -> Mapping[str, Any]:
        answer = answers.pop(0) if answers else OSError("down")
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    now = [0.0]
    cache = KeyCache(source, max_age=10, refetch_interval=1, clock=lambda: now[0])
    assert cache.key(key.kid) is not None
    now[0] = 100.0
    assert cache.key(key.kid) is not None


@pytest.fixture
def outside_issuer() -> Iterator[tuple[str, RSAKey]]:
    """An outside OIDC issuer's JWKS over HTTP (RS256, as Pro Santé Connect signs)."""
    key = RSAKey.generate_key(2048, auto_kid=True)
    body = json.dumps({"keys": [key.as_dict(private=False)]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/certs", key
    server.shutdown()


def test_an_outside_issuer_names_professionals_only(
    runtime: Runtime, outside_issuer: tuple[str, RSAKey]
) -> None:
    url, key = outside_issuer
    issuer = TrustedIssuer("https://psc.example.invalid", KeyCache(http_jwks(url)), local=False)
    verifier = TokenVerifier([issuer], audience="vigie", algorithms=["RS256"])
    professional_token(runtime)  # registers the professional
    payload = claims(runtime, iss="https://psc.example.invalid", aud="vigie")
    token = jwt.encode({"alg": "RS256", "kid": key.kid}, payload, key)
    verified = verifier.verify(token)
    with runtime.engine.connect() as conn:
        principal = principal_of(conn, verified)
        assert principal is not None and principal.role == Role.PROFESSIONAL
        # An outside issuer cannot make someone insured, nor claim a client identity.
        insured = {**payload, "vigie_role": "insured", "insured_index": "00" * 32, "jti": "i"}
        as_insured = verifier.verify(jwt.encode({"alg": "RS256", "kid": key.kid}, insured, key))
        assert principal_of(conn, as_insured) == principal
        anonymous = {k: v for k, v in payload.items() if k != "rpps"} | {"jti": "x"}
        token = jwt.encode({"alg": "RS256", "kid": key.kid}, anonymous, key)
        assert principal_of(conn, verifier.verify(token)) is None


def test_a_pro_sante_connect_style_national_id_names_the_professional(
    runtime: Runtime, outside_issuer: tuple[str, RSAKey]
) -> None:
    url, key = outside_issuer
    issuer = TrustedIssuer("https://psc.example.invalid", KeyCache(http_jwks(url)), local=False)
    verifier = TokenVerifier([issuer], audience="vigie", algorithms=["RS256"])
    professional_token(runtime)
    payload = claims(runtime, iss="https://psc.example.invalid")
    del payload["rpps"]
    payload["SubjectNameID"] = "8" + RPPS
    verified = verifier.verify(jwt.encode({"alg": "RS256", "kid": key.kid}, payload, key))
    with runtime.engine.connect() as conn:
        principal = principal_of(conn, verified, rpps_claim="SubjectNameID")
        assert principal is not None and principal.professional is not None
        assert principal.professional.rpps == RPPS
        assert principal_of(conn, verified) is None  # the default claim name is "rpps"


def test_repeated_verification_is_cached(runtime: Runtime) -> None:
    """The eligibility hot path: a token seen before costs microseconds, not a signature check."""
    settings = runtime.settings.model_copy(update={"token_cache_seconds": 5.0})
    auth = Authenticator(settings, runtime.engine)
    token = professional_token(runtime)
    assert auth.bearer(token) is not None
    started = time.perf_counter()
    for _ in range(2000):
        assert auth.cached(token) is not None
    per_call = (time.perf_counter() - started) / 2000
    assert per_call < 50e-6, per_call  # a signature check alone takes ~100 µs


def _static(key: OKPKey) -> KeyCache:
    return KeyCache(lambda: KeySet([key]).as_dict(private=False))


def _header(token: str) -> str:
    import base64

    head = token.split(".")[0]
    return base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode()
