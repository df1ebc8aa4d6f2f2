"""Downloads for planners: /export/{layer}.{geojson|csv|gpkg|shp.zip} with the feeds' filters plus ``aoi``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import Blueprint, Response, request, send_file, stream_with_context

from mapper.db import get_engine
from mapper.domain.errors import NotFound
from mapper.services import exports, feeds
from mapper.web import access
from mapper.web.audit import records_reads
from mapper.web.http_cache import enable_cors
from mapper.web.ogc import layer_view

bp = Blueprint("exports", __name__, url_prefix="/export")
enable_cors(bp)


def export_query(layer_id: str) -> tuple[feeds.FeedQuery, dict]:
    view = layer_view(layer_id)
    q = feeds.parse_query(view, request.args, limit_default=None, extra_params=("aoi",))
    if request.args.get("aoi"):
        q.filters.append(exports.aoi_filter(request.args["aoi"]))
    return q, {k: v for k, v in request.args.items()}


@bp.get("/<filename>")
@access.public
@records_reads()
def export(filename: str):
    """The layer (as the caller may see it), filtered, in the asked format, as a download."""
    layer_id, _, fmt = filename.partition(".")
    if fmt not in exports.FORMATS:
        raise NotFound(f"Unknown export format {fmt!r}; formats: {', '.join(exports.FORMATS)}.")
    q, query = export_query(layer_id)
    engine = get_engine()
    filename = f"{layer_id}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "geojson":
        body = stream_with_context(exports.geojson_chunks(engine, q, query))
        return Response(body, mimetype=exports.FORMATS[fmt], headers=headers)
    spool = Path(tempfile.mkdtemp(prefix="mapper-export-")) / filename
    exports.export_to_file(engine, q, fmt, spool, query)
    resp = send_file(spool, mimetype=exports.FORMATS[fmt], as_attachment=True, download_name=filename)
    resp.call_on_close(lambda: (os.unlink(spool), os.rmdir(spool.parent)))
    return resp
