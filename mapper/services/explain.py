"""Score explanations: how a score was computed, in JSON and in plain words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from sqlalchemy import Engine

from mapper import db
from mapper.domain import hotspots, water
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
        doc["summary"] = in_words(doc)
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
        doc["summary"] = in_words(doc)
        explained.append(doc)
    return {
        "layer": layer.id,
        "report_id": subject_id,
        "scores": explained,
        "summary": " ".join(d["summary"] for d in explained),
    }


def latest_runs(engine: Engine, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """When the newest run of each (layer, method) of ``wanted`` was computed, and from how many reports."""
    runs = _read(engine, store.latest_runs, wanted)
    return {
        key: {"computed_at": at.astimezone(UTC).isoformat(), "inputs": inputs} for key, (at, inputs) in runs.items()
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
# Each summary takes the gettext to write with: ``english`` for the JSON (API values are not translated), the
# page's language for the explanation pages (``in_words``). The values a method produces (a class, a band) are
# looked up too: ``mapper.catalogs`` extracts them from the modules that define them.
Gettext = Callable[..., str]


def english(message: str, **values) -> str:
    """The msgid itself, formatted as gettext formats it."""
    return message % values if values else message


def in_words(doc: dict, _: Gettext = english) -> str:
    """The plain-words summary of one explained score, in the language ``_`` writes."""
    return SUMMARIES[doc["method"]](doc, _)


def confidence_label(confidence: int, _: Gettext = english) -> str:
    """A Gi* cell's class in words: its confidence bin (signed: hot > 0 > cold; 0 = not significant)."""
    if confidence > 0:
        return _("Hot spot, %(c)s %% confidence", c=confidence)
    if confidence < 0:
        return _("Cold spot, %(c)s %% confidence", c=-confidence)
    return _("Not significant")


def scale_reason(scale: dict, _: Gettext = english) -> str:
    """Why a hot spot run chose its scale, in the language ``_`` writes (runs stored before the reason's values
    were kept give their English words)."""
    if "cause" not in scale:
        return scale["reason"]
    return _(hotspots.SCALE_REASONS[scale["cause"]], **scale["reason_values"])


def _hotspots(d: dict, _: Gettext) -> str:
    r, p = d["result"], d["parameters"]
    scale = p["scale"]
    if scale["kind"] == "distance band":
        scale_words = _("neighbours within %(metres)s m", metres=f"{scale['value']:.0f}")
    else:
        scale_words = _("its %(k)s nearest cells", k=f"{scale['value']:g}")
    words = [_("This hexagon holds %(reports)s report(s).", reports=r["reports"])]
    if p.get("weight_field"):
        words.append(_("Weighted total: %(weight)s by %(field)s.", weight=f"{r['weight']:g}", field=p["weight_field"]))
    words.append(
        _(
            "Getis-Ord Gi* compares the sum over the cell and %(scale)s (%(reason)s) with what %(cells)s hexagons "
            "of %(edge)s m would give at random: z = %(z)s, two-sided p = %(p)s. After the Benjamini–Hochberg "
            "false-discovery correction over all cells, q = %(q)s: %(class)s. Cells with fewer than %(min)s "
            "reports are not published.",
            scale=scale_words,
            reason=scale_reason(scale, _),
            cells=p["cell"]["cells"],
            edge=f"{p['cell']['edge_m']:.0f}",
            z=f"{r['gi_z']:.2f}",
            p=f"{r['p_value']:.3g}",
            q=f"{r['q_value']:.3g}",
            **{"class": confidence_label(r["confidence"], _)},
            min=p["min_count_published"],
        )
    )
    return " ".join(words)


def _water(d: dict, _: Gettext) -> str:
    r = d["result"]
    words = [
        _(
            "Water point %(point)s (%(samples)s sample(s)): %(safety)s — %(reason)s.",
            point=d["subject"],
            samples=r["samples"],
            safety=_(r["safety"]),
            reason=water_reason(r, _),
        )
    ]
    if "e_coli" in r:
        words.append(
            _(
                "E. coli %(value)s CFU/100 mL is in the %(band)s risk band (JMP); any detection makes a point unsafe.",
                value=f"{r['e_coli']['value']:g}",
                band=_(r["e_coli"]["band"]),
            )
        )
    if "ccme" in r:
        c = r["ccme"]
        words.append(
            _(
                "CCME Water Quality Index %(index)s (%(category)s) from %(tests)s tests of %(variables)s variables: "
                "F1 %(f1)s, F2 %(f2)s, F3 %(f3)s.",
                index=f"{c['index']:.2f}",
                category=_(c["category"]),
                tests=c["tests"],
                variables=c["variables"],
                f1=f"{c['F1']:.1f}",
                f2=f"{c['F2']:.1f}",
                f3=f"{c['F3']:.1f}",
            )
        )
    else:
        words.append(
            _(
                "Too few samples for the CCME index (it needs at least %(variables)s variables each sampled at least "
                "%(times)s times), so each measurement of the latest sample was checked against its WHO guideline.",
                variables=4,
                times=4,
            )
        )
    if "alert" in r:
        words.append(_("Citizen alert: %(state)s.", state=_(r["alert"]["state"])))
    return " ".join(words)


def water_reason(result: dict, _: Gettext = english) -> str:
    """Why a water point has its safety, in the language ``_`` writes."""
    return _(water.REASONS[result["safety"]], **water.reason_values(result))


def _ratings(d: dict, _: Gettext) -> str:
    r, p = d["result"], d["parameters"]
    if not r["ratings"]:
        return _(
            "%(centre)s has no rating yet; it is shown at the prior %(prior)s.",
            centre=r["centre"],
            prior=f"{p['prior_mean']:.2f}",
        )
    return _(
        "%(centre)s: %(ratings)s rating(s) with mean %(mean)s. The Bayesian average %(average)s = (%(weight)s × "
        "%(prior)s + sum of ratings) / (%(weight)s + %(ratings)s) pulls small samples towards the city-wide mean, "
        "so a centre with one 5-star rating does not outrank one with many good ones. %(complaints)s complaint(s) "
        "filed.",
        centre=r["centre"],
        ratings=r["ratings"],
        mean=f"{r['mean']:.2f}",
        average=f"{r['bayesian_average']:.2f}",
        weight=f"{p['prior_weight']:g}",
        prior=f"{p['prior_mean']:.2f}",
        complaints=r["complaints"],
    )


def _livability(d: dict, _: Gettext) -> str:
    r = d["result"]
    return _(
        "%(positive)s positive and %(negative)s negative report(s) in this %(edge)s m hexagon: livability "
        "%(share)s (95 %% Wilson interval %(low)s–%(high)s; wide intervals mean few reports).",
        positive=r["positive"],
        negative=r["negative"],
        edge=f"{d['parameters']['cell']['edge_m']:g}",
        share=f"{r['livability']:.0%}",
        low=f"{r['livability_low']:.0%}",
        high=f"{r['livability_high']:.0%}",
    )


def _land_use(d: dict, _: Gettext) -> str:
    r = d["result"]
    words = [
        _(
            "District %(district)s: %(area)s ha mapped, of which %(public)s ha public or green space (%(share)s).",
            district=r["district"],
            area=f"{r['area_m2'] / 1e4:.1f}",
            public=f"{r['public_space_m2'] / 1e4:.1f}",
            share=f"{(r['public_space_share'] or 0):.0%}",
        )
    ]
    if r.get("public_space_per_person_m2") is not None:
        words.append(
            _(
                "That is %(per_person)s m² per resident for %(population)s residents.",
                per_person=f"{r['public_space_per_person_m2']:.1f}",
                population=r["population"],
            )
        )
    return " ".join(words)


def _transit(d: dict, _: Gettext) -> str:
    r, p = d["result"], d["parameters"]
    if r["nearest_stop"] is None:
        return _("No GTFS feed has been imported, so transit access is unknown.")
    return _(
        "The nearest transit stop is %(stop)s (%(feed)s), %(distance)s m away. %(stops)s stop(s) lie within "
        "%(low)s m (%(high)s m for rail, metro or ferry), with %(departures)s departures per day on %(date)s "
        "(UN SDG 11.2.1 distances).",
        stop=r["nearest_stop"],
        feed=r["feed"],
        distance=f"{r['nearest_stop_m']:.0f}",
        stops=r["stops_within_reach"],
        low=f"{p['radius_low_capacity_m']:.0f}",
        high=f"{p['radius_high_capacity_m']:.0f}",
        departures=r["departures_within_reach"],
        date=r["service_date"],
    )


SUMMARIES = {
    "transit_access": _transit,
    "hotspots": _hotspots,
    "water_quality": _water,
    "ratings": _ratings,
    "livability": _livability,
    "land_use": _land_use,
}
