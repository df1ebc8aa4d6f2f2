"""SQLAlchemy Core tables mirroring the migrations, for typed inserts (GeoAlchemy2 binds the geometry)."""

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Column, Computed, DateTime, Float, Integer, LargeBinary, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

reports = Table(
    "reports",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("layer", Text, nullable=False),
    Column("geom", Geometry(srid=4326, spatial_index=False), nullable=False),
    Column("properties", JSONB, nullable=False),
    Column("private", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("observed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("source", Text, nullable=False),
    Column("tracking_hash", LargeBinary),
    Column("tracking_sealed", LargeBinary),
    Column("language", Text),
    Column("duplicate_of", BigInteger),
    Column("import_id", BigInteger),
    Column("public_precision_m", Float, nullable=False),
    Column(
        "public_geom",
        Geometry("POINT", srid=4326, spatial_index=False),
        Computed(
            "CASE WHEN public_precision_m > 0 THEN mapper_public_point(geom, public_precision_m) END", persisted=True
        ),
    ),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("report_id", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("note", Text),
    Column("changed_by", Text),
    Column("changed_at", DateTime(timezone=True)),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("last_login_at", DateTime(timezone=True)),
)
