"""The one place that writes SQL. Functions take a SQLAlchemy connection (or a DB-API cursor for COPY)
and own no transactions: services decide where a transaction starts and ends. Values are bound in
psycopg2's named style (``%(name)s``: ``exec_driver_sql`` on a connection, ``execute`` on a cursor); column
names go in as ``psycopg2.sql.Identifier``."""

from __future__ import annotations

from geoalchemy2.shape import from_shape
from psycopg2 import sql
from sqlalchemy import Connection, insert

from mapper.domain.layers import Layer
from mapper.schema import api_tokens, reports
from mapper.store.params import name_ident


# --- reports -------------------------------------------------------------------------------------------
def insert_report(
    conn: Connection,
    layer: Layer,
    geom,
    public: dict,
    private: dict,
    observed_at,
    source: str,
    tracking_hash: bytes | None,
    status: str = "submitted",
    *,
    tracking_sealed: bytes | None = None,
    language: str | None = None,
) -> dict:
    """Insert one report (its public location generalised to the layer's precision) and its first
    status-history entry; return id and timestamps."""
    values = dict(
        layer=layer.id,
        geom=from_shape(geom, srid=4326),
        properties=public,
        private=private,
        status=status,
        source=source,
        tracking_hash=tracking_hash,
        tracking_sealed=tracking_sealed,
        language=language,
        public_precision_m=layer.precision_m,
    )
    if observed_at is not None:
        values["observed_at"] = observed_at
    row = conn.execute(
        insert(reports).values(**values).returning(reports.c.id, reports.c.created_at, reports.c.observed_at)
    ).one()
    append_history(conn, row.id, None, status, comment="Report received", actor=source)
    return {"id": row.id, "created_at": row.created_at, "observed_at": row.observed_at}


def report_by_tracking_hash(conn: Connection, tracking_hash: bytes, *, lock: bool = False) -> dict | None:
    """The report a citizen's token opens: what they sent (fields, GeoJSON geometry), status, dates, the report
    it was merged into; ``lock`` holds its row until the transaction ends."""
    return (
        conn.exec_driver_sql(
            "SELECT id, layer, status, properties, private, ST_AsGeoJSON(geom, 7)::json AS geometry, created_at, "
            "updated_at, duplicate_of FROM reports WHERE tracking_hash = %(h)s" + (" FOR UPDATE" if lock else ""),
            {"h": tracking_hash},
        )
        .mappings()
        .one_or_none()
    )


def reporter_feedback(conn: Connection, report_id: int) -> list[dict]:
    """The reporter's verdicts on a report, oldest first."""
    return [
        dict(r)
        for r in conn.exec_driver_sql(
            "SELECT verdict, comment, given_at FROM reporter_feedback WHERE report_id = %(i)s ORDER BY given_at, id",
            {"i": report_id},
        ).mappings()
    ]


def feedback_since_resolved(conn: Connection, report_id: int) -> bool:
    """Whether the reporter already answered the report's latest resolution."""
    return conn.exec_driver_sql(
        "SELECT EXISTS (SELECT 1 FROM reporter_feedback f WHERE f.report_id = %(i)s AND f.given_at >= "
        "(SELECT max(changed_at) FROM status_history WHERE report_id = %(i)s AND status = 'resolved'))",
        {"i": report_id},
    ).scalar_one()


def add_reporter_feedback(conn: Connection, report_id: int, verdict: str, comment: str | None) -> None:
    conn.exec_driver_sql(
        "INSERT INTO reporter_feedback (report_id, verdict, comment) VALUES (%(i)s, %(v)s, %(c)s)",
        {"i": report_id, "v": verdict, "c": comment},
    )


def count_reports(conn: Connection, layer_id: str | None = None, source: str | None = None) -> int:
    """Reports, optionally of one layer and/or from one source."""
    return conn.exec_driver_sql(
        "SELECT count(*) FROM reports WHERE (CAST(%(l)s AS text) IS NULL OR layer = %(l)s) "
        "AND (CAST(%(s)s AS text) IS NULL OR source = %(s)s)",
        {"l": layer_id, "s": source},
    ).scalar_one()


def sync_public_precision(conn: Connection, layer: Layer) -> int | None:
    """Re-generalise the stored public locations of ``layer`` if its declared precision changed since they
    were stored (or were never recorded); return the rows updated, or None when nothing had to change."""
    stored = conn.exec_driver_sql(
        "SELECT precision_m FROM layer_public_precision WHERE layer = %(l)s FOR UPDATE", {"l": layer.id}
    ).scalar_one_or_none()
    if stored == layer.precision_m:
        return None
    updated = conn.exec_driver_sql(
        "UPDATE reports SET public_precision_m = %(p)s WHERE layer = %(l)s AND public_precision_m <> %(p)s",
        {"l": layer.id, "p": layer.precision_m},
    ).rowcount
    conn.exec_driver_sql(
        "INSERT INTO layer_public_precision (layer, precision_m) VALUES (%(l)s, %(p)s) ON CONFLICT (layer) "
        "DO UPDATE SET precision_m = EXCLUDED.precision_m, synced_at = now()",
        {"l": layer.id, "p": layer.precision_m},
    )
    return updated


# --- idempotency ---------------------------------------------------------------------------------------
# Keys live ``ttl_hours`` (``IDEMPOTENCY_TTL_HOURS``): an older row is treated as absent and taken over by a new
# claim of its key, and every claim deletes up to ``PURGE_BATCH`` expired rows (rows another transaction holds
# are skipped, so claims never wait on each other's purge).
PURGE_BATCH = 100


def purge_idempotency_keys(conn: Connection, ttl_hours: float, batch: int = PURGE_BATCH) -> int:
    """Delete up to ``batch`` expired keys; return how many."""
    return conn.exec_driver_sql(
        "DELETE FROM idempotency_keys WHERE key_hash IN (SELECT key_hash FROM idempotency_keys "
        "WHERE created_at <= now() - %(ttl)s * interval '1 hour' ORDER BY created_at LIMIT %(n)s "
        "FOR UPDATE SKIP LOCKED)",
        {"ttl": ttl_hours, "n": batch},
    ).rowcount


def claim_idempotency_key(conn: Connection, key_hash: bytes, request_hash: bytes, ttl_hours: float) -> bool:
    """True when this transaction now owns the key (new, or its row had expired); a concurrent holder makes this
    wait for its commit, after which the key is that holder's."""
    row = conn.exec_driver_sql(
        "INSERT INTO idempotency_keys AS k (key_hash, request_hash) VALUES (%(k)s, %(h)s) ON CONFLICT (key_hash) "
        "DO UPDATE SET request_hash = EXCLUDED.request_hash, status_code = NULL, response_sealed = NULL, "
        "created_at = now() WHERE k.created_at <= now() - %(ttl)s * interval '1 hour' RETURNING key_hash",
        {"k": key_hash, "h": request_hash, "ttl": ttl_hours},
    ).one_or_none()
    return row is not None


def idempotent_response(conn: Connection, key_hash: bytes) -> dict | None:
    return (
        conn.exec_driver_sql(
            "SELECT request_hash, status_code, response_sealed FROM idempotency_keys WHERE key_hash = %(k)s",
            {"k": key_hash},
        )
        .mappings()
        .one_or_none()
    )


def store_idempotent_response(conn: Connection, key_hash: bytes, status_code: int, sealed: bytes) -> None:
    conn.exec_driver_sql(
        "UPDATE idempotency_keys SET status_code = %(s)s, response_sealed = %(r)s WHERE key_hash = %(k)s",
        {"k": key_hash, "s": status_code, "r": sealed},
    )


# --- API tokens ----------------------------------------------------------------------------------------
def insert_token(conn: Connection, name: str, role: str, token_hash: bytes) -> int:
    return conn.execute(
        insert(api_tokens).values(name=name, role=role, token_hash=token_hash).returning(api_tokens.c.id)
    ).scalar_one()


def role_for_token(conn: Connection, token_hash: bytes) -> str | None:
    """The role of a live token (and note its use), or None."""
    return conn.exec_driver_sql(
        "UPDATE api_tokens SET last_used_at = now() WHERE token_hash = %(h)s AND revoked_at IS NULL RETURNING role",
        {"h": token_hash},
    ).scalar_one_or_none()


# --- bulk import ---------------------------------------------------------------------------------------
REPORT_COPY_COLUMNS = (
    "id",
    "layer",
    "geom",
    "properties",
    "private",
    "status",
    "observed_at",
    "source",
    "import_id",
    "public_precision_m",
)


def insert_import(cursor, layer_id: str, filename: str) -> int:
    """Open an import record (on the DB-API cursor whose transaction carries the COPY)."""
    cursor.execute(
        "INSERT INTO imports (layer, filename) VALUES (%(layer)s, %(filename)s) RETURNING id",
        {"layer": layer_id, "filename": filename},
    )
    return cursor.fetchone()[0]


def reserve_report_ids(cursor, n: int) -> list[int] | range:
    """``n`` new report ids from the sequence, ascending: a range when (as usual) nobody else took ids
    meanwhile, else the list of the ones drawn."""
    if n == 0:
        return range(0)
    cursor.execute(
        "SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 <> count(*) THEN array_agg(v ORDER BY v) END "
        "FROM (SELECT nextval('reports_id_seq') v FROM generate_series(1, %(n)s)) s",
        {"n": n},
    )
    first, last, drawn = cursor.fetchone()
    return drawn if drawn is not None else range(first, last + 1)


def copy_reports(cursor, stream) -> None:
    """COPY tab-separated rows (columns ``REPORT_COPY_COLUMNS``, geometry as hex EWKB) into reports."""
    columns = sql.SQL(", ").join(map(name_ident, REPORT_COPY_COLUMNS))
    cursor.copy_expert(sql.SQL("COPY reports ({}) FROM STDIN").format(columns).as_string(cursor), stream, size=1 << 20)


def finish_import(cursor, import_id: int, skipped: int) -> int:
    """Write the imported reports' first history entry and the import's totals; return the row count."""
    cursor.execute(
        f"INSERT INTO status_history ({HISTORY_COLUMNS}) SELECT id, status, NULL, NULL, 'Imported from file', "
        "NULL, 'import', NULL FROM reports WHERE import_id = %(import)s",
        {"import": import_id},
    )
    rows = cursor.rowcount
    cursor.execute(
        "UPDATE imports SET row_count = %(rows)s, skipped = %(skipped)s WHERE id = %(import)s",
        {"rows": rows, "skipped": skipped, "import": import_id},
    )
    return rows


def delete_imports_from(conn: Connection, source: str) -> int:
    """Remove every report loaded from ``source`` (e.g. ``demo``) and their import records."""
    ids = (
        conn.exec_driver_sql(
            "SELECT DISTINCT import_id FROM reports WHERE source = %(s)s AND import_id IS NOT NULL", {"s": source}
        )
        .scalars()
        .all()
    )
    deleted = conn.exec_driver_sql("DELETE FROM reports WHERE source = %(s)s", {"s": source}).rowcount
    conn.exec_driver_sql("DELETE FROM imports WHERE id = ANY(%(ids)s)", {"ids": list(ids)})
    return deleted


REPORT_ROW = "SELECT id, layer, status, properties, private, duplicate_of FROM reports WHERE id = %(i)s"


def report_row(conn: Connection, report_id: int) -> dict | None:
    """The report's row as it is now (no lock)."""
    return conn.exec_driver_sql(REPORT_ROW, {"i": report_id}).mappings().one_or_none()


def report_for_update(conn: Connection, report_id: int) -> dict | None:
    """The report's row, locked until the transaction ends (one transition at a time)."""
    return conn.exec_driver_sql(REPORT_ROW + " FOR UPDATE", {"i": report_id}).mappings().one_or_none()


# Every history row is written through these columns: a report's first entry, its transitions, an import's.
HISTORY_COLUMNS = "report_id, status, from_status, reason, note, internal_note, changed_by, actor_role"


def append_history(
    conn: Connection,
    report_id: int,
    was: str | None,
    to: str,
    *,
    actor: str,
    reason=None,
    comment=None,
    note=None,
    role=None,
) -> dict:
    """Append one entry to a report's history (``comment`` public, ``note`` internal); its id and time."""
    return (
        conn.exec_driver_sql(
            f"INSERT INTO status_history ({HISTORY_COLUMNS}) VALUES (%(i)s, %(to)s, %(was)s, %(reason)s, "
            "%(comment)s, %(note)s, %(actor)s, %(role)s) RETURNING id, changed_at",
            {
                "i": report_id,
                "to": to,
                "was": was,
                "reason": reason,
                "comment": comment,
                "note": note,
                "actor": actor,
                "role": role,
            },
        )
        .mappings()
        .one()
    )


def record_transition(
    conn: Connection, report_id: int, was: str, to: str, *, reason, comment, note, actor: str, role: str | None
) -> dict:
    """Set a report's status and append the transition to its history (``comment`` is its public comment there,
    ``note`` the staff's internal one); the entry's id and time."""
    conn.exec_driver_sql(
        "UPDATE reports SET status = %(s)s, updated_at = now() WHERE id = %(i)s", {"s": to, "i": report_id}
    )
    return append_history(conn, report_id, was, to, reason=reason, comment=comment, note=note, actor=actor, role=role)


def history(conn: Connection, report_id: int) -> list[dict]:
    """Every entry of a report's history, oldest first."""
    return [
        dict(r)
        for r in conn.exec_driver_sql(
            "SELECT status, from_status, reason, note, internal_note, changed_by, actor_role, changed_at "
            "FROM status_history WHERE report_id = %(i)s ORDER BY changed_at, id",
            {"i": report_id},
        ).mappings()
    ]
