"""Bearer JWT validation for the resource server: signature against the issuer's JWKS, then
``iss``, ``aud``, ``exp``, ``nbf``, then the revocation list.

Invariant: a token is accepted only if every check passes; a success is cached by the token's
SHA-256 digest until the token expires, but the revocation list is consulted on every use.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

MAX_TOKEN_BYTES = 8192
MAX_JWKS_BYTES = 256 * 1024
CACHE_LIMIT = 50_000
# The reasons a token is refused (for logs and tests; callers all get the same 401).
REASONS = (
    "malformed",
    "unknown_issuer",
    "unknown_key",
    "bad_signature",
    "wrong_issuer",
    "wrong_audience",
    "expired",
    "not_yet_valid",
    "revoked",
)


class TokenRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JwksSource(Protocol):
    """Where an issuer's JWKS comes from (HTTP for an outside issuer, the key file for ours)."""

    def __call__(self) -> Mapping[str, Any]: ...


def http_jwks(url: str, timeout: float = 3.0) -> JwksSource:
    def fetch() -> Mapping[str, Any]:
        if not url.startswith(("https://", "http://")):
            raise ValueError("JWKS URL must be http(s)")
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (checked)
            document: Mapping[str, Any] = json.loads(response.read(MAX_JWKS_BYTES))
        return document

    return fetch


class KeyCache:
    """An issuer's keys by ``kid``: refetched when older than ``max_age``, or on an unknown
    ``kid`` (a key rotation) at most once per ``refetch_interval`` (a flood of made-up ``kid``s
    must not become a flood of requests to the issuer). A failed fetch keeps the keys held."""

    def __init__(
        self,
        source: JwksSource,
        *,
        max_age: float = 3600.0,
        refetch_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._max_age = max_age
        self._interval = refetch_interval
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._attempted_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str | None) -> Any | None:
        now = self._clock()
        if self._keys is None or now - self._fetched_at > self._max_age:
            self._refresh(now)
        found = self._find(kid)
        if found is None and now - self._attempted_at >= self._interval:
            self._refresh(now)
            found = self._find(kid)
        return found

    def _find(self, kid: str | None) -> Any | None:
        if self._keys is None or not kid:
            return None
        return next((k for k in self._keys.keys if k.kid == kid), None)

    def _refresh(self, now: float) -> None:
        with self._lock:
            if now - self._attempted_at < self._interval and self._keys is not None:
                return
            self._attempted_at = now
            self.fetches += 1
            try:
                self._keys = KeySet.import_key_set(dict(self._source()))  # type: ignore[arg-type]
                self._fetched_at = now
            except (OSError, ValueError, JoseError, TypeError, KeyError):
                return  # keep what we had; an unknown kid stays unknown


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    keys: KeyCache
    local: bool  # Vigie's own token service: may assert Vigie roles and client identities


@dataclass(frozen=True)
class VerifiedToken:
    claims: Mapping[str, Any]
    issuer: TrustedIssuer
    expires_at: float
    jti: str | None


class TokenVerifier:
    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        *,
        audience: str,
        algorithms: Sequence[str],
        leeway: int = 30,
        revoked: Callable[[str], bool] = lambda _jti: False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._audience = audience
        self._algorithms = frozenset(algorithms)
        self._leeway = leeway
        self._revoked = revoked
        self._clock = clock
        self._cache: dict[bytes, VerifiedToken] = {}

    def verify(self, token: str) -> VerifiedToken:
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRejected("malformed")
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        verified = self._cache.get(digest)
        if verified is None or verified.expires_at + self._leeway <= now:
            verified = self._verify_fresh(token, now)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[digest] = verified
        if verified.jti is not None and self._revoked(verified.jti):
            raise TokenRejected("revoked")
        return verified

    def _verify_fresh(self, token: str, now: float) -> VerifiedToken:
        try:
            compact = extract_compact(token.encode())
            unverified = json.loads(compact.payload)
        except (JoseError, ValueError, UnicodeError) as exc:
            raise TokenRejected("malformed") from exc
        header = compact.protected
        if header.get("alg") not in self._algorithms or not isinstance(unverified, dict):
            raise TokenRejected("malformed")
        issuer = self._issuers.get(unverified.get("iss"))  # type: ignore[arg-type]
        if issuer is None:
            raise TokenRejected("unknown_issuer")
        key = issuer.keys.key(header.get("kid"))
        if key is None:
            raise TokenRejected("unknown_key")
        try:
            decoded = jwt.decode(token, key, algorithms=[header["alg"]])
        except BadSignatureError as exc:
            raise TokenRejected("bad_signature") from exc
        except (JoseError, ValueError) as exc:
            raise TokenRejected("malformed") from exc
        self._check_claims(decoded.claims, issuer.issuer, now)
        jti = decoded.claims.get("jti")
        return VerifiedToken(
            decoded.claims,
            issuer,
            float(decoded.claims["exp"]),
            jti if isinstance(jti, str) else None,
        )

    def _check_claims(self, claims: Mapping[str, Any], issuer: str, now: float) -> None:
        registry = jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=self._leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": self._audience},
            exp={"essential": True},
        )
        try:
            registry.validate(dict(claims))
        except ExpiredTokenError as exc:
            raise TokenRejected("expired") from exc
        except InvalidClaimError as exc:
            raise TokenRejected(_claim_reason(exc.claim)) from exc
        except (MissingClaimError, ClaimError) as exc:
            raise TokenRejected("malformed") from exc


def _claim_reason(claim: str) -> str:
    return {
        "iss": "wrong_issuer",
        "aud": "wrong_audience",
        "nbf": "not_yet_valid",
        "exp": "expired",
    }.get(claim, "malformed")
