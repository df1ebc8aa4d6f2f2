"""Citizen ratings and shares: Bayesian average (ratings ranked fairly at small n) and the Wilson interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

VERSION = "1.0"
PRIOR_WEIGHT = 5.0  # as if every centre started with 5 ratings at the city-wide mean
NEUTRAL_MEAN = 3.0  # the prior mean when nobody has rated anything yet (middle of 1–5)
REFERENCE = (
    "Bayesian average (a.k.a. damped mean): (C·m + Σr) / (C + n), with m the mean of all ratings in the layer and C = 5"
)
WILSON_REFERENCE = "Wilson (1927) score interval for a binomial proportion, z = 1.96"


@dataclass(frozen=True)
class Prior:
    mean: float
    weight: float
    explain: str


def prior(all_ratings: list[float], weight: float = PRIOR_WEIGHT) -> Prior:
    """The prior: the mean of every rating in the layer (3 when there are none), with weight ``weight``."""
    if all_ratings:
        m = sum(all_ratings) / len(all_ratings)
        return Prior(m, weight, f"mean of all {len(all_ratings)} ratings ({m:.2f}), weight {weight:g}")
    return Prior(NEUTRAL_MEAN, weight, f"no ratings yet: neutral {NEUTRAL_MEAN:g}, weight {weight:g}")


def bayesian_average(values: list[float], p: Prior) -> float:
    """(C·m + Σr) / (C + n): pulled towards the prior mean when there are few ratings."""
    return (p.weight * p.mean + sum(values)) / (p.weight + len(values))


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
