"""Hot spot analysis on a grid of cells: Getis-Ord Gi* with binary weights that include the cell itself,
two-sided p-values, Benjamini–Hochberg false discovery rate, and the scale chosen as in ArcGIS Optimized
Hot Spot Analysis (first peak of incremental global Moran's I, else K nearest neighbours).

References: Getis & Ord (1992), Ord & Getis (1995); Benjamini & Hochberg (1995); Esri, "How Optimized Hot
Spot Analysis works". The z-scores equal esda's ``G_Local(transform="B", star=True).Zs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse, stats
from scipy.spatial import cKDTree

METHOD = "getis-ord-gi-star"
VERSION = "1.0"
MIN_INCIDENTS = 30
CONFIDENCE = ((0.01, 99), (0.05, 95), (0.10, 90))
REFERENCE = (
    "Getis & Ord (1992); Ord & Getis (1995); Benjamini & Hochberg (1995) FDR; scale as in Esri "
    "Optimized Hot Spot Analysis (incremental spatial autocorrelation, else K = 5 % of N in 3–30)"
)


class TooFewIncidents(ValueError):
    pass


def hexagon_centres(i: np.ndarray, j: np.ndarray, size: float) -> np.ndarray:
    """Centres of PostGIS ``ST_Hexagon(size, i, j)`` cells: x = 1.5·size·i, y = √3·size·(j + ½ if i odd)."""
    h = size * np.sqrt(3)
    return np.column_stack([1.5 * size * i, h * j + (np.abs(i) % 2) * h / 2])


def distance_band(xy: np.ndarray, d: float) -> sparse.csr_matrix:
    """Binary weights: 1 for cells within ``d`` (the cell itself included)."""
    tree = cKDTree(xy)
    w = tree.sparse_distance_matrix(tree, d, output_type="coo_matrix")
    w = sparse.coo_matrix((np.ones_like(w.data), (w.row, w.col)), shape=(len(xy), len(xy))).tocsr()
    w.setdiag(1.0)
    w.data[:] = 1.0
    return w


def knn(xy: np.ndarray, k: int) -> sparse.csr_matrix:
    """Binary weights: 1 for the ``k`` nearest cells and the cell itself."""
    k = min(k, len(xy) - 1)
    _, idx = cKDTree(xy).query(xy, k=k + 1)
    rows = np.repeat(np.arange(len(xy)), k + 1)
    w = sparse.csr_matrix((np.ones(rows.size), (rows, idx.ravel())), shape=(len(xy), len(xy)))
    w.data[:] = 1.0
    return w


def gi_star(y: np.ndarray, w: sparse.csr_matrix) -> np.ndarray:
    """Gi* z-scores for values ``y`` with binary weights ``w`` whose diagonal is 1."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    mean = y.sum() / n
    var = (y**2).sum() / n - mean**2
    g = (w @ y) / y.sum()
    card = np.asarray(w.sum(axis=1)).ravel()
    expected = card / n
    variance = card * (n - card) / (n - 1) / n**2 * var / mean**2
    return (g - expected) / np.sqrt(variance)


def morans_i_z(y: np.ndarray, w: sparse.csr_matrix) -> float:
    """Global Moran's I z-score under the normality assumption (self-weights excluded)."""
    w = sparse.csr_matrix(w)
    w = (w - sparse.diags(w.diagonal())).tocsr()  # in CSR: a LIL round trip cost ~50 ms a call on 4,000 cells
    w.eliminate_zeros()
    n = len(y)
    z = y - y.mean()
    s0 = w.sum()
    if s0 == 0 or not (z**2).sum():
        return 0.0
    i = n / s0 * (z @ (w @ z)) / (z @ z)
    ws = w + w.T
    s1 = 0.5 * ws.multiply(ws).sum()
    s2 = ((np.asarray(w.sum(axis=1)).ravel() + np.asarray(w.sum(axis=0)).ravel()) ** 2).sum()
    ei = -1 / (n - 1)
    vi = (n**2 * s1 - n * s2 + 3 * s0**2) / ((n**2 - 1) * s0**2) - ei**2
    return float((i - ei) / np.sqrt(vi))


KNN_SHARE, KNN_MIN, KNN_MAX = 0.05, 3, 30  # without a peak: K nearest cells, K a share of N, clamped


# Why a scale was chosen (gettext msgids: explanation pages write them in the page's language).
SCALE_REASONS = {
    "peak": "first peak of Moran's I z (%(z)s) at band %(band)s",
    "no peak": "no peak of Moran's I: K = %(share)s %% of N, clamped to %(low)s–%(high)s",
    "given": "set by the caller",
}


@dataclass
class Scale:
    kind: str  # "distance band" or "k nearest neighbours"
    value: float
    morans: list[tuple[float, float]]
    cause: str = "given"  # why it was chosen: a key of SCALE_REASONS
    reason_values: dict = field(default_factory=dict)  # what SCALE_REASONS[cause] is written with

    @property
    def reason(self) -> str:
        return SCALE_REASONS[self.cause] % self.reason_values


def choose_scale(xy: np.ndarray, y: np.ndarray, steps: int = 10) -> Scale:
    """Distance band at the first peak of Moran's I z over ``steps`` increasing bands, else KNN."""
    tree = cKDTree(xy)
    d1, _ = tree.query(xy, k=2)
    start = float(d1[:, 1].max())  # every cell has at least one neighbour
    step = float(np.mean(d1[:, 1])) * 0.5
    bands = [start + s * step for s in range(steps)]
    # one neighbour search at the widest band; each band keeps the pairs within its distance
    pairs = tree.query_pairs(bands[-1] * 1.000001, output_type="ndarray")
    dist = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
    # both directions of every pair, sorted as CSR stores them (row, then column): a band keeps a subsequence
    rows, cols = np.concatenate([pairs[:, 0], pairs[:, 1]]), np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((cols, rows))
    rows, cols, dist = rows[order], cols[order], np.concatenate([dist, dist])[order]
    series = []
    for d in bands:
        keep = dist <= d * 1.000001
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=len(xy)))])
        w = sparse.csr_matrix((np.ones(indptr[-1]), cols[keep], indptr), shape=(len(xy), len(xy)))
        series.append((d, morans_i_z(y, w)))
    zs = [z for _, z in series]
    for s in range(1, steps - 1):
        if zs[s] > zs[s - 1] and zs[s] >= zs[s + 1] and zs[s] > 1.96:
            return Scale("distance band", series[s][0], series, "peak", {"z": f"{zs[s]:.2f}", "band": s + 1})
    k = int(min(KNN_MAX, max(KNN_MIN, round(KNN_SHARE * len(y)))))
    values = {"share": round(KNN_SHARE * 100), "low": KNN_MIN, "high": KNN_MAX}
    return Scale("k nearest neighbours", k, series, "no peak", values)


MAX_GRID_CELLS = 100_000  # a chosen cell size may not cut the study area into more hexagons than this
HEXAGON_AREA = 3 * np.sqrt(3) / 2  # × edge²


def grid_problem(size: float, area_m2: float) -> str | None:
    """Why a hexagon edge of ``size`` metres cannot grid a study area of ``area_m2`` (None when it can): it must
    give at least a few cells (Gi* compares cells with their neighbours) and at most ``MAX_GRID_CELLS``."""
    smallest = float(np.sqrt(area_m2 / MAX_GRID_CELLS / HEXAGON_AREA))
    largest = float(np.sqrt(area_m2 / 3 / HEXAGON_AREA))  # at least 3 hexagons' worth of area
    if not (np.isfinite(size) and smallest <= size <= largest):
        return f"a hexagon edge of {size:g} m does not fit this study area: use {smallest:.0f}–{largest:.0f} m"
    return None


def scale_problem(scale: Scale, size: float, cells: int) -> str | None:
    """Why ``scale`` cannot weight ``cells`` hexagons of edge ``size`` (None when it can): a distance band must
    reach the nearest centres (√3 × edge) and k must be a whole number from 1 to cells − 1."""
    if scale.kind == "distance band":
        if not (np.isfinite(scale.value) and scale.value >= np.sqrt(3) * size):
            return (
                f"a distance band of {scale.value:g} m reaches no neighbouring cell: use at least "
                f"{np.sqrt(3) * size:.0f} m (√3 × the {size:.0f} m edge)"
            )
    elif scale.value != int(scale.value) or not 1 <= scale.value <= cells - 1:
        return f"k nearest neighbours must be a whole number from 1 to {cells - 1} (one less than the cells)"
    return None


def weights_for(xy: np.ndarray, scale: Scale) -> sparse.csr_matrix:
    if scale.kind == "distance band":
        return distance_band(xy, scale.value * 1.000001)
    return knn(xy, int(scale.value))


def classify(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided p-values, BH-adjusted q-values, and confidence bins (±99/95/90, 0 = not significant)."""
    p = 2 * stats.norm.sf(np.abs(z))
    q = stats.false_discovery_control(p, method="bh")
    conf = np.zeros(len(z), dtype=int)
    for alpha, level in reversed(CONFIDENCE):
        conf[q <= alpha] = level
    return p, q, np.sign(z).astype(int) * conf


def label(confidence: int) -> str:
    if confidence == 0:
        return "not significant"
    return f"{'hot' if confidence > 0 else 'cold'} spot ({abs(confidence)} % confidence)"


def suppressed(counts: np.ndarray, k: int) -> np.ndarray:
    """Cells too small to publish: holding at least one but fewer than ``k`` reports."""
    counts = np.asarray(counts)
    return (counts > 0) & (counts < k)
