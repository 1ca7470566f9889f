"""Percentiles of one run, and the median (with spread) of several runs."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Figure:
    """One figure measured once per run: its median across runs and how far the runs spread."""

    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def spread(self) -> str:
        """min–max across runs, as ±% of the median: how noisy this figure was."""
        if len(self.runs) < 2 or not self.median:
            return "-"
        half = (max(self.runs) - min(self.runs)) / 2
        return f"±{100 * half / abs(self.median):.0f}%"
