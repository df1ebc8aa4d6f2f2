"""Bulk import of report files (CSV, GeoJSON, GeoPackage, zipped Shapefile) through pyogrio and COPY.

Every row is validated with the same rules as the API before anything is written; the load is one
transaction, so a failed import leaves the database as it was. Ids follow the file's row order, but rows
are written in spatial (Hilbert curve) order, so reports near each other share disk pages and a map window
reads few of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from sqlalchemy import Engine

from mapper import db
from mapper.domain import lifecycle
from mapper.domain.errors import FieldProblem, NotFound, ValidationFailed
from mapper.domain.geometry import array_problems, transform_to_wgs84
from mapper.domain.layers import Layer, Registry
from mapper.domain.lifecycle import SUBMITTED
from mapper.domain.values import validate_frame
from mapper.services import scoring
from mapper.services.streams import ChunkReader
from mapper.store import reports as repository

CSV_OPTIONS = {
    "X_POSSIBLE_NAMES": "lon,longitude,lng,x",
    "Y_POSSIBLE_NAMES": "lat,latitude,y",
    "GEOM_POSSIBLE_NAMES": "wkt,geometry,geom,the_geom",
    "KEEP_GEOM_COLUMNS": "NO",
}
CHUNK_ROWS = 100_000
MAX_LISTED_PROBLEMS = 200


class ImportFailed(ValidationFailed):
    title = "Import failed"


@dataclass
class ImportResult:
    import_id: int | None
    rows: int
    skipped: int
    seconds: float
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def read_file(path: Path, crs: str | None) -> gpd.GeoDataFrame:
    """Read a report file into a GeoDataFrame in WGS 84 (``crs`` overrides the file's own)."""
    if not path.exists():
        raise ImportFailed(f"No such file: {path}", [FieldProblem("file", "not found")])
    is_csv = path.suffix.lower() in (".csv", ".txt", ".tsv")
    kwargs = {"use_arrow": True}
    if is_csv:
        kwargs.update({k.lower(): v for k, v in CSV_OPTIONS.items()})
    try:
        gdf = pyogrio.read_dataframe(path, **kwargs)
    except Exception as e:  # pyogrio raises several DataSource errors; all mean "cannot read"
        raise ImportFailed(f"Cannot read {path.name}: {e}", [FieldProblem("file", str(e))]) from None
    if "geometry" not in gdf or not isinstance(gdf, gpd.GeoDataFrame):
        raise ImportFailed(
            f"{path.name} has no geometry",
            [FieldProblem("geometry", "no geometry found (CSV needs lon/lat or a WKT column)")],
        )
    if crs:
        try:
            gdf = gdf.set_crs(CRS.from_user_input(crs), allow_override=True)
        except CRSError:
            raise ImportFailed(f"Unknown CRS {crs!r}", [FieldProblem("crs", f"unknown CRS {crs!r}")]) from None
    elif gdf.crs is None:
        gdf = gdf.set_crs(4326)  # CSV and GeoJSON without a CRS are lon/lat
    outside = np.zeros(len(gdf), dtype=bool)
    if gdf.crs.to_epsg() != 4326:
        geoms, outside = transform_to_wgs84(np.asarray(gdf.geometry.values, dtype=object), gdf.crs.to_wkt())
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index), crs=4326)
    gdf.attrs["outside_crs"] = outside
    return gdf


def field_names(layer: Layer, columns: list[str]) -> dict[str, str]:
    """Map file columns to field names: exact, case-insensitive, or a Shapefile's 10-character truncation."""
    names = [f.name for f in layer.fields]
    mapping = {}
    for col in columns:
        if col in names:
            continue
        low = col.lower()
        match = [n for n in names if n == low] or [n for n in names if len(low) == 10 and n[:10] == low]
        if len(match) == 1:
            mapping[col] = match[0]
    return mapping


def validate_rows(layer: Layer, gdf: gpd.GeoDataFrame, max_vertices: int):
    """(clean attribute frame, geometries, problems with 1-based row numbers, bad-row mask)."""
    attrs = pd.DataFrame(gdf.drop(columns="geometry"))
    attrs = attrs.rename(columns=field_names(layer, list(attrs.columns)))
    unknown = [c for c in attrs.columns if layer.field(c) is None]
    if unknown:
        raise ImportFailed(
            f"Columns not in layer {layer.id!r}: {', '.join(unknown)}",
            [FieldProblem(c, f"unknown field for layer {layer.id!r}") for c in unknown],
        )
    clean, problems = validate_frame(layer, attrs, prefix="")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    for pos, reason in array_problems(geoms, layer.geometry_types, max_vertices):
        problems.append(FieldProblem("geometry", reason, row=pos + 1))
    for pos in np.flatnonzero(gdf.attrs.get("outside_crs", np.zeros(0, dtype=bool))):
        problems.append(
            FieldProblem("geometry", "coordinates are outside the valid area of the file's CRS", row=int(pos) + 1)
        )
    bad = np.zeros(len(gdf), dtype=bool)
    for p in problems:
        bad[p.row - 1] = True
    problems.sort(key=lambda p: (p.row, p.field))
    return clean, geoms, problems, bad


def _json_lines(frame: pd.DataFrame) -> pd.Series:
    """One JSON object per row, escaped for COPY's text format."""
    if frame.shape[1] == 0:
        return pd.Series(["{}"] * len(frame))
    text = frame.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
    return pd.Series(text.replace("\\", "\\\\").rstrip("\n").split("\n"))


def copy_rows(
    layer: Layer,
    clean: pd.DataFrame,
    geoms: np.ndarray,
    ids: np.ndarray,
    import_id: int,
    source: str,
    status: str = SUBMITTED,
) -> str:
    """Rows for ``repository.copy_reports`` in COPY text format (columns ``REPORT_COPY_COLUMNS``)."""
    if layer.geometry != "point":
        geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    n = len(clean)
    public = [f.name for f in layer.fields if f.public]
    private = [f.name for f in layer.fields if not f.public]
    now = datetime.now(UTC).isoformat()
    observed = clean[layer.time_field].fillna(now) if layer.time_field else pd.Series([now] * n)
    wkb = pd.Series(shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True))
    lines = (
        pd.Series(ids).astype(str)
        + f"\t{layer.id}\t"
        + wkb
        + "\t"
        + _json_lines(clean[public])
        + "\t"
        + _json_lines(clean[private])
        + f"\t{status}\t"
        + observed.reset_index(drop=True).astype(str)
        + f"\t{source}\t{import_id}\t{layer.precision_m!r}"
    )
    return "\n".join(lines) + "\n"


def spatial_order(geoms: np.ndarray) -> np.ndarray:
    """The permutation that sorts ``geoms`` along a Hilbert curve over their extent (stable for ties)."""
    if len(geoms) < 2:
        return np.arange(len(geoms))
    return np.argsort(gpd.GeoSeries(geoms).hilbert_distance(), kind="stable")


def import_file(
    engine: Engine,
    registry: Registry,
    layer_id: str,
    path: str | Path,
    *,
    crs: str | None = None,
    skip_invalid: bool = False,
    max_vertices: int = 5000,
    progress=None,
    source: str = "import",
    publish: bool = True,
) -> ImportResult:
    """Validate every row of ``path`` against the layer and load it in one transaction; the rows are published
    unless ``publish`` is false (layers that moderate before publishing: they wait for verification).

    Without ``skip_invalid`` any bad row aborts the import (ImportFailed lists row, field, reason) and the
    database is unchanged. ``progress`` is an optional callable(rows_done, rows_total).
    """
    started = time.perf_counter()
    layer = registry.report_layer(layer_id)
    if layer is None:
        raise NotFound(f"There is no layer {layer_id!r}.", [FieldProblem("layer", "unknown layer")])
    path = Path(path)
    gdf = read_file(path, crs)
    return import_frame(
        engine,
        layer,
        gdf,
        path.name,
        skip_invalid=skip_invalid,
        max_vertices=max_vertices,
        progress=progress,
        source=source,
        started=started,
        publish=publish,
    )


def import_frame(
    engine: Engine,
    layer: Layer,
    gdf: gpd.GeoDataFrame,
    name: str,
    *,
    skip_invalid: bool = False,
    max_vertices: int = 5000,
    progress=None,
    source: str = "import",
    started: float | None = None,
    publish: bool = True,
) -> ImportResult:
    """Validate and load a GeoDataFrame in WGS 84 (see ``import_file``); ``name`` is recorded as the file."""
    started = started or time.perf_counter()
    status = lifecycle.imported_status(layer.moderation, publish)
    clean, geoms, problems, bad = validate_rows(layer, gdf, max_vertices)
    if problems and not skip_invalid:
        listed = problems[:MAX_LISTED_PROBLEMS]
        more = f" (first {len(listed)} of {len(problems)} problems listed)" if len(problems) > len(listed) else ""
        raise ImportFailed(f"{int(bad.sum())} of {len(gdf)} rows are invalid; nothing was imported{more}.", listed)
    keep = ~bad
    clean, geoms = clean[keep].reset_index(drop=True), geoms[keep]
    with db.cursor(engine, commit=True) as cur:
        import_id = repository.insert_import(cur, layer.id, name)
        ids = np.asarray(repository.reserve_report_ids(cur, len(clean)), dtype=np.int64)
        order = spatial_order(geoms)

        def chunks():
            for start in range(0, len(clean), CHUNK_ROWS):
                stop = min(start + CHUNK_ROWS, len(clean))
                rows = order[start:stop]
                yield copy_rows(layer, clean.iloc[rows], geoms[rows], ids[rows], import_id, source, status)
                if progress:
                    progress(stop, len(clean))

        repository.copy_reports(cur, ChunkReader(chunks()))
        rows = repository.finish_import(cur, import_id, int(bad.sum()))
        scoring.after_change(cur, layer)  # once for the whole load, in its transaction
    return ImportResult(
        import_id, rows, int(bad.sum()), time.perf_counter() - started, problems if skip_invalid else []
    )
