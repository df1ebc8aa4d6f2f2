"""Geometry checks and reprojection: GeoJSON in, valid WGS 84 shapely geometry out.

PostGIS accepts NaN, unclosed rings and latitude 100 without complaint, so every rule is checked here
(and again by CHECK constraints in the schema).
"""

from __future__ import annotations

import math
import sys
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError
from shapely.geometry import shape
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

from mapper.domain.errors import FieldProblem

WGS84 = "EPSG:4326"
FLOAT_MAX = sys.float_info.max
UNKNOWN_CRS = "unknown coordinate reference system"


class GeometryProblem(Exception):
    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.problem = FieldProblem(field, reason)


def checked_crs(crs: str) -> CRS:
    """The CRS ``crs`` names, if coordinates in it can be taken to WGS 84: a horizontal (geographic or
    projected) CRS of the Earth with a transformation to WGS 84. CRSError (with the reason) otherwise."""
    try:
        parsed = CRS.from_user_input(crs)
    except (ProjError, UnicodeError, ValueError, TypeError):  # pyproj raises all of these for bad input
        raise CRSError(UNKNOWN_CRS) from None
    if not (parsed.is_geographic or parsed.is_projected):
        raise CRSError(f"is a {parsed.type_name}, not a geographic or projected CRS")
    return parsed


@lru_cache(maxsize=64)
def transformer_to_wgs84(crs: str) -> Transformer:
    """A cached lon/lat-ordered transformer from ``crs`` to WGS 84; raises CRSError for unknown CRSs and those
    that cannot be transformed to WGS 84 (another celestial body, an engineering or vertical CRS)."""
    parsed = checked_crs(crs)
    try:
        return Transformer.from_crs(parsed, WGS84, always_xy=True)
    except ProjError:
        raise CRSError("cannot be transformed to WGS 84 (is it a CRS of the Earth?)") from None


def parse_crs(crs) -> str | None:
    """Normalise a CRS given by a client (``EPSG:3857``, OGC URN/URL, ``3857``); None means WGS 84."""
    if crs is None:
        return None
    if isinstance(crs, dict):  # the old GeoJSON 2008 ``crs`` member
        crs = (crs.get("properties") or {}).get("name")
    if isinstance(crs, int) and not isinstance(crs, bool):
        crs = f"EPSG:{crs}"
    if not isinstance(crs, str) or not crs.strip():
        raise GeometryProblem("crs", "must be a CRS name such as EPSG:3857")
    crs = crs.strip()
    if crs.isascii() and crs.isdigit():
        crs = f"EPSG:{crs}"
    if crs.endswith("/OGC/1.3/CRS84") or crs.upper() in ("CRS84", "OGC:CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84"):
        return None
    shown = repr(crs if len(crs) <= 80 else crs[:80] + "…")
    try:
        transformer_to_wgs84(crs)
    except CRSError as e:  # our own reasons (checked_crs, transformer_to_wgs84), never PROJ's
        reason = f"{UNKNOWN_CRS} {shown}" if str(e) == UNKNOWN_CRS else f"{shown} {e}"
        raise GeometryProblem("crs", reason) from None
    return None if CRS.from_user_input(crs).to_epsg() == 4326 else crs


def _positions(coords, field: str, depth: int) -> list:
    """Check nesting depth and that every position is 2 or 3 finite numbers."""
    if depth == 0:
        if not isinstance(coords, (list, tuple)) or not 2 <= len(coords) <= 3:
            raise GeometryProblem(field, "a position must be [longitude, latitude] (optionally with elevation)")
        for c in coords:
            if isinstance(c, bool) or not isinstance(c, (int, float)):
                raise GeometryProblem(field, "coordinates must be numbers")
            if isinstance(c, int) and abs(c) > FLOAT_MAX:  # an integer literal of hundreds of digits
                raise GeometryProblem(field, "coordinates must be finite numbers within the range of a double")
            if not math.isfinite(c):
                raise GeometryProblem(field, "coordinates must be finite numbers (no NaN or Infinity)")
        return coords
    if not isinstance(coords, (list, tuple)):
        raise GeometryProblem(field, "coordinates are not nested as the geometry type requires")
    return [_positions(c, field, depth - 1) for c in coords]


_DEPTH = {"Point": 0, "Polygon": 2, "MultiPolygon": 3}


def parse_geojson_geometry(obj, allowed_types: tuple[str, ...], crs: str | None, max_vertices: int):
    """Validate a GeoJSON geometry object and return it as a shapely geometry in WGS 84 lon/lat."""
    field = "geometry"
    if obj is None:
        raise GeometryProblem(field, "is required")
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise GeometryProblem(field, "must be a GeoJSON geometry object with a type")
    gtype = obj["type"]
    if gtype not in allowed_types:
        raise GeometryProblem(f"{field}.type", f"must be {' or '.join(allowed_types)} for this layer, got {gtype}")
    coords = obj.get("coordinates")
    if coords is None or coords == []:
        raise GeometryProblem(f"{field}.coordinates", "is empty")
    _positions(coords, f"{field}.coordinates", _DEPTH[gtype])
    polygons = [coords] if gtype == "Polygon" else coords if gtype == "MultiPolygon" else []
    vertices = 1 if gtype == "Point" else 0
    for p, rings in enumerate(polygons):
        if not rings:
            raise GeometryProblem(f"{field}.coordinates", "a polygon needs at least one ring")
        for r, ring in enumerate(rings):
            where = f"{field}.coordinates" + (f"[{p}]" if gtype == "MultiPolygon" else "") + f"[{r}]"
            if len(ring) < 4:
                raise GeometryProblem(where, "a linear ring needs at least 4 positions")
            if list(ring[0][:2]) != list(ring[-1][:2]):
                raise GeometryProblem(where, "ring is not closed: the first and last positions must be equal")
            vertices += len(ring)
    if vertices > max_vertices:
        raise GeometryProblem(f"{field}.coordinates", f"too many vertices ({vertices} > {max_vertices})")
    geom = shape(obj)
    if crs:
        moved, outside = transform_to_wgs84(np.array([geom], dtype=object), crs)
        if outside[0]:
            raise GeometryProblem(field, f"coordinates are outside the valid area of {crs}")
        geom = moved[0]
    return check_wgs84(geom, field)


def transform_to_wgs84(geoms: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Reproject an array of geometries to WGS 84 lon/lat.

    Returns the new geometries and a mask of those with a coordinate outside the CRS's valid area, found by
    transforming back: PROJ wraps such input silently (x = 3e7 in EPSG:3857 comes out as a plausible
    longitude), and the round trip does not return to where it started.
    """
    forward = transformer_to_wgs84(crs)
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    with np.errstate(invalid="ignore"):
        lon, lat = forward.transform(coords[:, 0], coords[:, 1])
        bx, by = _transformer_from_wgs84(crs).transform(lon, lat)
        tol = 1e-3 + 1e-9 * np.abs(coords)
        off = ~((np.abs(bx - coords[:, 0]) <= tol[:, 0]) & (np.abs(by - coords[:, 1]) <= tol[:, 1]))
    outside = np.zeros(len(geoms), dtype=bool)
    np.logical_or.at(outside, index, off)
    moved = shapely.set_coordinates(shapely.from_wkb(shapely.to_wkb(geoms)), np.column_stack([lon, lat]))
    return moved, outside


@lru_cache(maxsize=64)
def _transformer_from_wgs84(crs: str) -> Transformer:
    return Transformer.from_crs(WGS84, CRS.from_user_input(crs), always_xy=True)


def check_wgs84(geom, field: str = "geometry"):
    """Range, finiteness and validity checks of a WGS 84 geometry; polygons are oriented per RFC 7946."""
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or len(coords) == 0:
        raise GeometryProblem(field, "is empty")
    if not np.isfinite(coords).all():
        raise GeometryProblem(field, "coordinates are not finite (the CRS transformation failed?)")
    if (np.abs(coords[:, 0]) > 180).any():
        raise GeometryProblem(field, "longitude must be between -180 and 180")
    if (np.abs(coords[:, 1]) > 90).any():
        raise GeometryProblem(field, "latitude must be between -90 and 90")
    if not geom.is_valid:
        raise GeometryProblem(field, f"invalid geometry: {explain_validity(geom)}")
    return orient_rfc7946(geom)


def orient_rfc7946(geom):
    """Exterior rings counter-clockwise, holes clockwise (the right-hand rule of RFC 7946)."""
    if geom.geom_type == "Polygon":
        return orient(geom, 1.0)
    if geom.geom_type == "MultiPolygon":
        return shapely.MultiPolygon([orient(p, 1.0) for p in geom.geoms])
    return geom


def array_problems(geoms: np.ndarray, allowed_types: tuple[str, ...], max_vertices: int) -> list[tuple[int, str]]:
    """Vectorised version of ``check_wgs84`` for file imports: (0-based position, reason) per bad geometry."""
    out: list[tuple[int, str]] = []
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    names = np.array(
        [
            "Point",
            "LineString",
            "LinearRing",
            "Polygon",
            "MultiPoint",
            "MultiLineString",
            "MultiPolygon",
            "GeometryCollection",
        ]
    )
    ok_type = np.isin(types, [int(np.flatnonzero(names == t)[0]) for t in allowed_types])
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(bounds).all(axis=1)
        lon_bad = finite & ((bounds[:, 0] < -180) | (bounds[:, 2] > 180))
        lat_bad = finite & ((bounds[:, 1] < -90) | (bounds[:, 3] > 90))
    too_many = shapely.get_num_coordinates(geoms) > max_vertices
    checks = [
        (missing, "is missing"),
        (empty, "is empty"),
        (~missing & ~empty & ~ok_type, f"must be {' or '.join(allowed_types)}"),
        (~missing & ~empty & ~finite, "coordinates are not finite numbers"),
        (lon_bad, "longitude must be between -180 and 180"),
        (lat_bad, "latitude must be between -90 and 90"),
        (too_many, f"too many vertices (> {max_vertices})"),
    ]
    flagged = np.zeros(len(geoms), dtype=bool)
    for mask, reason in checks:
        for pos in np.flatnonzero(mask & ~flagged):
            out.append((int(pos), reason))
        flagged |= mask
    if "Point" not in allowed_types:  # validity is trivially true for finite points; skip the cost
        rest = np.flatnonzero(~flagged)
        invalid = rest[~shapely.is_valid(geoms[rest])]
        for pos in invalid:
            out.append((int(pos), f"invalid geometry: {explain_validity(geoms[pos])}"))
    return sorted(out)
