"""OGC API – Features (Part 1 Core, GeoJSON, HTML, OpenAPI 3.0; Part 3 filtering with CQL2) under /ogc."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request, url_for

from mapper.db import get_engine
from mapper.domain.errors import BadRequest, FieldProblem, NotFound
from mapper.domain.privacy import View, view_for
from mapper.services import feeds
from mapper.web import access
from mapper.web.audit import keep_view, records_reads
from mapper.web.auth import current_role
from mapper.web.field_schema import field_schema
from mapper.web.http_cache import enable_cors, etag_for, not_modified, set_validators

bp = Blueprint("ogc", __name__, url_prefix="/ogc")
enable_cors(bp)

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
ID = re.compile(r"[0-9]{1,18}")
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
]


@bp.before_request
def check_format():
    """``f`` (on every OGC API resource) is json or html; anything else is a 400, not silently JSON."""
    f = request.args.get("f")
    if f is not None and f not in feeds.FORMATS:
        raise BadRequest("Invalid parameter f.", [FieldProblem("f", f"must be one of: {', '.join(feeds.FORMATS)}")])


def wants_html() -> bool:
    """HTML only for ``f=html`` or an Accept that prefers text/html (OWSLib sends */*: JSON)."""
    f = request.args.get("f")
    if f:
        return f == "html"
    if "html" not in request.headers.get("Accept", ""):
        return False
    offered = dict(request.accept_mimetypes)
    best = request.accept_mimetypes.best_match([JSON, GEOJSON, HTML])
    return best == HTML and offered.get(HTML, 0) > offered.get("*/*", 0)


def json_response(doc: dict, mimetype: str = JSON, status: int = 200) -> Response:
    return Response(json.dumps(doc, default=str), status=status, mimetype=mimetype)


def link(href: str, rel: str, type_: str, title: str = "") -> dict:
    d = {"href": href, "rel": rel, "type": type_}
    if title:
        d["title"] = title
    return d


def layer_view(layer_id: str) -> View:
    layer = current_app.extensions["mapper.registry"].get(layer_id)
    if layer is None:
        raise NotFound(f"There is no collection {layer_id!r}.")
    return keep_view(view_for(layer, current_role()))  # routes marked @records_reads log what staff see


def page(template: str, doc: dict, **extra) -> Response:
    return Response(render_template(template, doc=doc, **extra), mimetype=HTML)


@bp.get("")
@bp.get("/")
@access.public
def landing():
    """Landing page: links to the API description, conformance and the collections."""
    doc = {
        "title": "civic-mapper",
        "description": "Crowdsourced civic reports as OGC API – Features.",
        "links": [
            link(url_for(".landing", _external=True), "self", JSON, "This document"),
            link(url_for(".landing", f="html", _external=True), "alternate", HTML, "This document as HTML"),
            link(url_for("openapi.openapi_json", _external=True), "service-desc", OPENAPI, "The API definition"),
            link(url_for("openapi.openapi_json", _external=True), "service-doc", OPENAPI, "The API documentation"),
            link(url_for(".conformance", _external=True), "conformance", JSON, "Conformance classes"),
            link(url_for(".collections", _external=True), "data", JSON, "The collections"),
        ],
    }
    return page("ogc_landing.html", doc) if wants_html() else json_response(doc)


@bp.get("/conformance")
@access.public
def conformance():
    """The conformance classes implemented."""
    doc = {"conformsTo": CONFORMANCE}
    return (
        page("ogc_landing.html", {"title": "Conformance", "conformsTo": CONFORMANCE, "links": []})
        if wants_html()
        else json_response(doc)
    )


def collection_doc(view: View) -> dict:
    layer = view.layer
    summary = feeds.collection_summary(get_engine(), view)
    t0, t1 = summary["interval"]
    items = url_for(".items", layer_id=layer.id, _external=True)
    return {
        "id": layer.id,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": {
            "spatial": {"bbox": [summary["bbox"] or [-180, -90, 180, 90]], "crs": CRS84},
            "temporal": {
                "interval": [[t0.isoformat() if t0 else None, t1.isoformat() if t1 else None]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            },
        },
        "links": [
            link(url_for(".collection", layer_id=layer.id, _external=True), "self", JSON),
            link(url_for(".collection", layer_id=layer.id, f="html", _external=True), "alternate", HTML),
            link(items, "items", GEOJSON, "Items as GeoJSON"),
            link(url_for(".items", layer_id=layer.id, f="html", _external=True), "items", HTML, "Items as HTML"),
            link(
                url_for(".queryables", layer_id=layer.id, _external=True),
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "application/schema+json",
                "Queryables",
            ),
            link(
                url_for("tiles.tilejson", layer_id=layer.id, _external=True), "tiles", JSON, "Vector tiles (TileJSON)"
            ),
        ],
    }


@bp.get("/collections")
@access.public
def collections():
    """Every layer the caller may read."""
    docs = [
        collection_doc(view_for(layer, current_role()))
        for layer in current_app.extensions["mapper.registry"].collections()
    ]
    doc = {
        "collections": docs,
        "links": [
            link(url_for(".collections", _external=True), "self", JSON),
            link(url_for(".collections", f="html", _external=True), "alternate", HTML),
        ],
    }
    return page("ogc_collections.html", doc) if wants_html() else json_response(doc)


@bp.get("/collections/<layer_id>")
@access.public
def collection(layer_id: str):
    """One collection: extent, CRS, item type, links."""
    doc = collection_doc(layer_view(layer_id))
    return page("ogc_collections.html", {"collections": [doc], "links": []}) if wants_html() else json_response(doc)


GEOMETRY_FORMATS = {"point": "geometry-point", "polygon": "geometry-polygon", "line": "geometry-linestring"}


def queryables_schema(view: View) -> dict:
    props = {
        "geometry": {"format": GEOMETRY_FORMATS[view.layer.geometry]},
        "id": {"type": "integer"},
        "status": {"type": "string"},
        "observed_at": {"type": "string", "format": "date-time"},
    }
    props.update({f.name: {"title": f.label, **field_schema(f)} for f in view.fields})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$id": url_for(".queryables", layer_id=view.layer.id, _external=True),
        "title": view.layer.title,
        "properties": props,
        "additionalProperties": False,
    }


@bp.get("/collections/<layer_id>/queryables")
@access.public
def queryables(layer_id: str):
    """The properties usable in filters (the caller's view of the layer)."""
    return json_response(queryables_schema(layer_view(layer_id)), "application/schema+json")


def page_links(items_url: str, args, q: feeds.FeedQuery, first_id, last_id, more: bool) -> list[dict]:
    """self, alternate, collection, and next/prev (keyset cursors) links of an items page at ``items_url``
    (without its query) requested with ``args``."""
    kept = urlencode([(k, v) for k, v in args.items() if k not in ("cursor", "f")])
    at = lambda *extra: "?".join((items_url, "&".join(p for p in (kept, *extra) if p))).rstrip("?")  # noqa: E731
    here = (f"cursor={args['cursor']}",) if "cursor" in args else ()  # a checked cursor: [ab]\d+
    links = [
        link(at(*here), "self", GEOJSON),
        link(at(*here, "f=html"), "alternate", HTML),
        link(items_url.rsplit("/items", 1)[0], "collection", JSON),
    ]
    backwards = q.before is not None
    has_next = (more and not backwards) or (backwards and last_id is not None)
    has_prev = (backwards and more) or (q.after is not None and first_id is not None)
    if has_next and last_id is not None:
        links.append(link(at(f"cursor=a{last_id}"), "next", GEOJSON, "Next page"))
    if has_prev:
        links.append(link(at(f"cursor=b{first_id}"), "prev", GEOJSON, "Previous page"))
    return links


def items_document(q: feeds.FeedQuery, reader: feeds.PageReader, items_url: str, args) -> str:
    """The FeatureCollection text of the page ``reader`` read for ``q``: the Features PostGIS printed, then
    numberReturned, timeStamp, links and (first pages, when cheap) numberMatched."""
    done = {}
    features = "".join(reader.features(on_done=lambda *a: done.update(result=a)))
    first_id, last_id, returned, more = done["result"]
    tail = {
        "numberReturned": returned,
        "timeStamp": datetime.now(UTC).isoformat(),
        "links": page_links(items_url, args, q, first_id, last_id, more),
    }
    if reader.matched is not None and q.first_page:
        tail["numberMatched"] = reader.matched
    return f'{{"type":"FeatureCollection","features":[{features}],{json.dumps(tail)[1:]}'


def page_etag(version: int, q: feeds.FeedQuery, html: bool, root_url: str, full_path: str) -> str:
    """The ETag of an items page: the layer's data version, the view, the format, the root URL its links are
    built on and the request's path and query."""
    return etag_for(version, q.view.exact, html, root_url, full_path)


def read_page(q: feeds.FeedQuery, html: bool) -> tuple[feeds.PageReader, str, Response | None]:
    """The page of ``q`` read whole (see ``feeds.PageReader.read_page``), its ETag, and the 304 to send
    instead when the client's copy is current. A conditional request checks the layer's version first, so a
    current copy costs one small query, not the page."""
    reader = feeds.PageReader(get_engine(), q)
    try:
        if request.if_none_match or request.if_modified_since:
            reader.read_version()
            cached = not_modified(
                page_etag(reader.version, q, html, request.root_url, request.full_path), reader.changed_at
            )
            if cached:
                return reader, "", cached
        reader.read_page()
    finally:
        reader.close()
    return reader, page_etag(reader.version, q, html, request.root_url, request.full_path), None


@bp.get("/collections/<layer_id>/items")
@access.public
@records_reads()
def items(layer_id: str):
    """Features, filtered (bbox, datetime, field=value, CQL2 filter) and keyset-paged; printed by PostGIS and
    read whole in one statement, then sent in one piece (chunked writes cost ~4 ms more per response)."""
    view = layer_view(layer_id)
    q = feeds.parse_query(view, request.args)
    html = wants_html()
    reader, etag, cached = read_page(q, html)
    if cached:
        return cached
    if html:
        fc = json.loads(f"[{''.join(reader.features())}]")
        return set_validators(
            page("ogc_items.html", {"features": fc, "layer": view.layer, "fields": [f.name for f in view.fields]}),
            etag,
            reader.changed_at,
        )

    body = items_document(q, reader, request.base_url, request.args)
    return set_validators(Response(body, mimetype=GEOJSON), etag, reader.changed_at)


@bp.get("/collections/<layer_id>/items/<feature_id>")
@access.public
@records_reads(report_arg="feature_id")
def item(layer_id: str, feature_id: str):
    """One feature, if the caller may see it."""
    view = layer_view(layer_id)
    if not ID.fullmatch(feature_id):  # ASCII digits: str.isdigit() takes "²", int() takes "٣"
        raise NotFound(
            f"There is no feature {feature_id[:40]!r} in {layer_id!r}.",
            [FieldProblem("featureId", "feature ids are whole numbers (ASCII digits, at most 18)")],
        )
    feature_id = int(feature_id)
    q = feeds.FeedQuery(view, limit=1, filters=[{"op": "=", "args": [{"property": "id"}, feature_id]}])
    html = wants_html()
    reader, etag, cached = read_page(q, html)
    if cached:
        return cached
    found = "".join(reader.features())
    if not found:
        raise NotFound(f"There is no feature {feature_id} in {layer_id!r}.")
    feature = json.loads(found)
    feature["links"] = [
        link(request.base_url, "self", GEOJSON),
        link(url_for(".collection", layer_id=layer_id, _external=True), "collection", JSON),
    ]
    if html:
        return set_validators(
            page(
                "ogc_items.html", {"features": [feature], "layer": view.layer, "fields": [f.name for f in view.fields]}
            ),
            etag,
            reader.changed_at,
        )
    return set_validators(json_response(feature, GEOJSON), etag, reader.changed_at)
