"""Demo data: a plausible small city so the first map is not empty.

The city is Columbus, Ohio, as shipped by libpysal (``columbus``: 49 neighbourhoods with their 1980 crime
rates, house values and incomes). Its coordinates are in an unnamed local grid, so they are placed on
Columbus' real extent by an affine map. Crime points are drawn inside each neighbourhood in proportion to
its real crime rate; the other layers are generated around them with a fixed seed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import shapely
from libpysal import examples
from sqlalchemy import Engine

from mapper.domain.layers import Registry
from mapper.services.importer import import_frame
from mapper.store import reports as repository

# Columbus, OH: lon/lat box the neighbourhood grid is mapped onto.
BOX = (-83.10, 39.90, -82.90, 40.06)
DEMO_SOURCE = "demo"


def neighbourhoods() -> gpd.GeoDataFrame:
    """libpysal's Columbus neighbourhoods, georeferenced to lon/lat."""
    gdf = gpd.read_file(examples.get_path("columbus.shp"))
    x0, y0, x1, y1 = gdf.total_bounds
    sx, sy = (BOX[2] - BOX[0]) / (x1 - x0), (BOX[3] - BOX[1]) / (y1 - y0)
    geoms = shapely.transform(
        gdf.geometry.values, lambda c: np.column_stack([BOX[0] + (c[:, 0] - x0) * sx, BOX[1] + (c[:, 1] - y0) * sy])
    )
    return gpd.GeoDataFrame(gdf.drop(columns="geometry"), geometry=shapely.make_valid(geoms), crs=4326)


def _points_in(polys, counts, rng) -> np.ndarray:
    out = []
    for poly, n in zip(polys, counts, strict=True):
        x0, y0, x1, y1 = poly.bounds
        got = []
        while len(got) < n:
            pts = shapely.points(rng.uniform(x0, x1, 4 * n + 4), rng.uniform(y0, y1, 4 * n + 4))
            got += list(pts[shapely.contains(poly, pts)])
        out += got[:n]
    return np.array(out, dtype=object)


def _times(rng, n, days=180) -> list[str]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        (now - timedelta(minutes=int(m))).strftime("%Y-%m-%dT%H:%M:%SZ") for m in rng.integers(0, days * 24 * 60, n)
    ]


def demo_frames(seed: int = 2026) -> dict[str, gpd.GeoDataFrame]:
    """Generated reports per layer id."""
    rng = np.random.default_rng(seed)
    hoods = neighbourhoods()
    polys = hoods.geometry.values
    frames = {}

    crime_counts = np.maximum(1, np.round(hoods["CRIME"].to_numpy() * 0.8)).astype(int)
    pts = _points_in(polys, crime_counts, rng)
    cats = ["theft", "burglary", "robbery", "assault", "vandalism", "vehicle_crime", "drug_dealing", "harassment"]
    frames["crime"] = gpd.GeoDataFrame(
        {
            "category": rng.choice(cats, len(pts), p=[0.3, 0.2, 0.08, 0.1, 0.12, 0.12, 0.04, 0.04]),
            "severity": rng.choice([1, 2, 3, 4, 5], len(pts), p=[0.3, 0.3, 0.2, 0.15, 0.05]).astype(int),
            "occurred_at": _times(rng, len(pts)),
            "description": ["Seen by a neighbour (demo data)."] * len(pts),
            "reported_to_police": rng.random(len(pts)) < 0.4,
        },
        geometry=pts,
        crs=4326,
    )

    n = 60
    pts = _points_in(polys, rng.multinomial(n, np.ones(len(polys)) / len(polys)), rng)
    ecoli = np.where(rng.random(n) < 0.25, rng.choice([1, 5, 20, 150], n), 0).astype(float)
    frames["water_quality"] = gpd.GeoDataFrame(
        {
            "point_name": [f"Water point {i + 1}" for i in range(n)],
            "source_type": rng.choice(["piped_tap", "public_standpipe", "borehole", "protected_well", "kiosk"], n),
            "functional_status": rng.choice(
                ["functional", "partially_functional", "not_functional"], n, p=[0.75, 0.15, 0.1]
            ),
            "sampled_at": _times(rng, n, 60),
            "e_coli_cfu_100ml": ecoli,
            "turbidity_ntu": np.round(rng.gamma(1.5, 1.5, n), 2),
            "ph": np.round(rng.normal(7.3, 0.5, n).clip(5.5, 9.5), 2),
            "free_chlorine_mg_l": np.round(rng.uniform(0, 1.2, n), 2),
            "nitrate_mg_l": np.round(rng.gamma(2, 8, n), 1),
            "arsenic_mg_l": np.round(rng.gamma(1, 0.004, n), 4),
            "alert": ecoli > 10,
        },
        geometry=pts,
        crs=4326,
    )

    n = 15
    services = [
        "primary_care",
        "maternity",
        "sexual_reproductive_health",
        "family_planning",
        "hiv_testing",
        "vaccination",
        "emergency",
        "mental_health",
        "pharmacy",
        "laboratory",
        "paediatrics",
    ]
    pts = _points_in(polys, rng.multinomial(n, np.ones(len(polys)) / len(polys)), rng)
    frames["health_centres"] = gpd.GeoDataFrame(
        {
            "centre_name": [
                f"{name} Health Centre"
                for name in [
                    "Linden",
                    "Franklinton",
                    "Hilltop",
                    "Near East",
                    "Clintonville",
                    "German Village",
                    "Weinland Park",
                    "Olde Towne",
                    "Driving Park",
                    "Milo-Grogan",
                    "Italian Village",
                    "Victorian Village",
                    "Southern Orchards",
                    "Merion Village",
                    "Harrison West",
                ]
            ],
            "services": [list(rng.choice(services, rng.integers(2, 7), replace=False)) for _ in range(n)],
            "opening_hours": rng.choice(["Mo-Fr 08:00-17:00", "Mo-Sa 08:00-20:00", "24/7"], n),
            "rating": rng.integers(1, 6, n),
            "visited_on": [t[:10] for t in _times(rng, n, 90)],
        },
        geometry=pts,
        crs=4326,
    )

    n = 400
    pts = _points_in(polys, rng.multinomial(n, np.ones(len(polys)) / len(polys)), rng)
    sentiment = rng.choice(["positive", "negative"], n, p=[0.45, 0.55])
    frames["urban_life"] = gpd.GeoDataFrame(
        {
            "sentiment": sentiment,
            "theme": rng.choice(["safety", "lighting", "cleanliness", "accessibility", "noise", "greenery"], n),
            "rating": np.where(sentiment == "positive", rng.integers(3, 6, n), rng.integers(1, 4, n)),
            "observed_at": _times(rng, n, 120),
        },
        geometry=pts,
        crs=4326,
    )

    inc = hoods["INC"].to_numpy()
    land_class = np.select(
        [hoods["DISCBD"].to_numpy() < 1.0, inc < 10, inc > 20],
        ["commercial", "informal_settlement", "titled"],
        "residential",
    )
    area = gpd.GeoSeries(polys, crs=4326).to_crs(32617).area.to_numpy()
    frames["land_use"] = gpd.GeoDataFrame(
        {
            "land_class": land_class,
            "title_reference": [
                f"FR-{int(p):04d}" if c == "titled" else None for p, c in zip(hoods["POLYID"], land_class, strict=True)
            ],
            "area_m2": np.round(area, 0),
            "district": [f"Neighbourhood {int(p)}" for p in hoods["POLYID"]],
            "population": np.round(area / 1e6 * rng.uniform(1500, 4500, len(polys))).astype(int),
        },
        geometry=polys,
        crs=4326,
    )
    return frames


def load_demo(engine: Engine, registry: Registry, reset: bool = False) -> dict[str, int]:
    """Load the demo reports (once; ``reset`` replaces them). Returns rows loaded per layer."""
    with engine.begin() as conn:
        if repository.count_reports(conn, source=DEMO_SOURCE) and not reset:
            return {}
        repository.delete_imports_from(conn, DEMO_SOURCE)
    loaded = {}
    for layer_id, gdf in demo_frames().items():
        layer = registry.get(layer_id)
        if layer is None:  # a deployment may drop one of the shipped layers
            continue
        result = import_frame(engine, layer, gdf, f"demo:{layer_id}", source=DEMO_SOURCE)
        loaded[layer_id] = result.rows
    return loaded
