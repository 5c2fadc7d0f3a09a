"""Quotas shared by every server process through Redis: one Lua script per question.

Invariant: the script checks every key and charges all or none, atomically in Redis, so two
processes enforce one quota; any Redis failure raises QuotaStoreUnavailable (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from vigie.guard.gcra import QuotaStoreUnavailable
from vigie.guard.quotas import Check

# KEYS: the quota keys; ARGV: now, then (limit, period) per key. Returns "0" or the wait, in
# seconds, as a string (Lua numbers become integers on the way back).
GCRA_SCRIPT = """
local now = tonumber(ARGV[1])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local period = tonumber(ARGV[2 * i + 1])
  local interval = period / limit
  local tat = tonumber(redis.call('GET', key))
  if tat == nil or tat < now then tat = now end
  local new_tat = tat + interval
  local delay = new_tat - period - now
  if delay > wait then wait = delay end
  tats[i] = new_tat
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local ttl = math.ceil((tats[i] - now) * 1000)
  redis.call('SET', key, tostring(tats[i]), 'PX', ttl)
end
return "0"
"""


class RedisQuotaStore:
    def __init__(self, client: redis.Redis, *, prefix: str = "vigie:q:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(GCRA_SCRIPT)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "vigie:q:") -> RedisQuotaStore:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(client, prefix=prefix)

    def take(self, checks: Sequence[Check], now: float) -> float:
        keys = [self._prefix + key for key, _, _ in checks]
        args: list[float] = [now]
        for _, limit, period in checks:
            args.extend((limit, period))
        try:
            answer = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise QuotaStoreUnavailable(exc.__class__.__name__) from exc
        return float(answer)
