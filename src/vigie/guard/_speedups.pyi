from array import array
from typing import Any

def take(
    tats: array[float], windows: tuple[tuple[int, float, float], ...], now: float, slack: float, /
) -> float: ...
def bind(
    account: type,
    caller: type,
    shares: type,
    peers: type,
    alpha: float,
    cardless_alpha: float,
    peer_step: float,
    seen_generation: int,
    late: float,
    /,
) -> None: ...
def learn(st: Any, q: Any, positive: bool, now: float, peers: Any, view: Any, /) -> bool: ...
def bind_signals(
    platform: type, throttle_memory: float, new_origin_memory: float, shared_origin: int, /
) -> None: ...
def quiet(st: Any, v: Any, peers: Any, platform: Any, now: float, /) -> bool: ...
def bind_engine(
    guard: type,
    store: type,
    checks: type,
    allow: Any,
    quiet: Any,
    observed: int,
    sweep_every: float,
    slack: float,
    /,
) -> None: ...
def admit_usual(guard: Any, caller: Any, q: Any, origin: int, now: float, /) -> bool: ...
def observe_usual(
    guard: Any, caller: Any, q: Any, origin: int, positive: bool, now: float, /
) -> Any: ...
def bind_leases(store: type, lease: type, lease_seconds: float, /) -> None: ...
def spend_in_hand(store: Any, checks: Any, now: float, /) -> bool: ...
def first_header(headers: Any, name: bytes, /) -> bytes | None: ...
def bind_question(question: type, salt: bytes, keyed: Any, /) -> None: ...
def question(
    nir: str, birth_date: Any, birth_rank: int, *, account: int, cardless: bool, agree: bool
) -> Any: ...
