"""GTFS in PostGIS: files are COPYed as text into temporary staging tables, checked with SQL (each problem
names its file, CSV row and field), loaded into typed tables, and turned into the transit layers.

Everything runs on one DB-API cursor inside the caller's transaction, so a re-import replaces a feed
atomically: readers see the old feed until the commit.
"""

from __future__ import annotations

import csv
import io
import json
import re

from psycopg2 import sql as pgsql

from mapper.gtfs.spec import FOREIGN_KEYS, HIGH_CAPACITY_ROUTE_TYPES, FileSpec

EXAMPLES_PER_CHECK = 50
TIME_RE = r"^\s*[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]\s*$"
FLOAT_RE = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"
INT_RE = r"^\s*[-+]?[0-9]+\s*$"
COLOR_RE = r"^\s*[0-9A-Fa-f]{6}\s*$"
HEADWAY_WINDOW = (7 * 3600, 19 * 3600)


def staging_table(name: str) -> str:
    return "stg_" + name.removesuffix(".txt")


def staging_ident(name: str) -> pgsql.Identifier:
    """The staging table of GTFS file ``name`` as an SQL identifier."""
    return pgsql.Identifier(staging_table(name))


def seconds_sql(col: str) -> pgsql.Composable:
    """H:MM:SS (hours may pass 24) → seconds."""
    return pgsql.SQL(
        "(split_part(trim({c}), ':', 1)::int * 3600 + split_part(trim({c}), ':', 2)::int * 60 "
        "+ split_part(trim({c}), ':', 3)::int)"
    ).format(c=pgsql.Identifier(col))


def valid_date_sql(col: str) -> pgsql.Composable:
    """True for a real YYYYMMDD date (to_date would raise on 20260231, so check month and day first)."""
    return pgsql.SQL(
        "(CASE WHEN {c} ~ '^[0-9]{{8}}$' AND substr({c}, 5, 2)::int BETWEEN 1 AND 12 "
        "THEN substr({c}, 7, 2)::int BETWEEN 1 AND extract(day FROM make_date(substr({c}, 1, 4)::int, "
        "substr({c}, 5, 2)::int, 1) + interval '1 month - 1 day')::int ELSE false END)"
    ).format(c=pgsql.SQL("trim({})").format(pgsql.Identifier(col)))


def read_header(stream) -> list[str]:
    """The header row of a GTFS CSV file (the stream is left at the first data row)."""
    line = stream.readline()
    return [c.strip() for c in next(csv.reader([line]))] if line.strip() else []


def stage_file(cur, name: str, header: list[str], stream, known: tuple[str, ...]) -> str:
    """COPY one file (header already read) into a temporary text table with a ``_row`` line number
    (the header is row 1); known columns the file lacks are added empty. ``stream`` is a file-like text
    object (the member itself, or a ``ChunkReader`` of ``padded_rows``)."""
    table = staging_table(name)
    cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(table)))
    cols = [pgsql.Identifier(c) for c in header]
    cur.execute(
        pgsql.SQL(
            "CREATE TEMP TABLE {} (_row bigint GENERATED ALWAYS AS IDENTITY (START 2), {}) ON COMMIT DROP"
        ).format(pgsql.Identifier(table), pgsql.SQL(", ").join(pgsql.SQL("{} text").format(c) for c in cols))
    )
    cur.copy_expert(
        pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)")
        .format(pgsql.Identifier(table), pgsql.SQL(", ").join(cols))
        .as_string(cur),
        stream,
        size=1 << 20,
    )
    for col in known:
        if col not in header:
            cur.execute(
                pgsql.SQL("ALTER TABLE {} ADD COLUMN {} text").format(pgsql.Identifier(table), pgsql.Identifier(col))
            )
    cur.execute(pgsql.SQL("ANALYZE {}").format(pgsql.Identifier(table)))
    return table


def padded_rows(stream, width: int, short_rows: list, chunk_rows: int = 50_000):
    """CSV text chunks with every row padded to ``width`` fields (GTFS producers often drop trailing empty
    fields); the line numbers of short rows are collected in ``short_rows``. Longer rows are kept (COPY
    then refuses them)."""
    out, writer, line = io.StringIO(), None, 1
    writer = csv.writer(out, lineterminator="\n")
    for line, row in enumerate(csv.reader(stream), start=2):
        if len(row) < width and any(row):
            short_rows.append(line)
            row = row + [""] * (width - len(row))
        if any(row):
            writer.writerow(row)
        if line % chunk_rows == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def copy_error_line(message: str) -> int | None:
    """The CSV line a failed COPY stopped at (from PostgreSQL's CONTEXT)."""
    m = re.search(r"line (\d+)", message)
    return int(m[1]) + 1 if m else None  # the header line was read before COPY


def row_count(cur, name: str) -> int:
    cur.execute(pgsql.SQL("SELECT count(*) FROM {}").format(staging_ident(name)))
    return cur.fetchone()[0]


# --- checks: each yields (code, file, field, [(row, value)...], total) --------------------------------------
def _examples(cur, query: pgsql.Composable, params: dict | None = None) -> tuple[list, int]:
    cur.execute(
        pgsql.SQL("SELECT *, count(*) OVER () FROM ({}) q ORDER BY 1 LIMIT {}").format(
            query, pgsql.Literal(EXAMPLES_PER_CHECK)
        ),
        params or {},
    )
    rows = cur.fetchall()
    return [(r[0], r[1]) for r in rows], (rows[0][-1] if rows else 0)


def check_file(cur, spec: FileSpec, present: set[str]):
    """Field-level checks of one staged file."""
    t = staging_ident(spec.name)
    for col in spec.required:
        yield (
            "missing_required_field",
            spec.name,
            col,
            *_examples(
                cur,
                pgsql.SQL("SELECT _row, {c} FROM {t} WHERE coalesce(trim({c}), '') = ''").format(
                    c=pgsql.Identifier(col), t=t
                ),
            ),
        )
    if spec.key:
        key = pgsql.SQL(", ").join(pgsql.SQL("trim({})").format(pgsql.Identifier(c)) for c in spec.key)
        cols = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in spec.key)
        present_key = pgsql.SQL(" AND ").join(
            pgsql.SQL("coalesce(trim({}), '') <> ''").format(pgsql.Identifier(c)) for c in spec.key
        )
        yield (
            "duplicate_key",
            spec.name,
            ",".join(spec.key),
            *_examples(
                cur,
                pgsql.SQL("""
            SELECT _row, concat_ws(',', {key}) FROM (
                SELECT _row, {cols}, row_number() OVER (PARTITION BY {key} ORDER BY _row) AS n FROM {t}
                WHERE {present_key}) d WHERE n > 1""").format(key=key, cols=cols, t=t, present_key=present_key),
            ),
        )
    for kind, cols, regex in (
        ("invalid_time", spec.times, TIME_RE),
        ("invalid_float", spec.floats, FLOAT_RE),
        ("invalid_integer", spec.integers, INT_RE),
        ("invalid_color", spec.colors, COLOR_RE),
    ):
        for col in cols:
            yield (
                kind,
                spec.name,
                col,
                *_examples(
                    cur,
                    pgsql.SQL("SELECT _row, {c} FROM {t} WHERE coalesce(trim({c}), '') <> '' AND {c} !~ %(re)s").format(
                        c=pgsql.Identifier(col), t=t
                    ),
                    {"re": regex},
                ),
            )
    for col in spec.dates:
        yield (
            "invalid_date",
            spec.name,
            col,
            *_examples(
                cur,
                pgsql.SQL("""
            SELECT _row, {c} FROM {t} WHERE coalesce(trim({c}), '') <> '' AND NOT {valid}""").format(
                    c=pgsql.Identifier(col), t=t, valid=valid_date_sql(col)
                ),
            ),
        )
    for col, (lo, hi) in spec.ranges.items():
        regex = INT_RE if col in spec.integers else FLOAT_RE
        yield (
            "number_out_of_range",
            spec.name,
            col,
            *_examples(
                cur,
                pgsql.SQL("""
            SELECT _row, {c} FROM {t} WHERE {c} ~ %(re)s AND NOT {c}::float8 BETWEEN %(lo)s AND %(hi)s""").format(
                    c=pgsql.Identifier(col), t=t
                ),
                {"re": regex, "lo": lo, "hi": hi},
            ),
        )
    if spec.name == "stops.txt":
        yield (
            "point_near_origin",
            spec.name,
            "stop_lat,stop_lon",
            *_examples(
                cur,
                pgsql.SQL("""
            SELECT _row, stop_lat || ',' || stop_lon FROM {t} WHERE stop_lat ~ %(re)s AND stop_lon ~ %(re)s
              AND abs(stop_lat::float8) <= 1 AND abs(stop_lon::float8) <= 1""").format(t=t),
                {"re": FLOAT_RE},
            ),
        )
        for col in ("stop_name", "stop_lat", "stop_lon"):  # required for stops, stations and entrances
            yield (
                "missing_required_field",
                spec.name,
                col,
                *_examples(
                    cur,
                    pgsql.SQL("""
                SELECT _row, {c} FROM {t} WHERE coalesce(trim(location_type), '') IN ('', '0', '1', '2')
                  AND coalesce(trim({c}), '') = ''""").format(c=pgsql.Identifier(col), t=t),
                ),
            )
    if spec.name == "routes.txt":
        yield (
            "route_both_short_and_long_name_missing",
            spec.name,
            "route_short_name,route_long_name",
            *_examples(
                cur,
                pgsql.SQL(
                    "SELECT _row, route_id FROM {t} WHERE coalesce(trim(route_short_name), '') = '' "
                    "AND coalesce(trim(route_long_name), '') = ''"
                ).format(t=t),
            ),
        )
    if spec.name == "calendar.txt":
        yield (
            "start_and_end_range_out_of_order",
            spec.name,
            "start_date,end_date",
            *_examples(
                cur,
                pgsql.SQL("""
            SELECT _row, start_date || '>' || end_date FROM {t} WHERE start_date ~ '^[0-9]{{8}}$'
              AND end_date ~ '^[0-9]{{8}}$' AND start_date > end_date""").format(t=t),
            ),
        )


def check_foreign_keys(cur, present: set[str]):
    for child, col, parent, pcol in FOREIGN_KEYS:
        if child not in present or parent not in present:
            continue
        yield (
            "foreign_key_violation",
            child,
            col,
            *_examples(
                cur,
                pgsql.SQL("""
            SELECT c._row, c.{c} FROM {child} c WHERE coalesce(trim(c.{c}), '') <> ''
              AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE trim(p.{pc}) = trim(c.{c}))""").format(
                    c=pgsql.Identifier(col),
                    child=staging_ident(child),
                    parent=staging_ident(parent),
                    pc=pgsql.Identifier(pcol),
                ),
            ),
        )
    if "trips.txt" in present:
        services = [
            pgsql.SQL("SELECT trim(service_id) AS s FROM {}").format(staging_ident(f))
            for f in ("calendar.txt", "calendar_dates.txt")
            if f in present
        ]
        if services:
            yield (
                "foreign_key_violation",
                "trips.txt",
                "service_id",
                *_examples(
                    cur,
                    pgsql.SQL("""
                SELECT _row, service_id FROM {trips} t WHERE coalesce(trim(service_id), '') <> ''
                  AND NOT EXISTS (SELECT 1 FROM ({services}) s WHERE s.s = trim(t.service_id))""").format(
                        trips=staging_ident("trips.txt"), services=pgsql.SQL(" UNION ").join(services)
                    ),
                ),
            )


def check_usage(cur, present: set[str]):
    """Warnings: stops no trip serves, trips with no stop time, shapes no trip uses."""
    stg = {n: staging_ident(n) for n in ("stops.txt", "stop_times.txt", "trips.txt", "shapes.txt")}
    if {"stops.txt", "stop_times.txt"} <= present:
        yield (
            "stop_without_stop_time",
            "stops.txt",
            "stop_id",
            *_examples(
                cur,
                pgsql.SQL("""
            SELECT _row, stop_id FROM {stops} s WHERE coalesce(trim(location_type), '') IN ('', '0')
              AND NOT EXISTS (SELECT 1 FROM {stop_times} st WHERE trim(st.stop_id) = trim(s.stop_id))""").format(
                    stops=stg["stops.txt"], stop_times=stg["stop_times.txt"]
                ),
            ),
        )
        yield (
            "unused_trip",
            "trips.txt",
            "trip_id",
            *_examples(
                cur,
                pgsql.SQL("""
            SELECT _row, trip_id FROM {trips} t
            WHERE NOT EXISTS (SELECT 1 FROM {stop_times} st WHERE trim(st.trip_id) = trim(t.trip_id))""").format(
                    trips=stg["trips.txt"], stop_times=stg["stop_times.txt"]
                ),
            ),
        )
    if {"shapes.txt", "trips.txt"} <= present:
        yield (
            "unused_shape",
            "shapes.txt",
            "shape_id",
            *_examples(
                cur,
                pgsql.SQL("""
            SELECT min(_row), shape_id FROM {shapes} s
            WHERE NOT EXISTS (SELECT 1 FROM {trips} t WHERE trim(t.shape_id) = trim(s.shape_id))
            GROUP BY shape_id""").format(shapes=stg["shapes.txt"], trips=stg["trips.txt"]),
            ),
        )


# --- loading ---------------------------------------------------------------------------------------------
def _n(col: str) -> pgsql.Composable:
    return pgsql.SQL("nullif(trim({}), '')").format(pgsql.Identifier(col))


def insert_feed(cur, name: str, stats: dict, notices: list) -> int:
    # gtfs_stop_times has no foreign key (a per-row check cost 60 % of its load): delete its rows here
    p = {"name": name, "stats": json.dumps(stats), "notices": json.dumps(notices)}
    cur.execute("DELETE FROM gtfs_stop_times WHERE feed_id IN (SELECT id FROM gtfs_feeds WHERE name = %(name)s)", p)
    cur.execute("DELETE FROM gtfs_feeds WHERE name = %(name)s", p)
    cur.execute(
        "INSERT INTO gtfs_feeds (name, stats, notices) VALUES (%(name)s, %(stats)s, %(notices)s) RETURNING id", p
    )
    return cur.fetchone()[0]


def load_typed(cur, feed_id: int, present: set[str]) -> None:
    """Staged text → typed tables for one feed."""
    p = {"f": feed_id}
    n = {c: _n(c) for c in ("stop_name", "location_type", "parent_station", "stop_lat", "stop_lon")}
    cur.execute(
        pgsql.SQL("""
        INSERT INTO gtfs_stops (feed_id, stop_id, stop_name, location_type, parent_station, geom)
        SELECT %(f)s, trim(stop_id), {stop_name}, coalesce({location_type}::int, 0), {parent_station},
               CASE WHEN {stop_lat} IS NOT NULL AND {stop_lon} IS NOT NULL
                    THEN ST_SetSRID(ST_MakePoint(stop_lon::float8, stop_lat::float8), 4326) END
        FROM {stg}""").format(stg=staging_ident("stops.txt"), **n),
        p,
    )
    n = {c: _n(c) for c in ("agency_id", "route_short_name", "route_long_name", "route_color", "route_text_color")}
    cur.execute(
        pgsql.SQL("""
        INSERT INTO gtfs_routes (feed_id, route_id, agency_id, route_short_name, route_long_name, route_type,
                                 route_color, route_text_color)
        SELECT %(f)s, trim(route_id), {agency_id}, {route_short_name}, {route_long_name},
               route_type::int, upper({route_color}), upper({route_text_color}) FROM {stg}""").format(
            stg=staging_ident("routes.txt"), **n
        ),
        p,
    )
    cur.execute(
        pgsql.SQL("""
        INSERT INTO gtfs_trips (feed_id, trip_id, route_id, service_id, direction_id, shape_id)
        SELECT %(f)s, trim(trip_id), trim(route_id), trim(service_id), {direction_id}::int, {shape_id}
        FROM {stg}""").format(stg=staging_ident("trips.txt"), direction_id=_n("direction_id"), shape_id=_n("shape_id")),
        p,
    )
    cur.execute(
        pgsql.SQL("""
        INSERT INTO gtfs_stop_times (feed_id, trip_id, stop_sequence, stop_id, arrival_s, departure_s)
        SELECT %(f)s, trim(trip_id), stop_sequence::int, trim(stop_id),
               CASE WHEN {arrival} IS NOT NULL THEN {arrival_s} END,
               CASE WHEN {departure} IS NOT NULL THEN {departure_s} END
        FROM {stg}""").format(
            stg=staging_ident("stop_times.txt"),
            arrival=_n("arrival_time"),
            arrival_s=seconds_sql("arrival_time"),
            departure=_n("departure_time"),
            departure_s=seconds_sql("departure_time"),
        ),
        p,
    )
    if "calendar.txt" in present:
        cur.execute(
            pgsql.SQL("""
            INSERT INTO gtfs_calendar (feed_id, service_id, days, start_date, end_date)
            SELECT %(f)s, trim(service_id),
                   ARRAY[monday, tuesday, wednesday, thursday, friday, saturday, sunday]::int[],
                   to_date(trim(start_date), 'YYYYMMDD'), to_date(trim(end_date), 'YYYYMMDD') FROM {stg}""").format(
                stg=staging_ident("calendar.txt")
            ),
            p,
        )
    if "calendar_dates.txt" in present:
        cur.execute(
            pgsql.SQL("""
            INSERT INTO gtfs_calendar_dates (feed_id, service_id, date, exception_type)
            SELECT %(f)s, trim(service_id), to_date(trim(date), 'YYYYMMDD'), exception_type::int
            FROM {stg}""").format(stg=staging_ident("calendar_dates.txt")),
            p,
        )
    if "frequencies.txt" in present:
        cur.execute(
            pgsql.SQL("""
            INSERT INTO gtfs_frequencies (feed_id, trip_id, start_s, end_s, headway_s)
            SELECT %(f)s, trim(trip_id), {start_s}, {end_s}, headway_secs::int
            FROM {stg}""").format(
                stg=staging_ident("frequencies.txt"),
                start_s=seconds_sql("start_time"),
                end_s=seconds_sql("end_time"),
            ),
            p,
        )
    if "shapes.txt" in present:
        cur.execute(
            pgsql.SQL("""
            INSERT INTO gtfs_shapes (feed_id, shape_id, geom)
            SELECT %(f)s, trim(shape_id),
                   ST_MakeLine(ST_SetSRID(ST_MakePoint(shape_pt_lon::float8, shape_pt_lat::float8), 4326)
                               ORDER BY shape_pt_sequence::int)
            FROM {stg} GROUP BY trim(shape_id) HAVING count(*) >= 2""").format(stg=staging_ident("shapes.txt")),
            p,
        )
    # Fresh statistics, or the planner expects one stop and re-runs per-stop aggregates once per stop.
    for table in ("gtfs_stops", "gtfs_routes", "gtfs_trips", "gtfs_stop_times", "gtfs_frequencies"):
        cur.execute(pgsql.SQL("ANALYZE {}").format(pgsql.Identifier(table)))


# The services running on day {d} (a placeholder, or a column) of feed %(f)s.
ACTIVE_SERVICES = pgsql.SQL("""
    SELECT service_id FROM gtfs_calendar
    WHERE feed_id = %(f)s AND {d}::date BETWEEN start_date AND end_date
      AND days[extract(isodow FROM {d}::date)::int] = 1
    UNION
    SELECT service_id FROM gtfs_calendar_dates WHERE feed_id = %(f)s AND date = {d}::date AND exception_type = 1
    EXCEPT
    SELECT service_id FROM gtfs_calendar_dates WHERE feed_id = %(f)s AND date = {d}::date AND exception_type = 2""")


def busiest_first_week_date(cur, feed_id: int):
    """The date with the most trips among the first seven days of the feed's service."""
    cur.execute(
        pgsql.SQL("""
        WITH bounds AS (
            SELECT least((SELECT min(start_date) FROM gtfs_calendar WHERE feed_id = %(f)s),
                         (SELECT min(date) FROM gtfs_calendar_dates WHERE feed_id = %(f)s)) AS first
        ), days AS (SELECT (first + k)::date AS d FROM bounds, generate_series(0, 6) k)
        SELECT d FROM days ORDER BY (
            SELECT count(*) FROM gtfs_trips t WHERE t.feed_id = %(f)s AND t.service_id IN (
                {active})) DESC, d LIMIT 1""").format(active=ACTIVE_SERVICES.format(d=pgsql.SQL("days.d"))),
        {"f": feed_id},
    )
    row = cur.fetchone()
    return row[0] if row else None


def build_runs(cur, feed_id: int, day) -> None:
    """Temporary ``trip_runs`` (each trip running on ``day``, frequencies expanded into one run per
    headway) and ``stop_deps`` (every departure of a run at a stop)."""
    p = {"f": feed_id, "d": day}
    cur.execute("DROP TABLE IF EXISTS trip_runs, stop_deps")
    cur.execute(
        pgsql.SQL("""
        CREATE TEMP TABLE trip_runs ON COMMIT DROP AS
        WITH t AS (
            SELECT trip_id, route_id, direction_id FROM gtfs_trips
            WHERE feed_id = %(f)s AND service_id IN ({active})
        ), first_dep AS (
            SELECT st.trip_id, min(st.departure_s) AS t0
            FROM gtfs_stop_times st JOIN t USING (trip_id) WHERE st.feed_id = %(f)s GROUP BY st.trip_id
        )
        SELECT t.trip_id, t.route_id, t.direction_id, 0 AS shift, fd.t0 AS start_s
        FROM t LEFT JOIN first_dep fd USING (trip_id)
        WHERE NOT EXISTS (SELECT 1 FROM gtfs_frequencies fr WHERE fr.feed_id = %(f)s AND fr.trip_id = t.trip_id)
        UNION ALL
        SELECT t.trip_id, t.route_id, t.direction_id, g - fd.t0, g
        FROM t JOIN first_dep fd USING (trip_id)
        JOIN gtfs_frequencies fr ON fr.feed_id = %(f)s AND fr.trip_id = t.trip_id,
        generate_series(fr.start_s, fr.end_s - 1, fr.headway_s) g""").format(
            active=ACTIVE_SERVICES.format(d=pgsql.Placeholder("d"))
        ),
        p,
    )
    cur.execute(
        """
        CREATE TEMP TABLE stop_deps ON COMMIT DROP AS
        SELECT st.stop_id, st.departure_s + r.shift AS dep, r.route_id
        FROM trip_runs r JOIN gtfs_stop_times st ON st.feed_id = %(f)s AND st.trip_id = r.trip_id""",
        p,
    )
    cur.execute("ANALYZE trip_runs")
    cur.execute("ANALYZE stop_deps")


def publish_transit_layers(cur, feed_id: int, feed_name: str, day) -> dict:
    """Replace this feed's features in ``transit_stops`` and ``transit_routes``; return counts."""
    p = {"f": feed_id, "d": day, "name": feed_name, "w0": HEADWAY_WINDOW[0], "w1": HEADWAY_WINDOW[1]}
    cur.execute(
        "DELETE FROM derived_features WHERE layer IN ('transit_stops', 'transit_routes') "
        "AND properties ->> 'feed' = %(name)s",
        p,
    )
    cur.execute(
        """
        INSERT INTO derived_features (layer, geom, properties)
        WITH per_stop_route AS (
            SELECT stop_id, route_id, count(*) AS trips FROM stop_deps GROUP BY stop_id, route_id
        ), per_stop AS (
            SELECT d.stop_id, sum(d.trips)::bigint AS trips,
                   string_agg(DISTINCT coalesce(r.route_short_name, r.route_id), ', ') AS routes,
                   string_agg(DISTINCT r.route_type::text, ', ') AS route_types,
                   bool_or(r.route_type = ANY(%(hc)s)) AS high_capacity
            FROM per_stop_route d JOIN gtfs_routes r ON r.feed_id = %(f)s AND r.route_id = d.route_id
            GROUP BY d.stop_id
        ), gaps AS (
            SELECT stop_id, avg(gap) AS mean_gap, min(gap) AS min_gap FROM (
                SELECT stop_id, dep - lag(dep) OVER (PARTITION BY stop_id ORDER BY dep) AS gap
                FROM stop_deps WHERE dep BETWEEN %(w0)s AND %(w1)s) g
            WHERE gap IS NOT NULL GROUP BY stop_id
        )
        SELECT 'transit_stops', s.geom, jsonb_build_object(
            'feed', %(name)s, 'stop_id', s.stop_id, 'stop_name', s.stop_name, 'routes', ps.routes,
            'route_types', ps.route_types, 'high_capacity', coalesce(ps.high_capacity, false),
            'trips_per_day', coalesce(ps.trips, 0), 'mean_headway_min', g.mean_gap / 60.0,
            'min_headway_min', g.min_gap / 60.0, 'service_date', %(d)s::date)
        FROM gtfs_stops s LEFT JOIN per_stop ps USING (stop_id) LEFT JOIN gaps g USING (stop_id)
        WHERE s.feed_id = %(f)s AND s.location_type = 0 AND s.geom IS NOT NULL""",
        dict(p, hc=list(HIGH_CAPACITY_ROUTE_TYPES)),
    )
    stops = cur.rowcount
    cur.execute(
        """
        INSERT INTO derived_features (layer, geom, properties)
        WITH shape_use AS (
            SELECT t.route_id, t.shape_id,
                   row_number() OVER (PARTITION BY t.route_id ORDER BY count(*) DESC, t.shape_id) AS rn
            FROM gtfs_trips t WHERE t.feed_id = %(f)s AND t.shape_id IS NOT NULL GROUP BY t.route_id, t.shape_id
        ), best_shape AS (
            SELECT u.route_id, sh.geom FROM shape_use u
            JOIN gtfs_shapes sh ON sh.feed_id = %(f)s AND sh.shape_id = u.shape_id WHERE u.rn = 1
        ), patterns AS (  -- only for routes without a shape
            SELECT t.route_id, st.trip_id, string_agg(st.stop_id, '>' ORDER BY st.stop_sequence) AS pattern
            FROM gtfs_trips t JOIN gtfs_stop_times st ON st.feed_id = t.feed_id AND st.trip_id = t.trip_id
            WHERE t.feed_id = %(f)s AND t.route_id NOT IN (SELECT route_id FROM best_shape)
            GROUP BY t.route_id, st.trip_id
        ), pattern_use AS (
            SELECT route_id, min(trip_id) AS trip_id,
                   row_number() OVER (PARTITION BY route_id ORDER BY count(*) DESC, min(trip_id)) AS rn
            FROM patterns GROUP BY route_id, pattern
        ), best_pattern AS (
            SELECT u.route_id, ST_MakeLine(s.geom ORDER BY st.stop_sequence) AS geom FROM pattern_use u
            JOIN gtfs_stop_times st ON st.feed_id = %(f)s AND st.trip_id = u.trip_id
            JOIN gtfs_stops s ON s.feed_id = %(f)s AND s.stop_id = st.stop_id
            WHERE u.rn = 1 GROUP BY u.route_id
        ), runs AS (
            SELECT route_id, count(*) AS trips FROM trip_runs GROUP BY route_id
        ), gaps AS (
            SELECT route_id, avg(gap) AS mean_gap FROM (
                SELECT route_id, start_s - lag(start_s) OVER (PARTITION BY route_id, coalesce(direction_id, 0)
                                                              ORDER BY start_s) AS gap
                FROM trip_runs WHERE start_s BETWEEN %(w0)s AND %(w1)s) x
            WHERE gap IS NOT NULL GROUP BY route_id
        )
        SELECT 'transit_routes', coalesce(bs.geom, bp.geom), jsonb_build_object(
            'feed', %(name)s, 'route_id', r.route_id, 'route_short_name', r.route_short_name,
            'route_long_name', r.route_long_name, 'route_type', r.route_type,
            'route_color', '#' || coalesce(r.route_color, 'FFFFFF'),
            'route_text_color', '#' || coalesce(r.route_text_color, '000000'),
            'trips_per_day', coalesce(n.trips, 0), 'mean_headway_min', g.mean_gap / 60.0,
            'geometry_source', CASE WHEN bs.geom IS NOT NULL THEN 'shapes.txt' ELSE 'stop sequence' END,
            'service_date', %(d)s::date)
        FROM gtfs_routes r
        LEFT JOIN best_shape bs USING (route_id) LEFT JOIN best_pattern bp USING (route_id)
        LEFT JOIN runs n USING (route_id) LEFT JOIN gaps g USING (route_id)
        WHERE r.feed_id = %(f)s AND ST_NPoints(coalesce(bs.geom, bp.geom)) >= 2""",
        p,
    )
    return {"stops": stops, "routes": cur.rowcount}


def feed_counts(cur, feed_id: int) -> dict:
    cur.execute(
        """SELECT (SELECT count(*) FROM gtfs_stops WHERE feed_id = %(f)s),
                          (SELECT count(*) FROM gtfs_routes WHERE feed_id = %(f)s),
                          (SELECT count(*) FROM gtfs_trips WHERE feed_id = %(f)s),
                          (SELECT count(*) FROM gtfs_stop_times WHERE feed_id = %(f)s)""",
        {"f": feed_id},
    )
    stops, routes, trips, stop_times = cur.fetchone()
    return {"stops": stops, "routes": routes, "trips": trips, "stop_times": stop_times}


def list_feeds(cur) -> list:
    cur.execute("SELECT id, name, imported_at, service_date, stats, notices FROM gtfs_feeds ORDER BY name")
    return cur.fetchall()


def finish_feed(cur, feed_id: int, day, counts: dict) -> None:
    """Record the feed's service date and counts."""
    cur.execute(
        "UPDATE gtfs_feeds SET service_date = %(d)s, stats = %(stats)s WHERE id = %(f)s",
        {"d": day, "stats": json.dumps(counts), "f": feed_id},
    )
