"""Weighted draws that cost one `random()` call each (for the million-row hot loop).

Invariant: `draw` returns each item with probability proportional to its weight.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Mapping
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class Sampler(Generic[T]):
    """Items and weights, precomputed as cumulative sums."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, weights: Mapping[T, float]) -> None:
        if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        self._items = tuple(weights)
        self._cumulative = tuple(accumulate(weights.values()))
        self._total = self._cumulative[-1]

    def draw(self, rng: random.Random) -> T:
        index = bisect_right(self._cumulative, rng.random() * self._total)
        # Guards the float edge case where random() * total rounds up to the total.
        return self._items[min(index, len(self._items) - 1)]


def exact_counts(total: int, shares: Mapping[T, float]) -> dict[T, int]:
    """Split `total` in proportion to `shares` (largest remainder), summing to `total` exactly."""
    weight = sum(shares.values())
    raw = {key: total * share / weight for key, share in shares.items()}
    counts = {key: int(value) for key, value in raw.items()}
    by_remainder = sorted(raw, key=lambda key: raw[key] - counts[key], reverse=True)
    for key in by_remainder[: total - sum(counts.values())]:
        counts[key] += 1
    return counts
