"""The simulated calendar: day 0 is a Monday, French winter time (UTC+1), as the guard reads."""

from __future__ import annotations

# 2026-03-02 00:00 in France, as a UTC epoch.
START = 1_772_409_600.0 - 3_600.0
DAY = 86_400.0
HOUR = 3_600.0


def day_start(day: int) -> float:
    return START + day * DAY


def weekday(day: int) -> int:
    return day % 7
