"""Water-quality scoring: the E. coli gate with WHO/JMP risk bands, WHO guideline checks, and the CCME
Water Quality Index 1.0 (CCME 2001, Canadian Water Quality Guidelines for the Protection of Aquatic Life,
CCME Water Quality Index 1.0 Technical Report)."""

from __future__ import annotations

import math
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

GUIDELINES_FILE = Path(__file__).resolve().parent.parent / "data" / "who_drinking_water.toml"
# JMP/WHO sanitary risk bands for E. coli (or thermotolerant coliforms) per 100 mL.
E_COLI_BANDS = ((1, "low"), (11, "moderate"), (101, "high"), (math.inf, "very high"))
E_COLI_REFERENCE = (
    "WHO/UNICEF JMP, Integrating water quality testing into household surveys (2020): "
    "E. coli risk categories <1 low, 1–10 moderate, 11–100 high, >100 very high CFU/100 mL"
)
# A water point's safety, as the score says it (and the msgids of its labels: mapper.catalogs).
SAFE, FAILS_GUIDELINES, UNKNOWN, UNSAFE = "safe", "fails guidelines", "unknown", "unsafe"
SAFETY = (SAFE, FAILS_GUIDELINES, UNKNOWN, UNSAFE)
# Why, in words (gettext msgids: the explanation pages write them in the page's language with the same values).
REASONS = {
    UNSAFE: "E. coli detected (%(e_coli)s CFU/100 mL)",
    FAILS_GUIDELINES: "outside WHO guideline values: %(failing)s",
    UNKNOWN: "no E. coli test in the latest sample",
    SAFE: "no E. coli detected and every measured value within guidelines",
}


def reason_values(result: dict) -> dict:
    """The values a score result's reason is written with (``REASONS``)."""
    e_coli = result.get("e_coli", {}).get("value")
    failing = ", ".join(sorted(k for k, c in result["checks"].items() if not c["pass"]))
    return {"e_coli": f"{e_coli:g}" if e_coli is not None else "", "failing": failing}


CCME_CATEGORIES = ((95, "Excellent"), (80, "Good"), (65, "Fair"), (45, "Marginal"), (0, "Poor"))
CCME_REFERENCE = "CCME (2001) Canadian Water Quality Index 1.0 Technical Report"
CCME_MIN_VARIABLES = 4
CCME_MIN_SAMPLES = 4
E_COLI = "e_coli_cfu_100ml"  # the gate's variable, as named in the guideline file (and the layer's field)


@dataclass(frozen=True)
class Objective:
    variable: str
    lower: float | None = None
    upper: float | None = None
    label: str = ""
    note: str = ""

    def fails(self, value: float) -> bool:
        return (self.upper is not None and value > self.upper) or (self.lower is not None and value < self.lower)

    def excursion(self, value: float) -> float:
        """How far a failed test is from its objective (CCME: value/objective − 1, or objective/value − 1)."""
        if self.upper is not None and value > self.upper:
            return value / self.upper - 1 if self.upper > 0 else value
        if self.lower is not None and value < self.lower:
            return self.lower / value - 1 if value > 0 else self.lower / 1e-9
        return 0.0


def load_guidelines(path: Path = GUIDELINES_FILE) -> tuple[dict[str, Objective], dict]:
    """WHO guideline objectives per measurement field, and the file's source and version."""
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    meta = {"source": doc.pop("source"), "method_version": doc.pop("method_version")}
    return {
        k: Objective(k, v.get("lower"), v.get("upper"), v.get("label", k), v.get("note", "")) for k, v in doc.items()
    }, meta


def e_coli_band(cfu_per_100ml: float) -> str:
    """The JMP/WHO risk band of an E. coli count."""
    return next(name for limit, name in E_COLI_BANDS if cfu_per_100ml < limit)


def ccme_category(index: float) -> str:
    return next(name for floor, name in CCME_CATEGORIES if index >= floor)


def ccme_wqi(tests: list[tuple[str, float]], objectives: dict[str, Objective]) -> dict:
    """CCME WQI 1.0 over (variable, value) tests: F1 scope, F2 frequency, F3 amplitude."""
    variables = {v for v, _ in tests}
    failed_vars = {v for v, x in tests if objectives[v].fails(x)}
    failed = [(v, x) for v, x in tests if objectives[v].fails(x)]
    f1 = 100 * len(failed_vars) / len(variables)
    f2 = 100 * len(failed) / len(tests)
    nse = sum(objectives[v].excursion(x) for v, x in failed) / len(tests)
    f3 = nse / (0.01 * nse + 0.01)
    index = 100 - math.sqrt(f1**2 + f2**2 + f3**2) / 1.732
    return {
        "index": index,
        "category": ccme_category(index),
        "F1": f1,
        "F2": f2,
        "F3": f3,
        "nse": nse,
        "variables": len(variables),
        "tests": len(tests),
        "failed_variables": sorted(failed_vars),
        "failed_tests": len(failed),
    }


def ccme_eligible(tests: list[tuple[str, float]]) -> bool:
    """CCME's data rule: at least four variables, each sampled at least four times."""
    counts = defaultdict(int)
    for v, _ in tests:
        counts[v] += 1
    return sum(1 for n in counts.values() if n >= CCME_MIN_SAMPLES) >= CCME_MIN_VARIABLES


def score_water_point(samples: list[dict], objectives: dict[str, Objective]) -> dict:
    """Score one water point from its samples (dicts of measurement field → value; newest last).

    E. coli is a gate: any detection in the latest sample makes the point unsafe, whatever else holds.
    With enough data the CCME index summarises all measurements; otherwise each parameter of the latest
    sample passes or fails its guideline.
    """
    tests = [(k, float(s[k])) for s in samples for k in objectives if s.get(k) is not None]
    latest = samples[-1]
    checks = {
        k: {"value": latest[k], "lower": o.lower, "upper": o.upper, "pass": not o.fails(float(latest[k]))}
        for k, o in objectives.items()
        if latest.get(k) is not None
    }
    ecoli = latest.get(E_COLI)
    result: dict = {"samples": len(samples), "checks": checks}
    if ecoli is not None:
        result["e_coli"] = {"value": ecoli, "band": e_coli_band(float(ecoli)), "detected": float(ecoli) > 0}
    if ccme_eligible(tests):
        result["ccme"] = ccme_wqi(tests, objectives)
    if ecoli is not None and float(ecoli) > 0:
        result["safety"] = UNSAFE
    elif any(not c["pass"] for c in checks.values()):
        result["safety"] = FAILS_GUIDELINES
    elif ecoli is None:
        result["safety"] = UNKNOWN
    else:
        result["safety"] = SAFE
    result["reason"] = REASONS[result["safety"]] % reason_values(result)
    return result
