"""Report intake: one GeoJSON Feature in, one validated report stored (once), or every problem out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from mapper import db
from mapper.domain.errors import Conflict, FieldProblem, NotFound, PayloadTooLarge, ValidationFailed
from mapper.domain.geometry import GeometryProblem, parse_crs, parse_geojson_geometry
from mapper.domain.layers import Layer, Registry
from mapper.domain.lifecycle import SUBMITTED
from mapper.domain.photos import Upload
from mapper.domain.photos import prepare_all as prepare_photos
from mapper.domain.values import check_json_types, split_public_private, validate_row
from mapper.services import idempotency, scoring
from mapper.services.tokens import new_tracking_token, seal_tracking_token
from mapper.store import photos as photo_store
from mapper.store import reports as repository

MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_TTL_HOURS = 24.0  # the IETF Idempotency-Key draft's suggestion; setting IDEMPOTENCY_TTL_HOURS


@dataclass
class IntakeLimits:
    max_body_bytes: int = 262144
    max_vertices: int = 5000


@dataclass
class IntakeResult:
    status_code: int
    body: dict
    replayed: bool = False


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(body: bytes) -> object:
    """Strict JSON: NaN and Infinity literals are refused (Python's json accepts them); so are documents
    nested too deeply for the parser (RecursionError) and integers of more than 4,300 digits."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        reason = "nests arrays or objects too deeply"
    except json.JSONDecodeError as e:
        reason = f"{e.msg} (line {e.lineno}, column {e.colno})"
    except UnicodeDecodeError:
        reason = "is not UTF-8 text"
    except ValueError as e:  # _reject_constant, or an integer beyond Python's digit limit
        reason = str(e) if str(e).endswith("is not valid JSON") else "holds a number with too many digits"
    raise ValidationFailed("The request body is not valid JSON.", [FieldProblem("body", reason)])


def validate_feature(layer: Layer, doc, crs_param: str | None, limits: IntakeLimits):
    """Check a GeoJSON Feature against ``layer``; return (geometry, public, private) or raise with all problems."""
    if not isinstance(doc, dict) or doc.get("type") != "Feature":
        raise ValidationFailed("The body must be a GeoJSON Feature.", [FieldProblem("type", 'must be "Feature"')])
    problems: list[FieldProblem] = []
    props = doc.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        problems.append(FieldProblem("properties", "must be an object"))
        props = {}
    geom = None
    try:
        crs = parse_crs(crs_param if crs_param is not None else doc.get("crs"))
        geom = parse_geojson_geometry(doc.get("geometry"), layer.geometry_types, crs, limits.max_vertices)
    except GeometryProblem as e:
        problems.append(e.problem)
    type_problems = check_json_types(layer, props)
    problems += type_problems
    bad_names = {p.field.split(".", 1)[1] for p in type_problems}
    clean, value_problems = validate_row(
        layer, {k: v for k, v in props.items() if k not in bad_names and layer.field(k)}
    )
    problems += [FieldProblem(p.field, p.reason) for p in value_problems if p.field.split(".", 1)[1] not in bad_names]
    if problems:
        raise ValidationFailed(f"The report does not fit layer {layer.id!r}.", problems)
    public, private = split_public_private(layer, clean)
    return geom, public, private


def observed_at(layer: Layer, public: dict, private: dict):
    """The time that dates a report: its layer's time field when given, else None (= submission time)."""
    if layer.time_field is None:
        return None
    return public.get(layer.time_field) or private.get(layer.time_field)


def request_hash(layer_id: str, body: bytes, crs_param: str | None, uploads: list[Upload] = ()) -> bytes:
    """What an Idempotency-Key is bound to: the layer, the CRS, the Feature and every photo's bytes as sent."""
    parts = [layer_id.encode(), (crs_param or "").encode(), body]
    parts += [hashlib.sha256(u.data).digest() for u in uploads]  # none: the hash of a JSON report, as before
    return hashlib.sha256(b"\0".join(parts)).digest()


DEFAULT_LIMITS = IntakeLimits()


def submit_report(
    engine: Engine,
    registry: Registry,
    layer_id: str,
    body: bytes,
    *,
    crs_param: str | None = None,
    idempotency_key: str | None = None,
    limits: IntakeLimits = DEFAULT_LIMITS,
    source: str = "api",
    secret: str = "",
    idempotency_ttl_hours: float = IDEMPOTENCY_TTL_HOURS,
    language: str | None = None,
    photos: list[Upload] = (),
) -> IntakeResult:
    """Validate and store one report (``language``: the reporter's, for the messages they get). With an
    idempotency key a retry within ``idempotency_ttl_hours`` returns the first response; the key is kept
    hashed and that response sealed under ``secret`` (the server's), as is the tracking token (for its link).
    ``photos`` (at most ``domain.photos.MAX_PHOTOS``) are re-encoded first and stored in the report's transaction."""
    layer = registry.report_layer(layer_id)
    if layer is None:
        raise NotFound(
            f"There is no layer {layer_id!r}.",
            [FieldProblem("layer", f"unknown layer; layers: {', '.join(registry.ids())}")],
        )
    if len(body) > limits.max_body_bytes:
        raise PayloadTooLarge(
            f"The body is larger than {limits.max_body_bytes} bytes.",
            [FieldProblem("body", f"larger than {limits.max_body_bytes} bytes")],
        )
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(
            "Bad Idempotency-Key header.",
            [FieldProblem("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters")],
        )
    if idempotency_key is not None and not secret:
        raise ValueError("idempotency keys are hashed and sealed under the server secret: pass secret")
    prepared, photo_problems = prepare_photos(photos)
    try:
        geom, public, private = validate_feature(layer, parse_json_body(body), crs_param, limits)
    except ValidationFailed as e:
        e.problems += photo_problems
        raise
    if photo_problems:
        raise ValidationFailed("A photo was refused.", photo_problems)
    digest = request_hash(layer_id, body, crs_param, photos)
    with engine.begin() as conn:
        key_hash = None
        if idempotency_key is not None:
            key_hash = idempotency.key_hash(secret, idempotency_key)
            repository.purge_idempotency_keys(conn, idempotency_ttl_hours)
            if not repository.claim_idempotency_key(conn, key_hash, digest, idempotency_ttl_hours):
                return replay(conn, key_hash, idempotency_key, digest, secret)
        token, token_hash = new_tracking_token()
        row = repository.insert_report(
            conn,
            layer,
            geom,
            public,
            private,
            observed_at(layer, public, private),
            source,
            token_hash,
            SUBMITTED,
            tracking_sealed=seal_tracking_token(secret, token) if secret else None,
            language=language,
        )
        photo_store.insert_photos(conn, row["id"], prepared)
        with db.cursor_in(conn) as cur:
            scoring.after_change(cur, layer, [row["id"]])
        response = {
            "id": row["id"],
            "layer": layer.id,
            "status": SUBMITTED,
            "tracking_token": token,
            "tracking_url": f"/api/reports/{token}",
            "tracking_page": f"/track/{token}",
            "created_at": row["created_at"].isoformat(),
        }
        if prepared:
            response["photos"] = [f"/api/reports/{row['id']}/photos/{n}" for n in range(1, len(prepared) + 1)]
        if key_hash is not None:
            sealed = idempotency.seal(secret, idempotency_key, response)
            repository.store_idempotent_response(conn, key_hash, 201, sealed)
    return IntakeResult(201, response)


def replay(conn: Connection, key_hash: bytes, key: str, digest: bytes, secret: str) -> IntakeResult:
    """The first response to a key another request holds (it has committed: the claim waited for it)."""
    first = repository.idempotent_response(conn, key_hash)
    if first is None or first["response_sealed"] is None:  # its holder's row expired or went meanwhile
        raise Conflict(
            "This Idempotency-Key is being used by another request.",
            [FieldProblem("Idempotency-Key", "in use by a request in progress; retry")],
        )
    if bytes(first["request_hash"]) != digest:
        raise Conflict(
            "This Idempotency-Key was already used with a different request.",
            [FieldProblem("Idempotency-Key", "reused with a different body")],
        )
    try:
        response = idempotency.unseal(secret, key, first["response_sealed"])
    except idempotency.Unsealable:
        raise Conflict(
            "The first response to this Idempotency-Key cannot be replayed.",
            [FieldProblem("Idempotency-Key", "its stored response does not open; send the report with a new key")],
        ) from None
    return IntakeResult(first["status_code"], response, replayed=True)
