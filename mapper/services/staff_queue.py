"""The staff queue: the reports a role may act on (the layers whose ``[access] act_on_reports`` names it; for
moderators, every layer's reports waiting for moderation), filtered, oldest first, 50 a page; one report as
staff see it (its fields, location, contact details where the role sees exact data, photos, history and
duplicate suggestions), every look at contact details or an exact sensitive location recorded before it is
shown (``services.access_log``); and one comment applied to many reports, each transition checked on its own."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from mapper.domain import lifecycle as states
from mapper.domain import policy
from mapper.domain.errors import FieldProblem, MapperError, NotFound, ValidationFailed
from mapper.domain.layers import CONTACT_FIELDS, Registry
from mapper.domain.privacy import view_for
from mapper.services import access_log, duplicates, lifecycle
from mapper.store import photos
from mapper.store import queue as store

PAGE_SIZE = 50
MAX_PAGE = 10_000
MAX_BULK = 200  # reports in one bulk transition
MODERATED = (states.SUBMITTED,)  # what moderators see of every layer: the reports waiting for moderation
CONTACT_NAMES = tuple(f.name for f in CONTACT_FIELDS)


@dataclass(frozen=True)
class Scope:
    """Which reports a role's queue holds: every report of ``acting`` layers, and for moderators, those of
    every layer in ``MODERATED`` statuses; ``exact``: the layers it sees exactly; ``layers``: those that may
    show up in it (the layer filter's choices)."""

    acting: tuple[str, ...]
    moderates: bool
    exact: tuple[str, ...]
    layers: tuple[str, ...]


def scope_for(registry: Registry, role: str | None) -> Scope:
    layers = list(registry)
    acting = tuple(layer.id for layer in layers if policy.may(role, "act_on_reports", layer))
    moderates = policy.may(role, "moderate")
    return Scope(
        acting=acting,
        moderates=moderates,
        exact=tuple(layer.id for layer in layers if policy.sees_exact(layer, role)),
        layers=tuple(layer.id for layer in layers) if moderates else acting,
    )


@dataclass(frozen=True)
class QueueFilter:
    layer: str | None = None
    statuses: tuple[str, ...] = states.OPEN
    bbox: tuple[float, float, float, float] | None = None
    district: str | None = None
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    page: int = 1


def _date(value: str, name: str, problems: list) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(FieldProblem(name, "must be a date (YYYY-MM-DD)"))
        return None


def _bbox(value: str, problems: list) -> tuple[float, float, float, float] | None:
    try:
        numbers = tuple(float(v) for v in value.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        problems.append(FieldProblem("bbox", "must be four numbers: minlon,minlat,maxlon,maxlat"))
        return None
    minlon, minlat, maxlon, maxlat = numbers
    if not (-180 <= minlon <= 180 and -180 <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90):
        problems.append(FieldProblem("bbox", "longitudes within ±180, latitudes within ±90, south ≤ north"))
        return None
    return numbers


def parse_filter(args: Mapping, registry: Registry) -> QueueFilter:
    """The queue's filters from query parameters (``args.getlist`` for ``status``); every problem at once."""
    problems: list[FieldProblem] = []
    layer = (args.get("layer") or "").strip() or None
    if layer is not None and registry.report_layer(layer) is None:
        problems.append(FieldProblem("layer", "no such layer"))
    statuses = tuple(s for s in args.getlist("status") if s)
    unknown = [s for s in statuses if s not in states.STATUSES]
    if unknown:
        problems.append(FieldProblem("status", f"must be among: {', '.join(states.STATUSES)}"))
    bbox = _bbox(args["bbox"], problems) if (args.get("bbox") or "").strip() else None
    district = (args.get("district") or "").strip() or None
    if bbox is not None and district is not None:
        problems.append(FieldProblem("district", "give an area as a bbox or a district, not both"))
    dates = {}
    for name in ("created_from", "created_to"):
        value = (args.get(name) or "").strip()
        dates[name] = _date(value, name, problems) if value else None
    if dates["created_from"] and dates["created_to"] and dates["created_from"] > dates["created_to"]:
        problems.append(FieldProblem("created_to", "must not be before created_from"))
    page = (args.get("page") or "1").strip()
    if not (page.isascii() and page.isdigit() and 1 <= int(page) <= MAX_PAGE):
        problems.append(FieldProblem("page", f"must be a whole number from 1 to {MAX_PAGE}"))
        page = "1"
    if problems:
        raise ValidationFailed("Some filters are not valid.", problems)
    return QueueFilter(layer, statuses or states.OPEN, bbox, district, **dates, page=int(page))


def _envelopes(bbox) -> dict:
    """The bbox as one envelope, or two when it crosses the antimeridian (west edge east of the east edge)."""
    if bbox is None:
        return {"minlon": None, "minlat": None, "maxlon": None, "maxlat": None, "minlon2": None, "maxlon2": None}
    minlon, minlat, maxlon, maxlat = bbox
    if minlon <= maxlon:
        return dict(minlon=minlon, minlat=minlat, maxlon=maxlon, maxlat=maxlat, minlon2=minlon, maxlon2=maxlon)
    return dict(minlon=minlon, minlat=minlat, maxlon=180.0, maxlat=maxlat, minlon2=-180.0, maxlon2=maxlon)


def districts(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return store.districts(conn)


def queue(engine: Engine, registry: Registry, role: str | None, chosen: QueueFilter) -> dict:
    """One page of the role's queue: ``items`` (id, layer, status, dates, summary), ``count``, ``page``,
    ``pages``. An unknown district is refused (422, on ``district``)."""
    scope = scope_for(registry, role)
    if chosen.layer is not None and chosen.layer not in scope.layers:
        raise ValidationFailed("Some filters are not valid.", [FieldProblem("layer", "not a layer of your queue")])
    with engine.connect() as conn:
        district = None
        if chosen.district is not None:
            district = store.district_id(conn, chosen.district)
            if district is None:
                raise ValidationFailed("Some filters are not valid.", [FieldProblem("district", "no such district")])
        params = {
            "acting": list(scope.acting),
            "moderates": scope.moderates,
            "moderated": list(MODERATED),
            "statuses": list(chosen.statuses),
            "layer": chosen.layer,
            "created_from": chosen.created_from,
            "created_to": chosen.created_to,
            "district": district,
            "exact_layers": list(scope.exact),
            **_envelopes(chosen.bbox),
        }
        rows, total = store.queue_page(conn, params, PAGE_SIZE, (chosen.page - 1) * PAGE_SIZE)
    return {
        "items": [_item(registry, r) for r in rows],
        "count": total,
        "page": chosen.page,
        "pages": max(1, math.ceil(total / PAGE_SIZE)),
        "page_size": PAGE_SIZE,
    }


def _item(registry: Registry, row: dict) -> dict:
    layer = registry.report_layer(row["layer"])
    category = row["properties"].get(duplicates.CATEGORY) if layer.field(duplicates.CATEGORY) else None
    return {
        "id": row["id"],
        "layer": row["layer"],
        "status": row["status"],
        "category": category,
        "created_at": row["created_at"],
        "observed_at": row["observed_at"],
        "duplicate_of": row["duplicate_of"],
    }


def detail(engine: Engine, registry: Registry, report_id: int, role: str | None, actor: str, route: str) -> dict:
    """A report as the role's staff see it, for the page that shows it: fields (``View.fields``: public ones,
    and private ones where the role sees exact data), location (exact or as published, with its digits),
    contact details (only where the role sees exact data), photos, history (internal notes included, where it
    may go next) and duplicate suggestions. Views of contact details and of an exact sensitive location are
    recorded in the access log before this returns. 404 for a report the role may not handle."""
    with engine.connect() as conn:
        row = store.report_detail(conn, report_id, exact=False)
        layer = registry.report_layer(row["layer"]) if row else None
        if layer is None or not lifecycle.may_handle(role, layer):
            raise NotFound(f"No report {report_id}.")
        view = view_for(layer, role)
        if view.exact:
            row = store.report_detail(conn, report_id, exact=True)
        pictures = photos.list_for_report(conn, report_id, include_hidden=view.exact or policy.may(role, "moderate"))
    values = {**row["properties"], **(row["private"] if view.exact else {})}
    contact = {n: row["private"].get(n) for n in CONTACT_NAMES} if view.exact else {}
    contact = {n: v for n, v in contact.items() if v not in (None, "")}
    if contact:
        access_log.record_view(
            engine, actor=actor, role=role, layer=layer.id, what=access_log.CONTACT, route=route, report_id=report_id
        )
    if view.exact and layer.precision_m > 0:
        access_log.record_view(
            engine,
            actor=actor,
            role=role,
            layer=layer.id,
            what=access_log.EXACT_LOCATION,
            route=route,
            report_id=report_id,
        )
    digits = view.coordinate_digits
    return {
        "id": report_id,
        "layer": layer,
        "status": row["status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "observed_at": row["observed_at"],
        "source": row["source"],
        "duplicate_of": row["duplicate_of"],
        "exact": view.exact,
        "fields": [(f, values.get(f.name)) for f in view.fields if f.name not in CONTACT_NAMES],
        "location": {
            "lon": round(row["lon"], digits),
            "lat": round(row["lat"], digits),
            "geometry_type": row["geometry_type"],
            "precision_m": view.precision_m,
        },
        "contact": contact,
        "photos": pictures,
        "history": lifecycle.history(engine, registry, report_id, role),
        "reasons": {s: states.REASONS[s] for s in states.REASONS},
        "duplicates": duplicates.suggestions(engine, registry, report_id, role),
        "may_merge": lifecycle.may_move(role, layer, states.REJECTED)
        and states.REJECTED in states.allowed(row["status"], layer.moderation),
    }


def bulk_transition(
    engine: Engine, registry: Registry, report_ids: list, body: dict, actor: lifecycle.Actor
) -> dict[str, list]:
    """``body`` (one status, reason, comment and note) applied to each report in turn, each its own transition
    with its own checks: ``done`` (the transitions made) and ``refused`` (id, status code, why)."""
    if not body.get("to"):
        raise ValidationFailed("Choose the status to move them to.", [FieldProblem("to", "must be a status")])
    ids = []
    for value in report_ids:
        text = str(value).strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise ValidationFailed("Choose reports from the list.", [FieldProblem("report", "must be report ids")])
        if int(text) not in ids:
            ids.append(int(text))
    if not ids:
        raise ValidationFailed("Choose at least one report.", [FieldProblem("report", "none chosen")])
    if len(ids) > MAX_BULK:
        raise ValidationFailed("Too many reports at once.", [FieldProblem("report", f"at most {MAX_BULK}")])
    done, refused = [], []
    for report_id in ids:
        try:
            done.append(lifecycle.transition(engine, registry, report_id, body, actor))
        except MapperError as e:
            refused.append({"id": report_id, "error": e})
    return {"done": done, "refused": refused}
