"""Score explanations: how a score was computed, in JSON and in plain words."""

from __future__ import annotations

from sqlalchemy import Engine

from mapper import db
from mapper.domain.errors import NotFound
from mapper.domain.privacy import View
from mapper.store import scores as store
from mapper.store.features import where_for


def _read(engine: Engine, fn, *args):
    with db.cursor(engine) as cur:
        return fn(cur, *args)


def _run(run) -> dict:
    run_id, method, version, params, inputs, computed_at = run
    return {
        "run_id": run_id,
        "method": method,
        "method_version": version,
        "computed_at": computed_at.isoformat(),
        "inputs": inputs,
        "parameters": params,
        "reference": (params or {}).get("reference"),
    }


def _scope(view: View) -> tuple[list[str], dict]:
    """The view's layer and visibility clauses (what the feeds of this view show), and their parameters."""
    where = where_for(view)
    return where.scope, where.params


def explain(engine: Engine, view: View, subject_id: int) -> dict:
    """Explain the score(s) of a report (report layers) or of a derived feature (hot spot cell, area), as
    ``view`` may see it: only scores computed from reports (or of features) the view's feeds show."""
    layer = view.layer
    if layer.table == "derived_features":
        row = _read(engine, store.derived_feature, subject_id, *_scope(view))
        if row is None:
            raise NotFound(f"No published feature {subject_id} in {layer.id!r}.")
        fid, props, status, *run = row
        doc = {"collection": layer.id, "id": fid, "status": status, **_run(run), "result": props}
        doc["summary"] = SUMMARIES[run[1]](doc)
        return doc
    rows = _read(engine, store.latest_scores_for_report, layer.id, subject_id, *_scope(view))
    if not rows:
        raise NotFound(f"Report {subject_id} of {layer.id!r} has no score yet.")
    explained = []
    for run_id, method, version, params, inputs, computed_at, subject, report_ids, result in rows:
        doc = {
            **_run((run_id, method, version, params, inputs, computed_at)),
            "subject": subject,
            "reports_used": len(report_ids),
            "result": result,
        }
        doc["summary"] = SUMMARIES[method](doc)
        explained.append(doc)
    return {
        "layer": layer.id,
        "report_id": subject_id,
        "scores": explained,
        "summary": " ".join(d["summary"] for d in explained),
    }


def latest(engine: Engine, view: View, method: str) -> dict:
    """The newest run of a method and its results (e.g. every water point, every health centre), those
    computed from reports ``view`` may all see."""
    layer_id = view.layer.id
    run, rows = _read(engine, store.latest_run_scores, layer_id, method, *_scope(view))
    if run is None:
        raise NotFound(f"No {method} score has been computed for {layer_id!r} (run `mapper score {layer_id}`).")
    return {**_run(run), "results": [{"subject": s, "reports_used": len(ids), **r} for s, ids, r in rows]}


# --- plain words ---------------------------------------------------------------------------------------------
def _hotspots(d: dict) -> str:
    r, p = d["result"], d["parameters"]
    scale = p["scale"]
    scale_words = (
        f"neighbours within {scale['value']:.0f} m"
        if scale["kind"] == "distance band"
        else f"its {scale['value']:g} nearest cells"
    )
    weight = f" (weighted total {r['weight']:g} by {p['weight_field']})" if p.get("weight_field") else ""
    return (
        f"This hexagon holds {r['reports']} report(s){weight}. Getis-Ord Gi* compares the sum over the cell and "
        f"{scale_words} ({scale['reason']}) with what {p['cell']['cells']} hexagons of {p['cell']['edge_m']:.0f} m "
        f"would give at random: z = {r['gi_z']:.2f}, two-sided p = {r['p_value']:.3g}. After the "
        f"Benjamini–Hochberg false-discovery correction over all cells, q = {r['q_value']:.3g}: "
        f"{r['class']}. Cells with fewer than {p['min_count_published']} reports are not published."
    )


def _water(d: dict) -> str:
    r = d["result"]
    words = [f"Water point {d['subject']} ({r['samples']} sample(s)): {r['safety']} — {r['reason']}."]
    if "e_coli" in r:
        words.append(
            f"E. coli {r['e_coli']['value']:g} CFU/100 mL is in the {r['e_coli']['band']} risk band (JMP); "
            "any detection makes a point unsafe."
        )
    if "ccme" in r:
        c = r["ccme"]
        words.append(
            f"CCME Water Quality Index {c['index']:.2f} ({c['category']}) from {c['tests']} tests of "
            f"{c['variables']} variables: F1 {c['F1']:.1f}, F2 {c['F2']:.1f}, F3 {c['F3']:.1f}."
        )
    else:
        words.append(
            "Too few samples for the CCME index (it needs at least 4 variables each sampled at least "
            "4 times), so each measurement of the latest sample was checked against its WHO guideline."
        )
    if "alert" in r:
        words.append(f"Citizen alert: {r['alert']['state']}.")
    return " ".join(words)


def _ratings(d: dict) -> str:
    r, p = d["result"], d["parameters"]
    if not r["ratings"]:
        return f"{r['centre']} has no rating yet; it is shown at the prior {p['prior_mean']:.2f}."
    return (
        f"{r['centre']}: {r['ratings']} rating(s) with mean {r['mean']:.2f}. The Bayesian average "
        f"{r['bayesian_average']:.2f} = ({p['prior_weight']:g} × {p['prior_mean']:.2f} + sum of ratings) / "
        f"({p['prior_weight']:g} + {r['ratings']}) pulls small samples towards the city-wide mean, so a centre "
        f"with one 5-star rating does not outrank one with many good ones. {r['complaints']} complaint(s) filed."
    )


def _livability(d: dict) -> str:
    r = d["result"]
    return (
        f"{r['positive']} positive and {r['negative']} negative report(s) in this "
        f"{d['parameters']['cell']['edge_m']:g} m "
        f"hexagon: livability {r['livability']:.0%} (95 % Wilson interval {r['livability_low']:.0%}–"
        f"{r['livability_high']:.0%}; wide intervals mean few reports)."
    )


def _land_use(d: dict) -> str:
    r = d["result"]
    words = [
        f"District {r['district']}: {r['area_m2'] / 1e4:.1f} ha mapped, of which "
        f"{r['public_space_m2'] / 1e4:.1f} ha public or green space ({(r['public_space_share'] or 0):.0%})."
    ]
    if r.get("public_space_per_person_m2") is not None:
        words.append(f"That is {r['public_space_per_person_m2']:.1f} m² per resident for {r['population']} residents.")
    return " ".join(words)


def _transit(d: dict) -> str:
    r, p = d["result"], d["parameters"]
    if r["nearest_stop"] is None:
        return "No GTFS feed has been imported, so transit access is unknown."
    return (
        f"The nearest transit stop is {r['nearest_stop']} ({r['feed']}), {r['nearest_stop_m']:.0f} m away. "
        f"{r['stops_within_reach']} stop(s) lie within {p['radius_low_capacity_m']:.0f} m "
        f"({p['radius_high_capacity_m']:.0f} m for rail, metro or ferry), with {r['departures_within_reach']} "
        f"departures per day on {r['service_date']} (UN SDG 11.2.1 distances)."
    )


SUMMARIES = {
    "transit_access": _transit,
    "hotspots": _hotspots,
    "water_quality": _water,
    "ratings": _ratings,
    "livability": _livability,
    "land_use": _land_use,
}
