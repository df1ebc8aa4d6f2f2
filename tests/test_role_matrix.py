"""The role matrix: for anonymous callers and every staff role, every GET route of the URL map (staff routes
included, filled with the seeded reports' ids, layers and tiles) is called, and each private datum appears only
where the role may see it — exact locations and contact details (``policy.sees_exact``), internal notes and
unpublished reports (the staff who handle the layer: ``lifecycle.may_handle``), hidden photos (the same) and
the access log (admin). Refusals are 401/403/404 or a page without the datum. Each datum is seen by some role
somewhere, so a sentinel that could never be found cannot pass for privacy.

Real PostGIS and the app's routes, with a Bearer token per role (a signed-in session takes the same role path:
tests/test_signin.py)."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image

from mapper.domain import policy
from mapper.services import lifecycle
from mapper.services.tokens import create_api_token
from mapper.web import access
from tests.reports import publish
from tests.test_feeds import tile_of
from tests.test_xss_browser import value_for

ROLES = (None, *policy.ROLES)
X, Y = -83.0123457, 39.9612347  # where the reports are; the crime report's exact location must not leave the
CRIME_X = -83.0345678  # exact view (other layers publish exact locations)
SKIPPED_ENDPOINTS = {"static", "assets.vendor", "pages.sw", "openapi.openapi"}  # no report data


def sentinel_feature(layer, tag: str) -> dict:
    x = CRIME_X if layer.id == "crime" else X
    props = {f.name: value_for(f, f"{tag}-{f.name}") for f in layer.fields if f.required or f.type == "text"}
    props |= {"reporter_email": f"{tag}@example.org", "reporter_name": f"{tag}-NAME", "reporter_phone": None}
    if layer.geometry == "polygon":
        ring = [[x, Y], [x + 0.001, Y], [x + 0.001, Y + 0.001], [x, Y + 0.001], [x, Y]]
        geometry = {"type": "Polygon", "coordinates": [ring]}
    else:
        geometry = {"type": "Point", "coordinates": [x, Y]}
    return {"type": "Feature", "geometry": geometry, "properties": props}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def world(client, engine, registry):
    """Per layer: a published report with contact sentinels and an internal note; a crime report still
    unpublished; a public urban_life report whose one photo a moderator hid. Tokens for every role."""
    tokens = {r: {"Authorization": f"Bearer {create_api_token(engine, r, 'matrix')}"} for r in policy.ROLES}
    admin = lifecycle.Actor("user:admin", policy.ADMIN)
    reports = {}
    for layer in registry:
        if layer.table != "reports":
            continue
        r = client.post(f"/api/layers/{layer.id}/reports", json=sentinel_feature(layer, f"contact-{layer.id}"))
        assert r.status_code == 201, r.get_json()
        rid = r.get_json()["id"]
        if layer.moderation == "before":
            publish(client.application, rid)
        body = {"to": "in_progress", "note": f"internal-note-{layer.id}"}
        if lifecycle.lifecycle.allowed(lifecycle.lifecycle.VERIFIED) and layer.moderation != "before":
            lifecycle.transition(engine, registry, rid, {"to": "verified"}, admin)
        lifecycle.transition(engine, registry, rid, body, admin)
        reports[layer.id] = rid
    unpublished = client.post("/api/layers/crime/reports", json=sentinel_feature(registry.get("crime"), "unpublished"))
    assert unpublished.status_code == 201
    photo = client.post(
        "/api/layers/urban_life/reports",
        data={
            "feature": json.dumps(sentinel_feature(registry.get("urban_life"), "photo-owner")),
            "photo": [(io.BytesIO(jpeg()), "a.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert photo.status_code == 201, photo.get_json()
    photo_id = photo.get_json()["id"]
    hidden = client.post(f"/api/reports/{photo_id}/photos/1/hide", headers=tokens["moderator"])
    assert hidden.status_code == 200, hidden.get_json()
    return {
        "tokens": tokens,
        "reports": reports,
        "unpublished": unpublished.get_json()["id"],
        "photo_report": photo_id,
    }


def urls(app, world) -> list[str]:
    """Every GET route, once per seeded report and per layer where it takes them."""
    registry = app.extensions["mapper.registry"]
    report_ids = [*world["reports"].values(), world["unpublished"], world["photo_report"]]
    z, tx, ty = tile_of(X, Y, 14)
    out = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in SKIPPED_ENDPOINTS or "<token>" in rule.rule:
            continue
        args = set(rule.arguments)
        layer_arg = next((a for a in ("layer_id", "collection") if a in args), None)
        layers = [layer.id for layer in registry] if layer_arg else [None]
        ids = report_ids if args & {"report_id", "feature_id", "subject_id", "id"} else [None]
        for layer_id in layers:
            for rid in ids:
                values = {"z": str(z), "x": str(tx), "y": str(ty), "position": "1"}
                if layer_arg:
                    values[layer_arg] = layer_id
                for name in ("report_id", "feature_id", "subject_id", "id"):
                    values[name] = str(rid)
                if "filename" in args:
                    for fmt in ("geojson", "csv"):
                        for lid in layers if layer_arg else [layer.id for layer in registry]:
                            out.add(fill(rule.rule, {**values, "filename": f"{lid}.{fmt}"}))
                    continue
                url = fill(rule.rule, values)
                out.add(url)
                if rule.endpoint.startswith("ogc.") and "items" in rule.rule and "<" not in rule.rule.split("items")[1]:
                    out.add(url + "?limit=1000")
    out.add(f"/staff/queue?status={'&status='.join(lifecycle.lifecycle.STATUSES)}")
    return sorted(out)


def fill(rule: str, values: dict) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: values[m[1]], rule)


def may_see(role, datum: str, layer_id: str, registry) -> bool:
    layer = registry.report_layer(layer_id)
    if datum in ("contact", "exact"):
        return policy.sees_exact(layer, role)
    return lifecycle.may_handle(role, layer)  # internal notes, unpublished reports, hidden photos


def test_every_private_datum_reaches_exactly_the_roles_that_may_see_it(client, world, registry):
    app = client.application
    sentinels = {("contact", lid): f"contact-{lid}@example.org" for lid in world["reports"]}
    sentinels |= {("internal", lid): f"internal-note-{lid}" for lid in world["reports"]}
    sentinels[("unpublished", "crime")] = "unpublished-"
    sentinels[("exact", "crime")] = str(CRIME_X)[:9]  # -83.03456…: finer than the crime layer's 250 m cells
    routes = urls(app, world)
    seen_by = {key: set() for key in sentinels}
    for role in ROLES:
        headers = world["tokens"][role] if role else {}
        for url in routes:
            resp = client.get(url, headers=headers)
            assert resp.status_code < 500, (role, url, resp.status_code)
            body = resp.get_data().decode("utf-8", "replace")
            for (datum, lid), text in sentinels.items():
                if text in body:
                    seen_by[(datum, lid)].add(role)
                    assert may_see(role, datum, lid, registry), f"{datum} of {lid} leaked to {role} at {url}"
    for key, roles in seen_by.items():
        assert roles, f"the {key} sentinel was seen by no role: the sweep cannot see it"
        assert None not in roles


def test_a_hidden_photo_reaches_only_the_staff_who_handle_its_layer(client, world, registry):
    layer = registry.get("urban_life")
    url = f"/api/reports/{world['photo_report']}/photos/1"
    for role in ROLES:
        headers = world["tokens"][role] if role else {}
        for path in (url, url + "/thumbnail"):
            status = client.get(path, headers=headers).status_code
            assert status == (200 if lifecycle.may_handle(role, layer) else 404), (role, path, status)


def test_staff_routes_refuse_every_role_their_rule_refuses(client, world):
    """Every non-public GET route answers 401 to anonymous callers and 403/404 (or a sign-in redirect for
    pages) to roles its marker refuses — never the page."""
    app = client.application
    for url in urls(app, world):
        adapter = app.url_map.bind("localhost")
        endpoint, args = adapter.match(url.split("?")[0], method="GET")
        rule = access.rule_of(app.view_functions[endpoint])
        if rule.kind == "public":
            continue
        anonymous = client.get(url)
        assert anonymous.status_code in (401, 302, 303, 404), (url, anonymous.status_code)
        for role in policy.ROLES:
            layer = rule.layer_of(args) if rule.kind == "layer_permission" else None
            if not rule.allows(role, layer):
                status = client.get(url, headers=world["tokens"][role]).status_code
                assert status in (403, 404), (role, url, status)
