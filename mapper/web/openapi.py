"""/api/openapi.json: OpenAPI 3.0 for every endpoint (intake, OGC feeds, tiles, exports), per layer."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from mapper.domain import lifecycle, photos, policy
from mapper.domain.layers import Layer
from mapper.services.exports import FORMATS as EXPORT_FORMATS
from mapper.services.feeds import CRS84, DEFAULT_LIMIT, FORMATS, MAX_LIMIT, MAX_MAP_ZOOM
from mapper.store.cql import LANGUAGES
from mapper.web import access
from mapper.web.field_schema import field_schema
from mapper.web.ogc import OPENAPI, json_response
from mapper.web.tiles import MAX_ZOOM

bp = Blueprint("openapi", __name__)

_INSTANT = "[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?"
DATETIME_PATTERN = f"^({_INSTANT}|({_INSTANT}|[.][.])?/({_INSTANT}|[.][.])?)?$"
PROBLEM = {
    "description": "Problem details (RFC 9457)",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}

ATOM_FEED = {
    "description": "An Atom 1.0 feed (RFC 4287)",
    "content": {"application/atom+xml": {"schema": {"type": "string"}}},
}

PROBLEM_OR_HTML = {  # where f=html asks for pages, a missing page is an HTML one
    "description": "Problem details (RFC 9457), or an HTML page for f=html",
    "content": {**PROBLEM["content"], "text/html": {"schema": {"type": "string"}}},
}


MULTIPART_REPORT = {
    "type": "object",
    "required": ["feature"],
    "properties": {
        "feature": {"type": "string", "description": "The GeoJSON Feature as JSON text (or a file part)"},
        "photo": {
            "type": "array",
            "maxItems": photos.MAX_PHOTOS,
            "items": {"type": "string", "format": "binary"},
            "description": f"Up to {photos.MAX_PHOTOS} JPEG, PNG or WebP images of at most "
            f"{photos.MAX_BYTES // (1024 * 1024)} MB and {photos.MAX_PIXELS // 1_000_000} megapixels each; "
            "re-encoded without metadata. A refused file is a 422 naming its part (photo[n]) and name",
        },
    },
}


def _photo_paths() -> dict:
    ids = [
        _param("report_id", "path", {"type": "integer", "minimum": 0}, required=True),
        _param("position", "path", {"type": "integer", "minimum": 1, "maximum": photos.MAX_PHOTOS}, required=True),
    ]
    image = {t: {"schema": {"type": "string", "format": "binary"}} for t in photos.FORMATS.values()}
    seen = "public when its report is and it is not hidden; staff who handle the report see every photo"
    paths = {
        "/api/reports/{report_id}/photos/{position}": ("A report's photo (" + seen + ")", image, "getPhoto"),
        "/api/reports/{report_id}/photos/{position}/thumbnail": (
            f"A photo's thumbnail, at most {photos.THUMBNAIL_PX} px (seen as the photo is)",
            {photos.THUMBNAIL_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "getPhotoThumbnail",
        ),
    }
    doc = {
        path: {
            "get": {
                "summary": summary,
                "operationId": op,
                "tags": ["Intake"],
                "parameters": ids,
                "responses": {
                    "200": {"description": "The image", "content": content},
                    "304": {"description": "Not modified"},
                    "404": PROBLEM,
                },
            }
        }
        for path, (summary, content, op) in paths.items()
    }
    for action in ("hide", "unhide"):
        doc[f"/api/reports/{{report_id}}/photos/{{position}}/{action}"] = {
            "post": {
                "summary": f"{action.capitalize()} one photo (moderators and admin); its report is left as it is",
                "operationId": f"{action}Photo",
                "tags": ["Intake"],
                "parameters": ids,
                "responses": {
                    "200": {
                        "description": "The photo's state",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                },
            }
        }
    return doc


def _param(name, where, schema, description="", required=False, style=None, explode=None) -> dict:
    p = {"name": name, "in": where, "required": required, "schema": schema}
    if description:
        p["description"] = description
    if style:
        p["style"], p["explode"] = style, explode
    return p


FEED_PARAMS = [
    _param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "default": DEFAULT_LIMIT},
        f"Features per page; values above {MAX_LIMIT} are clamped to {MAX_LIMIT} (as OGC API – Features allows).",
    ),
    _param(
        "bbox",
        "query",
        {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        "minLon,minLat,maxLon,maxLat (WGS 84). minLon > maxLon crosses the antimeridian.",
        style="form",
        explode=False,
    ),
    _param("bbox-crs", "query", {"type": "string", "enum": list(CRS84)}),
    _param(
        "datetime",
        "query",
        {"type": "string", "pattern": DATETIME_PATTERN},
        "An RFC 3339 date or date-time, or an interval a/b with open ends '..' (on the report's observed time).",
    ),
    _param("filter", "query", {"type": "string"}, "A CQL2 filter on the queryables."),
    _param(
        "filter-lang",
        "query",
        {"type": "string", "enum": list(LANGUAGES), "default": "cql2-text"},
    ),
    _param("filter-crs", "query", {"type": "string", "enum": list(CRS84)}),
    _param("cursor", "query", {"type": "string", "pattern": "^[ab][0-9]{1,18}$"}, "From a next/prev link."),
    _param("f", "query", {"type": "string", "enum": list(FORMATS)}),
]


def layer_params(layer: Layer) -> list[dict]:
    return [
        _param(
            f.name,
            "query",
            field_schema(f) if not f.multiple else {"type": "string", "enum": list(f.values)},
            f"Equality filter on {f.label}" + (" (contains)" if f.multiple else ""),
        )
        for f in layer.public_fields
    ]


def feature_schema(layer: Layer) -> dict:
    props = {f.name: {**field_schema(f), "nullable": True} for f in layer.fields}
    props["status"] = {"type": "string"}
    props["observed_at"] = {"type": "string", "format": "date-time"}
    return {
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "integer"},
            "geometry": {"$ref": "#/components/schemas/Geometry"},
            "properties": {"type": "object", "properties": props},
        },
    }


def report_input_schema(layer: Layer) -> dict:
    props = {f.name: {**field_schema(f), "nullable": not f.required} for f in layer.fields}
    return {
        "type": "object",
        "required": ["type", "geometry"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "geometry": {"$ref": "#/components/schemas/Geometry"},
            "crs": {"type": "string", "description": "CRS of the coordinates, e.g. EPSG:3857 (default WGS 84)"},
            "properties": {
                "type": "object",
                "additionalProperties": False,
                "properties": props,
                "required": [f.name for f in layer.fields if f.required],
            },
        },
    }


def document(layers: list[Layer], server: str) -> dict:
    """The OpenAPI 3.0 document."""

    def ok_json(desc, schema=None):
        return {
            "description": desc,
            "content": {"application/json": {"schema": schema or {"type": "object"}}},
        }

    def ok_json_or_html(desc):  # OGC API resources: HTML for f=html or an Accept preferring it
        return {
            "description": f"{desc} (HTML for f=html)",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/html": {"schema": {"type": "string"}},
            },
        }

    f_param = FEED_PARAMS[-1]

    paths: dict = {
        "/ogc": {
            "get": {
                "summary": "Landing page",
                "operationId": "getLandingPage",
                "tags": ["OGC API"],
                "parameters": [f_param],
                "responses": {"200": ok_json_or_html("Landing page"), "400": PROBLEM},
            }
        },
        "/ogc/conformance": {
            "get": {
                "summary": "Conformance classes",
                "operationId": "getConformance",
                "tags": ["OGC API"],
                "parameters": [f_param],
                "responses": {"200": ok_json_or_html("Conformance"), "400": PROBLEM},
            }
        },
        "/ogc/collections": {
            "get": {
                "summary": "Collections",
                "operationId": "getCollections",
                "tags": ["OGC API"],
                "parameters": [f_param],
                "responses": {"200": ok_json_or_html("Collections"), "400": PROBLEM},
            }
        },
        "/api/layers": {
            "get": {
                "summary": "Layer schemas",
                "operationId": "listLayers",
                "tags": ["Intake"],
                "responses": {"200": ok_json("Layers")},
            }
        },
        "/api/reports/{tracking_token}": {
            "get": {
                "summary": "A report's status and history, for the holder of its tracking token",
                "operationId": "trackReport",
                "tags": ["Intake"],
                "parameters": [_param("tracking_token", "path", {"type": "string"}, required=True)],
                "responses": {"200": ok_json("Status"), "404": PROBLEM},
            }
        },
        "/api/reports/{tracking_token}/feedback": {
            "post": {
                "summary": "The reporter confirms or disputes their resolved report (a dispute reopens it)",
                "operationId": "giveReportFeedback",
                "tags": ["Intake"],
                "parameters": [_param("tracking_token", "path", {"type": "string"}, required=True)],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["verdict"],
                                "additionalProperties": False,
                                "properties": {
                                    "verdict": {"type": "string", "enum": ["confirmed", "disputed"]},
                                    "comment": {"type": "string", "maxLength": 2000},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": ok_json("The verdict and the report's status"),
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "413": PROBLEM,
                    "415": PROBLEM,
                    "422": PROBLEM,
                    "429": PROBLEM,
                },
            }
        },
        "/api/reports/{tracking_token}/feed.atom": {
            "get": {
                "summary": "A report's public updates as an Atom feed, for the holder of its tracking token",
                "operationId": "trackReportFeed",
                "tags": ["Feeds"],
                "parameters": [_param("tracking_token", "path", {"type": "string"}, required=True)],
                "responses": {"200": ATOM_FEED, "404": PROBLEM},
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "getOpenAPI",
                "responses": {
                    "200": {"description": "OpenAPI 3.0", "content": {OPENAPI: {"schema": {"type": "object"}}}}
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness and database readiness",
                "operationId": "health",
                "responses": {"200": ok_json("OK")},
            }
        },
        "/api/scores/{collection}/{subject_id}": {
            "get": {
                "summary": "How a score was computed (report, hot spot cell or area): method, version, inputs, "
                "parameters, reference and a plain-words summary",
                "operationId": "explainScore",
                "tags": ["Scores"],
                "parameters": [
                    _param("collection", "path", {"type": "string"}, required=True),
                    _param("subject_id", "path", {"type": "integer", "minimum": 0}, required=True),
                ],
                "responses": {"200": ok_json("Explanation"), "404": PROBLEM},
            }
        },
        "/api/scores/{layer_id}": {
            "get": {
                "summary": "The newest results of a layer's scores (health centres ranked; ?service= filters)",
                "operationId": "layerScores",
                "tags": ["Scores"],
                "parameters": [
                    _param("layer_id", "path", {"type": "string"}, required=True),
                    _param("service", "query", {"type": "string"}),
                ],
                "responses": {"200": ok_json("Scores"), "404": PROBLEM},
            }
        },
        "/api/scores/{layer_id}/run": {
            "post": {
                "summary": "Recompute a layer's scores (admin, and the roles its layer's [access] run_scores names)",
                "operationId": "runScores",
                "tags": ["Scores"],
                "parameters": [_param("layer_id", "path", {"type": "string"}, required=True)],
                "responses": {"200": ok_json("Run summaries"), "401": PROBLEM, "403": PROBLEM, "404": PROBLEM},
            }
        },
        "/api/gtfs/feeds": {
            "get": {
                "summary": "Imported GTFS feeds",
                "operationId": "listFeeds",
                "tags": ["Transit"],
                "responses": {"200": ok_json("Feeds")},
            },
            "post": {
                "summary": f"Import a GTFS zip (staff: {', '.join(policy.granted('upload_gtfs'))}); the same name "
                "replaces a feed",
                "operationId": "uploadFeed",
                "tags": ["Transit"],
                "parameters": [
                    _param(
                        "name",
                        "query",
                        {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"},
                        required=True,
                    )
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "201": ok_json("Validation report and counts"),
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "413": PROBLEM,
                    "422": PROBLEM,
                },
            },
        },
        "/api/reports/{report_id}/transitions": {
            "post": {
                "summary": "Move a report through its lifecycle (the roles its layer's [access] act_on_reports names, "
                "and admin; moderators verify, reject and hide any report)",
                "operationId": "transitionReport",
                "tags": ["Intake"],
                "parameters": [_param("report_id", "path", {"type": "integer", "minimum": 0}, required=True)],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["to"],
                                "additionalProperties": False,
                                "properties": {
                                    "to": {"type": "string", "enum": list(lifecycle.STATUSES)},
                                    "comment": {"type": "string", "maxLength": 2000},
                                    "note": {"type": "string", "maxLength": 2000},
                                    "reason": {
                                        "type": "string",
                                        "enum": sorted({r for rs in lifecycle.REASONS.values() for r in rs}),
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": ok_json("The report's new status"),
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "422": PROBLEM,
                },
            }
        },
        **_photo_paths(),
        "/api/reports/{report_id}/history": {
            "get": {
                "summary": "A report's history with internal notes and actors, and where it may go next (staff who "
                "act on or see the report)",
                "operationId": "reportHistory",
                "tags": ["Intake"],
                "parameters": [_param("report_id", "path", {"type": "integer", "minimum": 0}, required=True)],
                "responses": {"200": ok_json("History"), "401": PROBLEM, "404": PROBLEM},
            }
        },
        "/api/reports/{report_id}/duplicates": {
            "get": {
                "summary": "Reports that may be the same problem: same layer (and category), within the layer's "
                "[duplicates] distance and days, nearest first (staff who act on or see the report)",
                "operationId": "reportDuplicates",
                "tags": ["Intake"],
                "parameters": [_param("report_id", "path", {"type": "integer", "minimum": 0}, required=True)],
                "responses": {"200": ok_json("Duplicate suggestions"), "401": PROBLEM, "404": PROBLEM},
            }
        },
        "/api/reports/{report_id}/merge": {
            "post": {
                "summary": "Merge a report into another of its layer: rejected with the reason duplicate, linked "
                "to it (the roles that may reject the report)",
                "operationId": "mergeReport",
                "tags": ["Intake"],
                "parameters": [_param("report_id", "path", {"type": "integer", "minimum": 0}, required=True)],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["into"],
                                "additionalProperties": False,
                                "properties": {
                                    "into": {"type": "integer", "minimum": 1},
                                    "comment": {"type": "string", "maxLength": 2000},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": ok_json("The report's new status and the report it duplicates"),
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "422": PROBLEM,
                },
            }
        },
        "/api/reports/{report_id}/alert-decision": {
            "post": {
                "summary": "Verify or dismiss a citizen's water alert (admin, and the roles water_quality's [access] "
                "decide_alerts names)",
                "operationId": "decideAlert",
                "tags": ["Scores"],
                "parameters": [_param("report_id", "path", {"type": "integer", "minimum": 0}, required=True)],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["decision"],
                                "properties": {
                                    "decision": {"type": "string", "enum": ["verify", "dismiss"]},
                                    "note": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": ok_json("Decision"),
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                    "422": PROBLEM,
                },
            }
        },
    }
    schemas = {
        "Problem": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "reason": {"type": "string"},
                            "row": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "Geometry": {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"type": "string", "enum": ["Point", "Polygon", "MultiPolygon"]},
                "coordinates": {"type": "array", "items": {}},
            },
        },
    }
    for layer in layers:
        lid = layer.id
        schemas[f"{lid}Feature"] = feature_schema(layer)
        schemas[f"{lid}ReportInput"] = report_input_schema(layer)
        fc = {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": {"$ref": f"#/components/schemas/{lid}Feature"}},
                "numberReturned": {"type": "integer"},
                "numberMatched": {"type": "integer"},
                "links": {"type": "array", "items": {"type": "object"}},
            },
        }

        def geo(desc, schema):
            return {
                "description": desc,
                "content": {
                    "application/geo+json": {"schema": schema},
                    "text/html": {"schema": {"type": "string"}},
                },
            }

        paths[f"/ogc/collections/{lid}"] = {
            "get": {
                "summary": f"{layer.title}: collection",
                "operationId": f"describe_{lid}",
                "tags": ["OGC API"],
                "parameters": [f_param],
                "responses": {"200": ok_json_or_html("Collection"), "400": PROBLEM, "404": PROBLEM},
            }
        }
        paths[f"/ogc/collections/{lid}/queryables"] = {
            "get": {
                "summary": f"{layer.title}: queryables",
                "operationId": f"queryables_{lid}",
                "tags": ["OGC API"],
                "responses": {
                    "200": {
                        "description": "JSON Schema",
                        "content": {"application/schema+json": {"schema": {"type": "object"}}},
                    }
                },
            }
        }
        paths[f"/ogc/collections/{lid}/items"] = {
            "get": {
                "summary": f"{layer.title}: features",
                "operationId": f"getFeatures_{lid}",
                "tags": ["OGC API"],
                "parameters": FEED_PARAMS + layer_params(layer),
                "responses": {"200": geo("Features", fc), "400": PROBLEM, "404": PROBLEM_OR_HTML},
            }
        }
        paths[f"/ogc/collections/{lid}/items/{{featureId}}"] = {
            "get": {
                "summary": f"{layer.title}: one feature",
                "operationId": f"getFeature_{lid}",
                "tags": ["OGC API"],
                "parameters": [_param("featureId", "path", {"type": "string"}, required=True), f_param],
                "responses": {
                    "200": geo("Feature", {"$ref": f"#/components/schemas/{lid}Feature"}),
                    "400": PROBLEM,
                    "404": PROBLEM_OR_HTML,
                },
            }
        }
        paths[f"/tiles/{lid}.json"] = {
            "get": {
                "summary": f"{layer.title}: TileJSON",
                "operationId": f"tilejson_{lid}",
                "tags": ["Tiles"],
                "responses": {"200": ok_json("TileJSON 3.0")},
            }
        }
        paths[f"/tiles/{lid}/{{z}}/{{x}}/{{y}}.mvt"] = {
            "get": {
                "summary": f"{layer.title}: vector tile",
                "operationId": f"tile_{lid}",
                "tags": ["Tiles"],
                "parameters": [
                    _param(
                        n,
                        "path",
                        {"type": "integer", "minimum": 0, **({"maximum": MAX_ZOOM} if n == "z" else {})},
                        required=True,
                    )
                    for n in "zxy"
                ]
                + [p for p in FEED_PARAMS if p["name"] in ("datetime", "filter", "filter-lang")]
                + layer_params(layer),
                "responses": {
                    "200": {
                        "description": "Mapbox Vector Tile",
                        "content": {
                            "application/vnd.mapbox-vector-tile": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "204": {"description": "No feature in this tile"},
                    "400": PROBLEM,
                    "404": PROBLEM,
                },
            }
        }
        paths[f"/api/maps/{lid}/counts"] = {
            "get": {
                "summary": f"{layer.title}: reports per square of the screen (for maps)",
                "operationId": f"mapCounts_{lid}",
                "tags": ["Maps"],
                "parameters": [
                    _param("zoom", "query", {"type": "integer", "minimum": 0, "maximum": MAX_MAP_ZOOM}, required=True)
                ]
                + [p for p in FEED_PARAMS if p["name"] in ("bbox", "limit", "datetime", "filter", "filter-lang")]
                + layer_params(layer),
                "responses": {
                    "200": geo(
                        "Counts per square (features only when numberMatched exceeds limit)",
                        {
                            "type": "object",
                            "required": ["type", "numberMatched", "cellSize", "features"],
                            "properties": {
                                "type": {"type": "string", "enum": ["FeatureCollection"]},
                                "numberMatched": {"type": "integer", "minimum": 0},
                                "cellSize": {"type": "number"},
                                "features": {"type": "array"},
                            },
                        },
                    ),
                    "400": PROBLEM,
                    "404": PROBLEM,
                },
            }
        }
        exported = {
            "geojson": {
                "type": "object",
                "required": ["type", "features"],
                "properties": {**fc["properties"], "metadata": {"type": "object"}},
            },
            "csv": {"type": "string"},
        }
        for fmt, mime in EXPORT_FORMATS.items():
            paths[f"/export/{lid}.{fmt}"] = {
                "get": {
                    "summary": f"{layer.title}: export as {fmt}",
                    "operationId": f"export_{lid}_{fmt.replace('.', '_')}",
                    "tags": ["Exports"],
                    "parameters": [p for p in FEED_PARAMS if p["name"] not in ("limit", "cursor", "f")]
                    + [_param("aoi", "query", {"type": "string"}, "Area of interest: a GeoJSON Polygon")]
                    + layer_params(layer),
                    "responses": {
                        "200": {
                            "description": f"The export ({mime}, as an attachment)",
                            "content": {mime: {"schema": exported.get(fmt, {"type": "string", "format": "binary"})}},
                        },
                        "400": PROBLEM,
                        "404": PROBLEM,
                    },
                }
            }
        if layer.table != "reports":  # derived collections take no reports
            continue
        paths[f"/feeds/{lid}.atom"] = {
            "get": {
                "summary": f"{layer.title}: newest public reports (Atom)",
                "operationId": f"atom_{lid}",
                "tags": ["Feeds"],
                "parameters": [p for p in FEED_PARAMS if p["name"] == "bbox"],
                "responses": {"200": ATOM_FEED, "304": {"description": "Not modified"}, "400": PROBLEM},
            }
        }
        paths[f"/api/layers/{lid}"] = {
            "get": {
                "summary": f"{layer.title}: schema",
                "operationId": f"layer_{lid}",
                "tags": ["Intake"],
                "responses": {"200": ok_json("Layer schema")},
            }
        }
        paths[f"/api/layers/{lid}/reports"] = {
            "post": {
                "summary": f"Report to {layer.title}",
                "operationId": f"report_{lid}",
                "tags": ["Intake"],
                "parameters": [
                    _param("crs", "query", {"type": "string"}, "CRS of the coordinates, e.g. EPSG:3857"),
                    _param(
                        "Idempotency-Key",
                        "header",
                        {"type": "string", "minLength": 1, "maxLength": 255},
                        "A retry with the same key and body returns the first response",
                    ),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        **{
                            t: {"schema": {"$ref": f"#/components/schemas/{lid}ReportInput"}}
                            for t in ("application/geo+json", "application/json")
                        },
                        "multipart/form-data": {"schema": MULTIPART_REPORT},
                    },
                },
                "responses": {
                    "201": ok_json(
                        "Created",
                        {
                            "type": "object",
                            "properties": {
                                "id": {"type": "integer"},
                                "status": {"type": "string"},
                                "tracking_token": {"type": "string"},
                                "tracking_url": {"type": "string"},
                                "tracking_page": {"type": "string"},
                                "created_at": {"type": "string"},
                            },
                        },
                    ),
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "413": PROBLEM,
                    "422": PROBLEM,
                },
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "civic-mapper",
            "version": "0.1.0",
            "description": "Crowdsourced civic reports: intake, OGC API – Features, vector tiles, exports.",
        },
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "staffToken": {"type": "http", "scheme": "bearer", "description": "from `mapper token create`"}
            },
        },
        "security": [{}, {"staffToken": []}],
    }


@bp.get("/api/openapi.json")
@access.public
def openapi_json():
    """The OpenAPI 3.0 description of the platform."""
    layers = current_app.extensions["mapper.registry"].collections()
    return json_response(document(layers, request.host_url.rstrip("/")), OPENAPI)
