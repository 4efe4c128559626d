"""Percentiles and round summaries: median, min, max and the spread between them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (the same definition as the server's stats); None if empty."""
    return _nearest_rank(sorted(samples), q) if samples else None


def quantiles(samples: Sequence[float], qs: Sequence[float]) -> list[list[float]]:
    """[q, `percentile(samples, q)`] for each of `qs`, the samples sorted once."""
    ordered = sorted(samples)
    return [[q, round(_nearest_rank(ordered, q), 3)] for q in qs] if ordered else []


def _nearest_rank(ordered: Sequence[float], q: float) -> float:
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def summarize(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, min, max and spread (max − min, as % of the median) of per-round values."""
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "spread_pct": None, "rounds": 0}
    median = statistics.median(present)
    low, high = min(present), max(present)
    spread = round((high - low) / abs(median) * 100, 1) if median else None
    return {
        "median": _round(median),
        "min": _round(low),
        "max": _round(high),
        "spread_pct": spread,
        "rounds": len(present),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def _round(value: float) -> float:
    return round(value, 3 if abs(value) < 1000 else 1)
