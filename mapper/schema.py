"""SQLAlchemy Core tables mirroring the migrations, for typed inserts (GeoAlchemy2 binds the geometry)."""
from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Column, DateTime, Integer, LargeBinary, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

reports = Table(
    "reports", metadata,
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
    Column("import_id", BigInteger),
)

status_history = Table(
    "status_history", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("report_id", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("note", Text),
    Column("changed_by", Text),
    Column("changed_at", DateTime(timezone=True)),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)
