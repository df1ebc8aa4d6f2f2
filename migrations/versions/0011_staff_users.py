"""Staff accounts for the browser sign-in, and the ``moderator`` role.

``staff_users`` holds one row per staff member: the e-mail (unique whatever its case: the index is on
``lower(email)``), the role (the same CHECK list as ``api_tokens.role``, the database's copy of
``mapper.domain.policy.ROLES``), the argon2id hash of the password, when the account was disabled (a disabled
account cannot sign in and its open sessions stop working), created, and last signed in. ``api_tokens``' role
CHECK is replaced to take ``moderator`` too.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ROLES = ("admin", "police", "utility", "health", "planner", "moderator")
OLD_ROLES = ("admin", "police", "utility", "health", "planner")


def _role_check(roles) -> str:
    return "role IN (" + ", ".join(f"'{r}'" for r in roles) + ")"


def upgrade() -> None:
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check")
    op.execute(f"ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK ({_role_check(ROLES)})")
    op.execute(f"""
    CREATE TABLE staff_users (
        id             serial PRIMARY KEY,
        email          text NOT NULL CHECK (email = btrim(email) AND email LIKE '%_@_%'),
        role           text NOT NULL CONSTRAINT staff_users_role_check CHECK ({_role_check(ROLES)}),
        password_hash  text NOT NULL,
        disabled_at    timestamptz,
        created_at     timestamptz NOT NULL DEFAULT now(),
        last_login_at  timestamptz
    )""")
    op.execute("CREATE UNIQUE INDEX staff_users_email_idx ON staff_users (lower(email))")


def downgrade() -> None:
    op.execute("DROP TABLE staff_users")
    op.execute("DELETE FROM api_tokens WHERE role = 'moderator'")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check")
    op.execute(f"ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK ({_role_check(OLD_ROLES)})")
