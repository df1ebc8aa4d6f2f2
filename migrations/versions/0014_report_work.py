"""What staff and reporters do with a report beyond its status: duplicates, the reporter's verdict, the e-mail
queue, photos and the access log.

- ``reports.duplicate_of``: the report a duplicate was merged into (its tracking page follows that one);
  ``reports.tracking_sealed``: the citizen's token sealed under the server secret (for the tracking link of the
  messages they get; only its hash finds the report); ``reports.language``: the reporter's interface language.
- ``reporter_feedback``: a reporter's ``confirmed`` or ``disputed`` on a resolved report (through the token).
- ``mail_queue``: one row per message to send (a reporter's status change), read by ``mapper worker``; the
  address is read from the report when sending, so the queue holds no personal data; retried with backoff.
- ``report_photos``: up to three re-encoded images per report with their thumbnails, in the database (so a
  report and its photos are written, backed up, replicated and deleted together); a moderator may hide one.
- ``access_log``: every staff view of a reporter's contact details or of an exact sensitive location;
  append-only, kept when the report is deleted.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE reports
        ADD COLUMN duplicate_of    bigint REFERENCES reports (id) ON DELETE SET NULL,
        ADD COLUMN tracking_sealed bytea,
        ADD COLUMN language        text""")
    # the subscription feeds read a layer's reports updated last
    op.execute("CREATE INDEX reports_layer_updated_idx ON reports (layer, updated_at DESC, id DESC)")
    op.execute("CREATE INDEX reports_duplicate_of_idx ON reports (duplicate_of) WHERE duplicate_of IS NOT NULL")
    op.execute("""
    CREATE TABLE reporter_feedback (
        id        bigserial PRIMARY KEY,
        report_id bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
        verdict   text NOT NULL CHECK (verdict IN ('confirmed', 'disputed')),
        comment   text,
        given_at  timestamptz NOT NULL DEFAULT now()
    )""")
    op.execute("CREATE INDEX reporter_feedback_report_idx ON reporter_feedback (report_id)")
    op.execute("""
    CREATE TABLE mail_queue (
        id              bigserial PRIMARY KEY,
        report_id       bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
        history_id      bigint,
        kind            text NOT NULL,
        language        text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        attempts        integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error      text,
        sent_at         timestamptz
    )""")
    op.execute("CREATE INDEX mail_queue_due_idx ON mail_queue (next_attempt_at, id) WHERE sent_at IS NULL")
    op.execute("""
    CREATE TABLE report_photos (
        id             bigserial PRIMARY KEY,
        report_id      bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
        position       smallint NOT NULL CHECK (position BETWEEN 1 AND 3),
        content_type   text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
        width          integer NOT NULL,
        height         integer NOT NULL,
        data           bytea NOT NULL,
        thumbnail      bytea NOT NULL,
        thumbnail_type text NOT NULL,
        sha256         bytea NOT NULL,
        hidden_at      timestamptz,
        hidden_by      text,
        created_at     timestamptz NOT NULL DEFAULT now(),
        UNIQUE (report_id, position)
    )""")
    op.execute("""
    CREATE TABLE access_log (
        id         bigserial PRIMARY KEY,
        at         timestamptz NOT NULL DEFAULT now(),
        actor      text NOT NULL,
        actor_role text,
        report_id  bigint,  -- NULL: a read of many reports (a feed page, a tile, an export), described by route
        layer      text NOT NULL,
        what       text NOT NULL CHECK (what IN ('contact', 'exact_location')),
        route      text NOT NULL
    )""")
    op.execute("CREATE INDEX access_log_at_idx ON access_log (at DESC, id DESC)")
    op.execute("CREATE INDEX access_log_report_idx ON access_log (report_id)")
    op.execute("""
    CREATE FUNCTION mapper_access_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'access_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$""")
    op.execute("""
    CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
        FOR EACH ROW EXECUTE FUNCTION mapper_access_log_is_append_only()""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS access_log")
    op.execute("DROP FUNCTION IF EXISTS mapper_access_log_is_append_only()")
    op.execute("DROP TABLE IF EXISTS report_photos")
    op.execute("DROP TABLE IF EXISTS mail_queue")
    op.execute("DROP TABLE IF EXISTS reporter_feedback")
    op.execute("DROP INDEX IF EXISTS reports_duplicate_of_idx")
    op.execute("DROP INDEX IF EXISTS reports_layer_updated_idx")
    op.execute("ALTER TABLE reports DROP COLUMN duplicate_of, DROP COLUMN tracking_sealed, DROP COLUMN language")
