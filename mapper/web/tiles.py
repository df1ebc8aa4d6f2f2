"""Mapbox Vector Tiles built by PostGIS (``ST_AsMVT``) with the same privacy views as the feeds."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, url_for

from mapper.db import get_engine
from mapper.domain.errors import BadRequest, FieldProblem
from mapper.services import feeds
from mapper.services.tiles import TileCache, cached_tile
from mapper.web import access
from mapper.web.audit import records_reads
from mapper.web.http_cache import enable_cors, etag_for, not_modified, set_validators
from mapper.web.ogc import json_response, layer_view

bp = Blueprint("tiles", __name__, url_prefix="/tiles")
enable_cors(bp)
MVT = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 22
DENSE_TILES = (
    "One feature per report at its published (generalised) location; a tile that would hold more "
    "reports than MAX_FEATURES_PER_TILE carries instead one feature per published location, with only "
    "report_count (the number of public reports there)."
)


def tile_cache() -> TileCache:
    """This application's tile cache (``TILE_CACHE_MB``), made on first use."""
    cache = current_app.extensions.get("mapper.tile_cache")
    if cache is None:
        cache = current_app.extensions.setdefault(
            "mapper.tile_cache", TileCache(int(float(current_app.config["TILE_CACHE_MB"]) * 1024 * 1024))
        )
    return cache


@bp.get("/<layer_id>.json")
@access.public
def tilejson(layer_id: str):
    """TileJSON 3.0 for one layer."""
    view = layer_view(layer_id)
    summary = feeds.collection_summary(get_engine(), view)
    fields = {f.name: f.type for f in view.fields} | {"status": "text", "observed_at": "datetime"}
    if view.generalised:
        fields["report_count"] = "integer"
    template = url_for(".tile", layer_id=layer_id, z=0, x=0, y=0, _external=True).replace(
        "/0/0/0.mvt", "/{z}/{x}/{y}.mvt"
    )
    return json_response(
        {
            "tilejson": "3.0.0",
            "name": view.layer.title,
            "description": view.layer.description,
            "tiles": [template],
            "minzoom": 0,
            "maxzoom": MAX_ZOOM,
            "bounds": summary["bbox"] or [-180, -85.0511, 180, 85.0511],
            "vector_layers": [
                {
                    "id": layer_id,
                    "fields": fields,
                    "description": DENSE_TILES if view.generalised else "One feature per report.",
                }
            ],
        }
    )


@bp.get("/<layer_id>/<int:z>/<int:x>/<int:y>.mvt")
@access.public
@records_reads()
def tile(layer_id: str, z: int, x: int, y: int):
    """One tile; 204 when it holds no feature. Filters as for items (datetime, field=value, filter)."""
    if z > MAX_ZOOM or x >= 2**z or y >= 2**z:
        raise BadRequest(f"No tile {z}/{x}/{y}.", [FieldProblem("z/x/y", f"z must be 0–{MAX_ZOOM}, x and y < 2^z")])
    view = layer_view(layer_id)
    q = feeds.parse_query(view, request.args, limit_default=None)
    q.tile = (z, x, y)
    reader = feeds.PageReader(get_engine(), q)
    try:
        etag = etag_for(reader.version, view.exact, request.full_path)
        cached = not_modified(etag, reader.changed_at)
        if cached:
            return cached
        data = cached_tile(tile_cache(), etag, reader, int(current_app.config["MAX_FEATURES_PER_TILE"]))
    finally:
        reader.close()
    resp = Response(data, mimetype=MVT, status=200 if data else 204)
    return set_validators(resp, etag, reader.changed_at, max_age=60)
