"""Score runs: read inputs from PostGIS, compute with the domain methods, store results with the method,
its version and the parameters used. Each method runs in one transaction — its own (called with an Engine) or
the caller's (with a DB-API cursor); old runs are kept. The fields a
method reads are those its declaration names (``domain.score_methods.fields_for``), checked at start-up."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from psycopg2.extensions import cursor as Cursor
from sqlalchemy import Engine

from mapper import db
from mapper.domain import hotspots as hs
from mapper.domain import ratings, water
from mapper.domain.errors import ValidationFailed
from mapper.domain.layers import HotspotSettings, Layer, Registry
from mapper.domain.score_methods import METHODS as DECLARED
from mapper.domain.score_methods import fields_for
from mapper.store import scores as store

LIVABILITY_CELL_M = 400.0


class ScoreRefused(ValidationFailed):
    """A score cannot be computed on these inputs (the message says why)."""

    title = "Score refused"


@dataclass
class RunSummary:
    layer: str
    method: str
    run_id: int | None
    inputs: int
    detail: str


def reads(layer: Layer, method: str) -> list[str]:
    """The collections whose data a method's results on ``layer`` are computed from."""
    return [layer.id, *DECLARED[method].also_reads]


def _transaction(target, layer: Layer, method: str, work):
    """Run ``work(cur, seen)`` in its own transaction (``target`` an Engine) or in the caller's (a DB-API
    cursor); ``seen``: the data versions of what the method reads, taken before it reads them (so a change
    committed meanwhile makes the run stale rather than look current)."""
    if isinstance(target, Engine):
        with db.cursor(target, commit=True) as cur:
            return _transaction(cur, layer, method, work)
    # JIT compiling the binning query costs 0.7–1.2 s and saves nothing on one-pass aggregates;
    # hash aggregation of the bins needs more than the default 4 MB (else the planner sorts on disk).
    target.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
    return work(target, store.data_versions(target, reads(layer, method)))


def utm_srid(lon: float, lat: float) -> int:
    """The WGS 84 UTM zone holding a point: a metric projection for grids and distances."""
    zone = int((lon + 180) // 6) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def auto_cell_size(n: int, area_m2: float) -> float:
    """Hexagon edge giving about 4·√N cells (30–5,000) over the study area; at least 25 m."""
    cells = min(5000, max(30, round(4 * math.sqrt(n))))
    return max(25.0, math.sqrt(area_m2 / cells / (3 * math.sqrt(3) / 2)))


# --- hot spots -----------------------------------------------------------------------------------------------
def run_hotspots(
    engine: Engine | Cursor,
    layer: Layer,
    settings: HotspotSettings | None = None,
    *,
    cell_size_m: float | None = None,
    scale: tuple[str, float] | None = None,
) -> RunSummary:
    """Gi* hot spots of ``layer`` on a hexagon grid, published as ``{layer}-hotspots``."""
    settings = settings or layer.hotspots or HotspotSettings()
    fields = fields_for(layer, "hotspots", settings)
    where, params = store.layer_filter(
        layer, window_days=settings.window_days, where_field=fields["where"], where_values=settings.where_values
    )

    def work(cur, seen):
        area = store.study_area(cur, where, params)
        if area["n"] < hs.MIN_INCIDENTS:
            raise ScoreRefused(
                f"{layer.id}: {area['n']} reports match; hot spot analysis needs at least {hs.MIN_INCIDENTS} incidents"
            )
        if area["area_m2"] <= 0:
            raise ScoreRefused(f"{layer.id}: all reports are at one place; there is no area to analyse")
        srid = utm_srid(area["lon"], area["lat"])
        size = cell_size_m or settings.cell_size_m
        if size is not None and (problem := hs.grid_problem(size, area["area_m2"])):
            raise ScoreRefused(f"{layer.id}: {problem}")
        size = size or auto_cell_size(area["n"], area["area_m2"])
        rows = store.hotspot_bins(cur, where, params, srid=srid, size=size, inner=area["hull"], weight=fields["weight"])
        xy = hs.hexagon_centres(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), size)
        counts = np.array([r[5] for r in rows], dtype=int)
        y = np.array([r[6] for r in rows], dtype=float)
        chosen = hs.Scale(scale[0], scale[1], []) if scale else hs.choose_scale(xy, y)
        if scale and (problem := hs.scale_problem(chosen, size, len(rows))):
            raise ScoreRefused(f"{layer.id}: {problem}")
        z = hs.gi_star(y, hs.weights_for(xy, chosen))
        p, q, conf = hs.classify(z)
        hidden = hs.suppressed(counts, settings.min_count)
        run_params = {
            "cell": {"shape": "hexagon", "edge_m": size, "srid": srid, "cells": len(rows)},
            "scale": {
                "kind": chosen.kind,
                "value": chosen.value,
                "reason": chosen.reason,
                "cause": chosen.cause,
                "reason_values": chosen.reason_values,
                "morans_i_z": [[round(d, 1), round(zz, 3)] for d, zz in chosen.morans],
            },
            "weights": "binary, cell included (Gi*)",
            "weight_field": settings.weight_field,
            "window_days": settings.window_days,
            "filter": {settings.where_field: list(settings.where_values)} if settings.where_field else None,
            "fdr": "Benjamini–Hochberg (scipy.stats.false_discovery_control)",
            "confidence_bins": "q ≤ 0.01: 99 %, ≤ 0.05: 95 %, ≤ 0.10: 90 %",
            "min_count_published": settings.min_count,
            "reference": hs.REFERENCE,
        }
        run_id = store.insert_run(cur, layer.id, "hotspots", f"{hs.METHOD}/{hs.VERSION}", run_params, area["n"], seen)
        features = []
        for k, row in enumerate(rows):
            props = {
                "reports": int(counts[k]),
                "weight": float(y[k]),
                "gi_z": float(z[k]),
                "p_value": float(p[k]),
                "q_value": float(q[k]),
                "confidence": int(conf[k]),
                "class": hs.label(int(conf[k])),
                "run_id": run_id,
            }
            features.append(
                (bytes(row[4]), props, "suppressed" if hidden[k] else "published", {"i": int(row[0]), "j": int(row[1])})
            )
        store.replace_derived(cur, f"{layer.id}-hotspots", run_id, features)
        hot = int((conf > 0).sum())
        cold = int((conf < 0).sum())
        return RunSummary(
            layer.id,
            "hotspots",
            run_id,
            area["n"],
            f"{len(rows)} cells of {size:.0f} m, {chosen.kind} {chosen.value:g}; "
            f"{hot} hot, {cold} cold, {int(hidden.sum())} suppressed (< {settings.min_count} reports)",
        )

    return _transaction(engine, layer, "hotspots", work)


# --- water quality -------------------------------------------------------------------------------------------
POINT_GRID = 0.00001  # degrees: samples with no point name are grouped by location to ~1 m
ALERT_STATES = {
    "submitted": "alert — unverified",
    "verified": "alert — verified",
    "in_progress": "alert — verified",
    "closed": "alert dismissed",
    "resolved": "alert resolved",
    "reopened": "alert — reopened",
}


def run_water_quality(engine: Engine | Cursor, layer: Layer, changed: list[int] | None = None) -> RunSummary:
    """Score every water point (its samples grouped by name, else by location). With ``changed`` (the reports a
    writer just wrote) only their water points are scored again; the newest run's other results are carried over
    into the new run in SQL, so each run still holds every point (when the method's version and parameters are
    those of the newest run; else every point is scored)."""
    objectives, meta = water.load_guidelines()
    fields = fields_for(layer, "water_quality")
    alert, point = fields["alert"], fields["point"]
    where, params = store.layer_filter(layer)
    version = f"who-jmp-ccme/{meta['method_version']}"
    run_params = {
        "guidelines": {k: {"lower": o.lower, "upper": o.upper, "note": o.note} for k, o in objectives.items()},
        "guidelines_source": meta["source"],
        "e_coli_bands": water.E_COLI_REFERENCE,
        "ccme": f"{water.CCME_REFERENCE}; computed when ≥ {water.CCME_MIN_VARIABLES} variables "
        f"were each sampled ≥ {water.CCME_MIN_SAMPLES} times",
        "point": f"samples grouped by {point.name}, else by location (1 m)"
        if point
        else "samples grouped by location (1 m)",
    }

    def work(cur, seen):
        previous = store.latest_run(cur, layer.id, "water_quality") if changed else None
        same = previous and previous["version"] == version and previous["params"] == json.loads(json.dumps(run_params))
        subjects = store.subjects_of(cur, layer.id, changed, name=point, grid=POINT_GRID) if same else None
        groups = store.group_inputs(cur, where, params, name=point, grid=POINT_GRID, subjects=subjects)
        inputs = store.count_matching(cur, where, params) if same else sum(len(g[1]) for g in groups)
        run_id = store.insert_run(cur, layer.id, "water_quality", version, run_params, inputs, seen)
        carried = store.copy_scores(cur, previous["id"], run_id, subjects) if same else 0
        rows = []
        for key, ids, props, _private, statuses, times, _centre in groups:
            result = water.score_water_point(list(props), objectives)
            alerts = [(i, st) for i, pr, st in zip(ids, props, statuses, strict=True) if alert and pr.get(alert.name)]
            if alerts:
                alert_id, status = alerts[-1]
                result["alert"] = {"state": ALERT_STATES.get(status, f"alert — {status}"), "report_id": alert_id}
            result["sampled"] = [t.isoformat() for t in times]
            rows.append((key, list(ids), result))
        store.insert_scores(cur, run_id, layer.id, rows)
        unsafe = sum(1 for _, _, r in rows if r["safety"] == water.UNSAFE)
        scored = f"{len(rows)} water points scored" + (f", {carried} carried over" if same else "")
        return RunSummary(layer.id, "water_quality", run_id, len(rows) + carried, f"{scored}, {unsafe} unsafe")

    return _transaction(engine, layer, "water_quality", work)


# --- health centre ratings -----------------------------------------------------------------------------------
CENTRE_GRID = 0.0001  # degrees: ratings of a centre with no name are grouped by location to ~10 m


def run_ratings(engine: Engine | Cursor, layer: Layer) -> RunSummary:
    """Bayesian-average ratings, complaint counts per month and services, per centre (by name)."""
    fields = fields_for(layer, "ratings")
    rating, services_field, complaint = fields["rating"], fields["services"], fields["complaint"]
    where, params = store.layer_filter(layer)

    def value(f, public: dict, private: dict):
        """The value of field ``f`` in a report, from its public or its private properties."""
        return None if f is None else (public if f.public else private).get(f.name)

    def work(cur, seen):
        groups = store.group_inputs(cur, where, params, name=fields["centre"], grid=CENTRE_GRID)
        all_ratings = [
            v for g in groups for p, q in zip(g[2], g[3], strict=True) if (v := value(rating, p, q)) is not None
        ]
        prior = ratings.prior(all_ratings)
        run_id = store.insert_run(
            cur,
            layer.id,
            "ratings",
            f"bayesian-average/{ratings.VERSION}",
            {
                "prior_mean": prior.mean,
                "prior_weight": prior.weight,
                "prior": prior.explain,
                "reference": ratings.REFERENCE,
            },
            len(all_ratings),
            seen,
        )
        rows = []
        for key, ids, props, private, _statuses, times, _centre in groups:
            both = list(zip(props, private, strict=True))
            values = [v for p, q in both if (v := value(rating, p, q)) is not None]
            services = sorted({s for p, q in both for s in (value(services_field, p, q) or [])})
            complaints: dict[str, int] = {}
            for (p, q), t in zip(both, times, strict=True):
                if value(complaint, p, q):
                    complaints[t.strftime("%Y-%m")] = complaints.get(t.strftime("%Y-%m"), 0) + 1
            rows.append(
                (
                    key,
                    list(ids),
                    {
                        "centre": key,
                        "ratings": len(values),
                        "mean": (sum(values) / len(values)) if values else None,
                        "bayesian_average": ratings.bayesian_average(values, prior),
                        "services": services,
                        "complaints_by_month": complaints,
                        "complaints": sum(complaints.values()),
                    },
                )
            )
        store.insert_scores(cur, run_id, layer.id, rows)
        return RunSummary(layer.id, "ratings", run_id, len(all_ratings), f"{len(rows)} centres")

    return _transaction(engine, layer, "ratings", work)


# --- urban life: livability by area --------------------------------------------------------------------------
def run_livability(engine: Engine | Cursor, layer: Layer, cell_size_m: float = LIVABILITY_CELL_M) -> RunSummary:
    """Positive/negative report shares per hexagon, with Wilson 95 % intervals, as ``{layer}-areas``."""
    fields = fields_for(layer, "livability")
    positive, negative = DECLARED["livability"].reading("sentiment").values
    (safety,) = DECLARED["livability"].reading("theme").values
    where, params = store.layer_filter(layer)

    def work(cur, seen):
        area = store.study_area(cur, where, params)
        if area["n"] == 0:
            raise ScoreRefused(f"{layer.id}: no reports to score")
        srid = utm_srid(area["lon"], area["lat"])
        rows = store.livability_bins(
            cur,
            where,
            params,
            srid=srid,
            size=cell_size_m,
            inner=area["hull"],
            sentiment=fields["sentiment"],
            theme=fields["theme"],
            positive=positive,
            negative=negative,
            safety=safety,
        )
        run_id = store.insert_run(
            cur,
            layer.id,
            "livability",
            f"wilson-share/{ratings.VERSION}",
            {
                "cell": {"shape": "hexagon", "edge_m": cell_size_m, "srid": srid},
                "interval": "Wilson score interval, 95 %",
                "reference": ratings.WILSON_REFERENCE,
            },
            area["n"],
            seen,
        )
        features = []
        for row in rows:
            pos, neg, spos, sn = (int(v) for v in row[5:9])
            if pos + neg == 0:
                continue
            low, high = ratings.wilson(pos, pos + neg)
            features.append(
                (
                    bytes(row[4]),
                    {
                        "positive": pos,
                        "negative": neg,
                        "reports": pos + neg,
                        "livability": pos / (pos + neg),
                        "livability_low": low,
                        "livability_high": high,
                        "safety": spos / sn if sn else None,
                        "safety_reports": sn,
                        "run_id": run_id,
                    },
                    "published",
                    {"i": int(row[0]), "j": int(row[1])},
                )
            )
        store.replace_derived(cur, f"{layer.id}-areas", run_id, features)
        return RunSummary(layer.id, "livability", run_id, area["n"], f"{len(features)} areas of {cell_size_m:g} m")

    return _transaction(engine, layer, "livability", work)


# --- land use by district ------------------------------------------------------------------------------------
def run_land_use(engine: Engine | Cursor, layer: Layer) -> RunSummary:
    """Area by class, public space share and public space per resident, per district."""
    fields = fields_for(layer, "land_use")
    public_classes = list(DECLARED["land_use"].reading("land_class").values)
    where, params = store.layer_filter(layer)

    def work(cur, seen):
        rows = store.district_land_use(
            cur,
            where,
            params,
            land_class=fields["land_class"],
            district=fields["district"],
            population=fields["population"],
            public_classes=public_classes,
        )
        run_id = store.insert_run(
            cur,
            layer.id,
            "land_use",
            "district-areas/1.0",
            {"public_space_classes": public_classes, "area": "geodesic (PostGIS geography, WGS 84 ellipsoid)"},
            len(rows),
            seen,
        )
        features, results = [], []
        for district, wkb, area, public, population, classes, ids in rows:
            population = int(population) if population is not None else None
            props = {
                "district": district,
                "area_m2": area,
                "public_space_m2": public,
                "public_space_share": public / area if area else None,
                "population": population,
                "public_space_per_person_m2": public / population if population else None,
                "run_id": run_id,
            }
            features.append((bytes(wkb), props, "published", {}))
            results.append((district, list(ids), {**props, "area_by_class_m2": classes}))
        store.replace_derived(cur, f"{layer.id}-districts", run_id, features)
        store.insert_scores(cur, run_id, layer.id, results)
        return RunSummary(layer.id, "land_use", run_id, len(rows), f"{len(rows)} districts")

    return _transaction(engine, layer, "land_use", work)


# --- transit access -----------------------------------------------------------------------------------------
ACCESS_LOW_M, ACCESS_HIGH_M = 500.0, 1000.0
ACCESS_REFERENCE = (
    "UN SDG indicator 11.2.1 (convenient access to public transport): 500 m walking distance "
    "to low-capacity stops (bus, tram), 1 km to high-capacity ones (rail, metro, ferry)"
)


def run_transit_access(engine: Engine | Cursor, layer: Layer) -> RunSummary:
    """Distance to the nearest transit stop and departures per day within reach, per report."""
    where, params = store.layer_filter(layer, alias="r.")

    def work(cur, seen):
        rows = store.transit_access(cur, where, params, ACCESS_LOW_M, ACCESS_HIGH_M)
        run_id = store.insert_run(
            cur,
            layer.id,
            "transit_access",
            "sdg-11.2.1-departures/1.0",
            {
                "radius_low_capacity_m": ACCESS_LOW_M,
                "radius_high_capacity_m": ACCESS_HIGH_M,
                "distance": "geodesic (PostGIS geography)",
                "departures": "stop departures per day on each feed's "
                "service date, summed over the stops within reach (a trip calling at two such stops counts twice)",
                "reference": ACCESS_REFERENCE,
            },
            len(rows),
            seen,
        )
        results = []
        for rid, stop, feed, metres, departures, stops, day in rows:
            results.append(
                (
                    str(rid),
                    [rid],
                    {
                        "nearest_stop": stop,
                        "feed": feed,
                        "nearest_stop_m": metres,
                        "departures_within_reach": departures,
                        "stops_within_reach": stops,
                        "service_date": day,
                        "convenient_access": bool(stops),
                    },
                )
            )
        store.insert_scores(cur, run_id, layer.id, results)
        served = sum(1 for _, _, r in results if r["convenient_access"])
        return RunSummary(
            layer.id, "transit_access", run_id, len(rows), f"{served} of {len(rows)} within reach of a stop"
        )

    return _transaction(engine, layer, "transit_access", work)


METHODS = {
    "transit_access": run_transit_access,
    "water_quality": run_water_quality,
    "ratings": run_ratings,
    "livability": run_livability,
    "land_use": run_land_use,
}


def score_layer(engine: Engine, layer: Layer) -> list[RunSummary]:
    """Every score the layer declares (hot spots first). A refused score is reported, not raised."""
    out = []
    for method in layer.score_methods:
        try:
            out.append(run_method(engine, layer, method))
        except ScoreRefused as e:
            out.append(RunSummary(layer.id, method, None, 0, f"refused: {e}"))
    return out


def score_all(engine: Engine, registry: Registry, layer_ids: list[str] | None = None) -> list[RunSummary]:
    return [s for layer in registry if not layer_ids or layer.id in layer_ids for s in score_layer(engine, layer)]


# --- keeping scores current ------------------------------------------------------------------------------------
WRITE_LOCK = "write"  # serialises the runs writers make in their transactions, per layer


def methods_of(layer: Layer, kept_by: str) -> list[str]:
    """The score methods of ``layer`` (hot spots first) kept current by ``kept_by`` (``"writer"`` or
    ``"worker"``, from ``domain.score_methods``)."""
    return [m for m in layer.score_methods if DECLARED[m].kept_by == kept_by]


def run_method(target: Engine | Cursor, layer: Layer, method: str, changed: list[int] | None = None) -> RunSummary:
    """One run of a method as the layer declares it (may raise ScoreRefused); ``changed``: the reports a writer
    just wrote, for the methods that score only what they change (``INCREMENTAL``)."""
    if changed and method in INCREMENTAL:
        return INCREMENTAL[method](target, layer, changed)
    return (run_hotspots if method == "hotspots" else METHODS[method])(target, layer)


# Writer-kept methods that can score only the subjects of the reports just written.
INCREMENTAL = {"water_quality": run_water_quality}


def after_change(cur: Cursor, layer: Layer, changed: list[int] | None = None) -> list[RunSummary]:
    """The one rule for every writer of a layer's reports (intake, alert decisions, imports): after changing
    them, in the same transaction (``cur``), recompute the layer's per-report scores, so they are current
    when it commits. Concurrent writers of a layer take turns here (an advisory lock held to their commit),
    so each run reads the reports the one before it wrote and the newest run has them all. Area and hot spot
    scores are left to ``mapper worker`` (``services.worker``), which sees the layer's data version change.
    ``changed``: the reports written (None: any number, as a bulk import), so a method may score only theirs."""
    methods = methods_of(layer, "writer")
    if not methods:
        return []
    store.lock_layer(cur, WRITE_LOCK, layer.id)
    return [run_method(cur, layer, m, changed) for m in methods]
