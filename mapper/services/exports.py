"""Exports for planners: GeoJSON, CSV, GeoPackage and zipped Shapefile, with the feeds' filters.

GeoJSON and CSV are produced by PostGIS and streamed/spooled; GeoPackage and Shapefile are written by
pyogrio in batches from a server-side cursor, so memory stays bounded at any size. Every export records
the query and the time: a ``metadata`` member (GeoJSON), the GeoPackage metadata, or a README in the zip.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import Engine

from mapper import db
from mapper.domain.errors import BadRequest, FieldProblem
from mapper.services.feeds import FeedQuery, batched, stream_features
from mapper.store import features as store

FORMATS = {
    "geojson": "application/geo+json",
    "csv": "text/csv",
    "gpkg": "application/geopackage+sqlite3",
    "shp.zip": "application/zip",
}
BATCH = 50_000


def aoi_filter(raw: str) -> dict:
    """An area of interest (a GeoJSON Polygon/MultiPolygon, or a Feature holding one) as a CQL2 node."""
    try:
        doc = json.loads(raw)
        geom = doc.get("geometry", doc) if doc.get("type") == "Feature" else doc
        parsed = shapely.geometry.shape(geom)
    except Exception:
        raise BadRequest("Invalid aoi.", [FieldProblem("aoi", "must be a GeoJSON Polygon or MultiPolygon")]) from None
    if parsed.geom_type not in ("Polygon", "MultiPolygon") or not parsed.is_valid:
        raise BadRequest("Invalid aoi.", [FieldProblem("aoi", "must be a valid GeoJSON Polygon or MultiPolygon")])
    return {"op": "s_intersects", "args": [{"property": "geometry"}, geom]}


def metadata(q: FeedQuery, query: dict) -> dict:
    return {
        "layer": q.view.layer.id,
        "title": q.view.layer.title,
        "query": query,
        "view": "exact (staff)" if q.view.exact else f"public (locations to {q.view.precision_m:g} m)",
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "generator": "civic-mapper",
    }


def geojson_chunks(engine: Engine, q: FeedQuery, query: dict):
    """A FeatureCollection, streamed."""
    yield '{"type":"FeatureCollection","metadata":' + json.dumps(metadata(q, query)) + ',"features":['
    yield from batched(stream_features(engine, q))
    yield "]}"


def write_csv(engine: Engine, q: FeedQuery, out) -> None:
    """CSV (id, lon, lat, wkt, fields, status, observed_at) into a binary file object, via COPY."""
    sql, params = store.csv_copy_sql(q.view, q.where())
    with db.cursor(engine) as cur:
        cur.copy_expert(cur.mogrify(sql, params).decode(), out)


def _batches(engine: Engine, q: FeedQuery):
    sql, params = store.wkb_rows_sql(q.view, q.where())
    with db.cursor(engine, name="export") as cur:
        cur.itersize = BATCH
        cur.execute(sql, params)
        while rows := cur.fetchmany(BATCH):
            yield rows


def _frame(q: FeedQuery, rows) -> gpd.GeoDataFrame:
    props = pd.DataFrame.from_records([json.loads(r[1]) for r in rows])
    for f in q.view.fields:
        if f.multiple and f.name in props:
            props[f.name] = props[f.name].map(lambda v: ";".join(v) if isinstance(v, list) else v)
    return gpd.GeoDataFrame(props, geometry=shapely.from_wkb([bytes(r[0]) for r in rows]), crs=4326)


def write_ogr(engine: Engine, q: FeedQuery, path: Path, driver: str, query: dict) -> int:
    """Write a GeoPackage or Shapefile in batches; returns the feature count."""
    n = 0
    meta = {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in metadata(q, query).items()}
    for rows in _batches(engine, q):
        frame = _frame(q, rows)
        kwargs = {"layer": q.view.layer.id} if driver == "GPKG" else {}
        if n == 0 and driver == "GPKG":
            kwargs["dataset_metadata"] = meta
        pyogrio.write_dataframe(frame, path, driver=driver, append=n > 0, **kwargs)
        n += len(frame)
    if n == 0:  # an empty layer still gets its file, with the schema
        empty = gpd.GeoDataFrame({"id": pd.Series(dtype="int64")}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
        kwargs = {"layer": q.view.layer.id, "dataset_metadata": meta} if driver == "GPKG" else {}
        pyogrio.write_dataframe(empty, path, driver=driver, geometry_type="Unknown", **kwargs)
    return n


def export_to_file(engine: Engine, q: FeedQuery, fmt: str, path: Path, query: dict) -> int | None:
    """Write one export to ``path`` (any format). Returns the feature count where known."""
    path = Path(path)
    if fmt == "geojson":
        with open(path, "w", encoding="utf-8") as f:
            for chunk in geojson_chunks(engine, q, query):
                f.write(chunk)
        return None
    if fmt == "csv":
        with open(path, "wb") as f:
            write_csv(engine, q, f)
        return None
    if fmt == "gpkg":
        path.unlink(missing_ok=True)
        return write_ogr(engine, q, path, "GPKG", query)
    if fmt == "shp.zip":
        work = Path(tempfile.mkdtemp(prefix="mapper-shp-"))
        try:
            n = write_ogr(engine, q, work / f"{q.view.layer.id}.shp", "ESRI Shapefile", query)
            (work / "README.txt").write_text(readme(q, query, n))
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(work.iterdir()):
                    z.write(f, f.name)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return n
    raise BadRequest(f"Unknown export format {fmt!r}.", [FieldProblem("format", f"one of {', '.join(FORMATS)}")])


def readme(q: FeedQuery, query: dict, n: int) -> str:
    meta = metadata(q, query)
    names = [f.name for f in q.view.fields if len(f.name) > 10]
    lines = [
        f"{meta['title']} ({meta['layer']}) — exported by civic-mapper",
        "",
        f"Exported at: {meta['exported_at']}",
        f"Features: {n}",
        f"View: {meta['view']}",
        f"Query: {json.dumps(query)}",
        "CRS: WGS 84 (EPSG:4326), longitude/latitude",
        "",
    ]
    if names:
        lines.append("Shapefile field names are cut to 10 characters: " + ", ".join(f"{n[:10]} = {n}" for n in names))
    return "\n".join(lines) + "\n"


def format_of(filename: str) -> str:
    """The export format named by a file name's extension."""
    name = filename.lower()
    for fmt in sorted(FORMATS, key=len, reverse=True):
        if name.endswith("." + fmt):
            return fmt
    if name.endswith(".json"):
        return "geojson"
    raise BadRequest(
        f"Cannot tell the format of {filename!r}.",
        [FieldProblem("file", f"use one of the extensions .{', .'.join(FORMATS)}")],
    )
