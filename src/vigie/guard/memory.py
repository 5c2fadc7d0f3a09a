"""Containment kept in memory: the simulator's, and the tests'; the store's is in service.py.

Invariant: the same Containment protocol as the store's, so the Guard decides identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigie.guard.engine import Alert, Verdict
from vigie.guard.features import Caller


@dataclass
class MemoryContainment:
    suspended: dict[int, float] = field(default_factory=dict)  # account -> since
    alerts: list[Alert] = field(default_factory=list)
    refusals: int = 0

    def is_suspended(self, account: int, now: float) -> bool:
        return account in self.suspended

    def suspend(self, alert: Alert) -> None:
        self.suspended.setdefault(alert.caller.account, alert.at)
        self.alerts.append(alert)

    def refused(self, caller: Caller, verdict: Verdict, now: float) -> None:
        self.refusals += 1

    def lift(self, account: int) -> None:
        self.suspended.pop(account, None)
