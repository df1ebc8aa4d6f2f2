"""The staff queue's SQL: the reports a role may act on, one page at a time with their count; one report's
staff-side row with its location; duplicate candidates near a report; the duplicate link; the districts.

Every filter is a bound value (NULL: not filtering). Locations are filtered and shown as the caller sees them:
exactly on the layers listed in ``exact_layers``, elsewhere as published (``public_geom``, the exact geometry
where the layer publishes exactly), so an area filter reveals nothing finer than the caller may see.
"""

from __future__ import annotations

from sqlalchemy import Connection

DISTRICTS = "land_use-districts"  # the derived collection of districts (services.planning_map.DISTRICTS)

# The location the caller sees, per row (``exact_layers``: the layers whose exact locations the caller sees).
SEEN_GEOM = "CASE WHEN r.layer = ANY(%(exact_layers)s) THEN r.geom ELSE coalesce(r.public_geom, r.geom) END"

QUEUE_WHERE = f"""
    (r.layer = ANY(%(acting)s) OR (%(moderates)s AND r.status = ANY(%(moderated)s)))
    AND r.status = ANY(%(statuses)s)
    AND (CAST(%(layer)s AS text) IS NULL OR r.layer = %(layer)s)
    AND (CAST(%(created_from)s AS date) IS NULL OR r.created_at >= CAST(%(created_from)s AS date))
    AND (CAST(%(created_to)s AS date) IS NULL OR r.created_at < CAST(%(created_to)s AS date) + 1)
    AND (CAST(%(minlon)s AS float8) IS NULL
         OR ST_Intersects({SEEN_GEOM}, ST_MakeEnvelope(%(minlon)s, %(minlat)s, %(maxlon)s, %(maxlat)s, 4326))
         OR ST_Intersects({SEEN_GEOM}, ST_MakeEnvelope(%(minlon2)s, %(minlat)s, %(maxlon2)s, %(maxlat)s, 4326)))
    AND (CAST(%(district)s AS bigint) IS NULL OR EXISTS (
         SELECT 1 FROM derived_features d WHERE d.id = %(district)s AND ST_Intersects(d.geom, {SEEN_GEOM})))
"""


def queue_page(conn: Connection, params: dict, limit: int, offset: int) -> tuple[list[dict], int]:
    """One page of the queue, oldest first (creation time, then id), and how many reports match in all.
    ``params``: ``acting`` (layers the role acts on), ``moderates`` + ``moderated`` (statuses a moderator sees on
    every layer), ``statuses``, ``layer``, ``created_from``/``created_to`` (dates, ``to`` inclusive), the
    envelope(s) ``minlon… maxlat`` (``minlon2``/``maxlon2``: the second half of one crossing the antimeridian),
    ``district`` (a ``derived_features`` id) and ``exact_layers``."""
    rows = conn.exec_driver_sql(
        f"""SELECT r.id, r.layer, r.status, r.properties, r.created_at, r.observed_at, r.duplicate_of,
                   count(*) OVER () AS total
            FROM reports r WHERE {QUEUE_WHERE}
            ORDER BY r.created_at, r.id LIMIT %(limit)s OFFSET %(offset)s""",
        {**params, "limit": limit, "offset": offset},
    ).mappings()
    rows = [dict(r) for r in rows]
    if rows or offset == 0:
        return rows, rows[0]["total"] if rows else 0
    total = conn.exec_driver_sql(f"SELECT count(*) FROM reports r WHERE {QUEUE_WHERE}", params).scalar_one()
    return rows, total


def districts(conn: Connection) -> list[dict]:
    """The districts of the derived collection (id and name), by name."""
    return [
        dict(r)
        for r in conn.exec_driver_sql(
            "SELECT id, coalesce(properties ->> 'district', 'unknown') AS name FROM derived_features "
            "WHERE layer = %(l)s ORDER BY 2, 1",
            {"l": DISTRICTS},
        ).mappings()
    ]


def district_id(conn: Connection, name_or_id: str) -> int | None:
    """The id of the district named ``name_or_id`` (its ``district`` property) or with that id; None if none."""
    return conn.exec_driver_sql(
        "SELECT id FROM derived_features WHERE layer = %(l)s AND (properties ->> 'district' = %(d)s "
        "OR id::text = %(d)s) ORDER BY (id::text = %(d)s) DESC, id LIMIT 1",
        {"l": DISTRICTS, "d": name_or_id},
    ).scalar_one_or_none()


def report_detail(conn: Connection, report_id: int, exact: bool) -> dict | None:
    """A report's row for staff with the point that stands for its location (exact, or as published) as
    longitude/latitude, and its geometry type."""
    geom = "r.geom" if exact else "coalesce(r.public_geom, r.geom)"
    return (
        conn.exec_driver_sql(
            f"""SELECT r.id, r.layer, r.status, r.properties, r.private, r.created_at, r.updated_at,
                       r.observed_at, r.source, r.duplicate_of, GeometryType(r.geom) AS geometry_type,
                       ST_X(ST_PointOnSurface({geom})) AS lon, ST_Y(ST_PointOnSurface({geom})) AS lat
                FROM reports r WHERE r.id = %(i)s""",
            {"i": report_id},
        )
        .mappings()
        .one_or_none()
    )


def duplicate_candidates(
    conn: Connection, report_id: int, *, distance_m: float, days: int, same: str | None, excluded, limit: int = 10
) -> list[dict]:
    """Reports of the same layer within ``distance_m`` (on the spheroid) and ``days`` (observed) of this one,
    with the same value of field ``same`` when given, not in ``excluded`` statuses, nearest first. The box
    test (``&&``, in degrees, a little wider than ``distance_m`` at the box's poleward edge) lets the geometry
    index find the candidates; ``ST_DWithin`` on geography decides."""
    return [
        dict(r)
        for r in conn.exec_driver_sql(
            """WITH me AS (
                   SELECT id, layer, geom, observed_at, properties -> %(same)s AS same_value,
                          %(m)s * 1.01 / 110574.0 AS dlat,
                          %(m)s * 1.01 / (111320.0 * cos(radians(least(89.0,
                              greatest(abs(ST_YMin(geom)), abs(ST_YMax(geom))) + %(m)s / 110574.0)))) AS dlon
                   FROM reports WHERE id = %(i)s)
               SELECT r.id, r.status, r.properties, r.observed_at, r.created_at,
                      ST_Distance(r.geom::geography, me.geom::geography) AS distance_m
               FROM reports r JOIN me ON r.layer = me.layer AND r.id <> me.id
               WHERE NOT r.status = ANY(%(excluded)s)
                 AND (CAST(%(same)s AS text) IS NULL OR r.properties -> %(same)s IS NOT DISTINCT FROM me.same_value)
                 AND r.observed_at BETWEEN me.observed_at - make_interval(days => %(days)s)
                                       AND me.observed_at + make_interval(days => %(days)s)
                 AND r.geom && ST_Expand(me.geom, me.dlon, me.dlat)
                 AND ST_DWithin(r.geom::geography, me.geom::geography, %(m)s)
               ORDER BY distance_m, r.id LIMIT %(n)s""",
            {"i": report_id, "m": distance_m, "days": days, "same": same, "excluded": list(excluded), "n": limit},
        ).mappings()
    ]


def duplicate_chain(conn: Connection, report_id: int, limit: int = 100) -> list[int]:
    """The reports ``report_id`` was merged into, in order (its ``duplicate_of``, then that one's, …); a loop
    ends the list where it closes."""
    return list(
        conn.exec_driver_sql(
            """WITH RECURSIVE chain(id, next, depth, seen) AS (
                   SELECT id, duplicate_of, 0, ARRAY[id] FROM reports WHERE id = %(i)s
                   UNION ALL
                   SELECT r.id, r.duplicate_of, c.depth + 1, c.seen || r.id
                   FROM chain c JOIN reports r ON r.id = c.next
                   WHERE NOT r.id = ANY(c.seen) AND c.depth < %(n)s)
               SELECT id FROM chain WHERE depth > 0 ORDER BY depth""",
            {"i": report_id, "n": limit},
        ).scalars()
    )


def set_duplicate_of(conn: Connection, report_id: int, into_id: int) -> None:
    """Link a duplicate to the report it was merged into."""
    conn.exec_driver_sql(
        "UPDATE reports SET duplicate_of = %(into)s WHERE id = %(i)s", {"i": report_id, "into": into_id}
    )
