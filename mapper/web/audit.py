"""The access log's hook on the web side: a route that reads features through the caller's view records, once
per request, what staff saw there (exact sensitive locations, private fields) before the answer leaves.

The view is the one ``web.ogc.layer_view`` chose for the request's role (kept on ``g``); routes mark themselves
with ``@records_reads`` under their access marker. Anonymous callers see the public view: nothing is recorded."""

from __future__ import annotations

import csv
import functools
import io
import re
from urllib.parse import unquote_plus

from flask import Blueprint, Response, current_app, g, render_template, request, url_for

from mapper.db import get_engine
from mapper.domain.errors import BadRequest, FieldProblem
from mapper.domain.privacy import View
from mapper.services import access_log
from mapper.web import access
from mapper.web.auth import current_actor, current_role

VIEW = "mapper_read_view"
ID = re.compile(r"[0-9]{1,18}")
# Query parameters that may carry a credential: never written to the log
SECRET_PARAMETER = re.compile(r"token|key|secret|pass|auth|session|csrf|sig", re.IGNORECASE)
MAX_ROUTE = 2000


def keep_view(view: View) -> View:
    """Remember the view this request reads through (``web.ogc.layer_view``), for ``records_reads``."""
    setattr(g, VIEW, view)
    return view


def route_of() -> str:
    """The request's path and query as the log keeps it: the query as sent, without any parameter that may hold
    a credential (by its name, or holding the request's Bearer token), at most ``MAX_ROUTE`` characters."""
    bearer = request.headers.get("Authorization", "").partition(" ")[2].strip()
    kept = []
    for part in request.query_string.decode("latin-1").split("&"):
        name, _, value = (unquote_plus(p) for p in part.partition("="))
        if part and not SECRET_PARAMETER.search(name) and not (bearer and bearer in value):
            kept.append(part)
    return (request.path + (f"?{'&'.join(kept)}" if kept else ""))[:MAX_ROUTE]


def records_reads(*, with_fields: bool = True, report_arg: str | None = None):
    """Record the route's successful reads through an exact view in the access log: one INSERT per request,
    before the response (or its streamed body) is sent. ``with_fields``: the response carries the view's
    fields (private ones for an exact view); ``report_arg``: the URL argument naming the one report read."""

    def wrap(view_fn):
        @functools.wraps(view_fn)
        def recorded(*args, **kwargs):
            resp = current_app.make_response(view_fn(*args, **kwargs))
            view = g.get(VIEW)
            if view is not None and view.exact and resp.status_code < 400:
                report = str(kwargs.get(report_arg, "")) if report_arg else ""
                access_log.record_reads(
                    get_engine(),
                    actor=current_actor(),
                    role=current_role(),
                    view=view,
                    with_fields=with_fields,
                    route=route_of(),
                    report_id=int(report) if ID.fullmatch(report) else None,
                )
            return resp

        return recorded

    return wrap


# --- the log, for admins --------------------------------------------------------------------------------------
bp = Blueprint("audit", __name__)
CSV_MAX = 100_000
CSV_COLUMNS = ("at", "actor", "email", "actor_role", "report_id", "layer", "what", "route")


def _filter_and_page() -> tuple[access_log.LogFilter, int]:
    page = request.args.get("page", "1")
    if not ID.fullmatch(page) or int(page) < 1:
        raise BadRequest("Invalid page.", [FieldProblem("page", "must be a whole number from 1")])
    return access_log.parse_filter(request.args), int(page)


@bp.get("/staff/access-log")
@access.permission("read_access_log")
def access_log_page():
    """Who saw reporters' contact details and exact sensitive locations, newest first, paged and filtered by
    actor, report, layer and days."""
    f, page = _filter_and_page()
    rows, more = access_log.read_log(get_engine(), f, page=page)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    resp = current_app.make_response(
        render_template(
            "access_log.html",
            rows=rows,
            filters=args,
            layers=[layer.id for layer in current_app.extensions["mapper.registry"]],
            page=page,
            newer=url_for(".access_log_page", **args, page=page - 1) if page > 1 else None,
            older=url_for(".access_log_page", **args, page=page + 1) if more else None,
            csv_url=url_for(".access_log_csv", **args),
        )
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ (a formula) is quoted with '."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/staff/access-log.csv")
@access.permission("read_access_log")
def access_log_csv():
    """The entries of the page's filter (all pages, at most ``CSV_MAX``) as CSV."""
    f, _page = _filter_and_page()
    rows, _more = access_log.read_log(get_engine(), f, size=CSV_MAX)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([_csv_cell(r["at"].isoformat() if c == "at" else r[c]) for c in CSV_COLUMNS])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="access-log.csv"', "Cache-Control": "no-store"},
    )
