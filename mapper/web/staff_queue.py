"""The staff queue in the browser: ``/staff/queue`` (filters by GET; one transition for the reports ticked, by
POST) and ``/staff/reports/<id>`` (the report as the role may see it; its transition and merge forms).

Staff only (anonymous browsers are sent to the sign-in form); the services decide which reports a role may
see or move (``services.staff_queue``, ``services.lifecycle``, ``services.duplicates``), and their refusals are
shown on the page with their status (403, 404, 409, 422), never as an error page. Forms carry the session's
CSRF token, checked once the access marker has let the caller in (``web.csrf.checked_in_view``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from mapper.db import get_engine
from mapper.domain import lifecycle as states
from mapper.domain.errors import MapperError
from mapper.services import duplicates, lifecycle, staff_queue
from mapper.web import access, csrf
from mapper.web.auth import current_actor, current_role
from mapper.web.problems import status_of

bp = Blueprint("staff_queue", __name__)
TRANSITION_MEMBERS = ("to", "reason", "comment", "note")


def registry():
    return current_app.extensions["mapper.registry"]


def _actor() -> lifecycle.Actor:
    return lifecycle.Actor(current_actor(), current_role())


def _transition_body(form) -> dict:
    """A transition from a form: empty fields left out (no reason where none is chosen)."""
    return {k: form[k] for k in TRANSITION_MEMBERS if form.get(k, "").strip()}


def _queue_page(bulk: dict | None = None, error: MapperError | None = None, status: int = 200):
    engine, role = get_engine(), current_role()
    scope = staff_queue.scope_for(registry(), role)
    page, problem = None, error
    try:
        chosen = staff_queue.parse_filter(request.args, registry())
        page = staff_queue.queue(engine, registry(), role, chosen)
    except MapperError as e:
        problem, status = e, status_of(e)
    return render_template(
        "staff_queue.html",
        args=request.args,
        page=page,
        error=problem,
        bulk=bulk,
        layers=[registry().report_layer(i) for i in scope.layers],
        districts=staff_queue.districts(engine),
        statuses=states.STATUSES,
        chosen_statuses=request.args.getlist("status") or list(states.OPEN),
        reasons=states.REASONS,
        registry_layer=registry().report_layer,
        page_url=_page_url,
    ), status


def _page_url(number: int) -> str:
    """This queue's address (its filters kept) at page ``number``: a query-only link."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    return url_for("staff_queue.queue") + "?" + urlencode([*kept, ("page", str(number))])


@bp.get("/staff/queue")
@access.staff
def queue():
    """The reports the role may act on, oldest first, 50 a page, filtered by layer, status, area and date."""
    return _queue_page()


@bp.post("/staff/queue")
@access.staff
@csrf.checked_in_view
def bulk():
    """One status, reason, public comment and internal note for every report ticked; which succeeded and which
    were refused (and why) are listed above the queue."""
    try:
        outcome = staff_queue.bulk_transition(
            get_engine(), registry(), request.form.getlist("report"), _transition_body(request.form), _actor()
        )
    except MapperError as e:
        return _queue_page(error=e, status=status_of(e))
    return _queue_page(bulk=outcome)


def _report_page(report_id: int, error: MapperError | None = None, status: int = 200):
    engine, role = get_engine(), current_role()
    try:
        report = staff_queue.detail(engine, registry(), report_id, role, current_actor(), request.url_rule.rule)
    except MapperError as e:
        return render_template("staff_report.html", report=None, report_id=report_id, error=e), status_of(e)
    done = request.args.get("done")
    merged = request.args.get("merged", "")
    return render_template(
        "staff_report.html",
        report=report,
        report_id=report_id,
        error=error,
        form=request.form if error is not None else {},
        done=done if done in states.STATUSES else None,
        merged=int(merged) if merged.isascii() and merged.isdigit() and len(merged) <= 18 else None,
    ), status


@bp.get("/staff/reports/<int:report_id>")
@access.staff
def report(report_id: int):
    """A report for staff: fields, location (exact where the role sees it), contact details, photos, history,
    the statuses it may go to, duplicate suggestions. Looks at private data are logged first."""
    return _report_page(report_id)


@bp.post("/staff/reports/<int:report_id>/transition")
@access.staff
@csrf.checked_in_view
def transition(report_id: int):
    """Move the report (``services.lifecycle.transition``); back to its page, or the refusal shown there."""
    body = _transition_body(request.form)
    try:
        done = lifecycle.transition(get_engine(), registry(), report_id, body, _actor())
    except MapperError as e:
        return _report_page(report_id, e, status_of(e))
    return redirect(url_for("staff_queue.report", report_id=report_id, done=done["status"]), 303)


@bp.post("/staff/reports/<int:report_id>/merge")
@access.staff
@csrf.checked_in_view
def merge(report_id: int):
    """Merge the report into another (``services.duplicates.merge``): rejected as its duplicate."""
    into = request.form.get("into", "").strip()
    into = int(into) if into.isascii() and into.isdigit() and len(into) <= 18 else into
    comment = request.form.get("comment", "").strip() or None
    try:
        duplicates.merge(get_engine(), registry(), report_id, into, _actor(), comment)
    except MapperError as e:
        return _report_page(report_id, e, status_of(e))
    return redirect(url_for("staff_queue.report", report_id=report_id, merged=into), 303)


@bp.after_request
def no_store(resp):
    """Queue pages hold personal data and a CSRF token: never stored by any cache."""
    resp.headers["Cache-Control"] = "no-store"
    resp.vary.add("Cookie")
    return resp
