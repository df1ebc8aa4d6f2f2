"""Request bodies, read within their own route's limit and type.

The app's ``MAX_CONTENT_LENGTH`` is the small intake limit (``MAX_BODY_BYTES``) for every route; a route that
takes more (the GTFS upload, ``MAX_UPLOAD_BYTES``) raises it for its own request only. A body larger than its
limit is refused with 413 as soon as that is known, never read whole first: at once when ``Content-Length``
declares it, else (chunked) when the streamed bytes pass the limit. The WSGI servers in use (granian, Werkzeug's)
stream the body to the app as it is read, so a refused body is not buffered anywhere either.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from mapper.domain.errors import FieldProblem, PayloadTooLarge, UnsupportedMediaType

JSON_TYPES = ("application/json", "application/geo+json")
COPY_CHUNK = 1 << 20


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The body is larger than {limit} bytes.", [FieldProblem("body", f"larger than {limit} bytes")]
    )


def _limit_to(limit: int) -> None:
    """Refuse a body declared larger than ``limit``; bound the stream of any other to ``limit`` + 1 bytes (one
    byte more than allowed is what tells a body of exactly ``limit`` bytes from a longer one)."""
    if "stream" in request.__dict__:  # Werkzeug builds the stream once, bounded by the limit of that moment
        raise RuntimeError("the request stream was opened before its limit was set")
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    request.max_content_length = limit + 1


def read_body(limit: int, types: tuple[str, ...] | None = None) -> bytes:
    """The request body, at most ``limit`` bytes, else 413 naming ``body`` (at most ``limit`` + 1 bytes are read).
    With ``types``, a body declared as another media type is refused (415) before anything is read."""
    _limit_to(limit)
    if types is not None:
        require_type(types)
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise too_large(limit) from None
    if len(body) > limit:
        raise too_large(limit)
    return body


def read_form(limit: int, field_limit: int, parts: int = 16):
    """A ``multipart/form-data`` body of at most ``limit`` bytes (413 beyond, as ``read_body``) in at most
    ``parts`` parts, each text part at most ``field_limit`` bytes (413); returns Werkzeug's (form, files).
    Files past 500 KB are spooled to a temporary file, not held in memory."""
    _limit_to(limit)
    request.max_form_memory_size, request.max_form_parts = field_limit, parts
    try:
        return request.form, request.files
    except RequestEntityTooLarge:
        raise too_large(limit) from None


def copy_body(dest, limit: int) -> int:
    """Stream the request body into the file ``dest`` in 1 MiB chunks; 413 naming ``body`` once it passes
    ``limit`` bytes (what was written so far is the caller's to discard). Returns the bytes written."""
    _limit_to(limit)
    written = 0
    try:
        while chunk := request.stream.read(COPY_CHUNK):
            written += len(chunk)
            if written > limit:
                raise too_large(limit)
            dest.write(chunk)
    except RequestEntityTooLarge:
        raise too_large(limit) from None
    return written


def require_type(types: tuple[str, ...]) -> None:
    """415 naming ``Content-Type`` unless the body is declared as one of ``types``, with no parameter but an
    optional ``charset=utf-8``. For ``JSON_TYPES``: browsers send such a type to another origin only after a
    CORS preflight (which the intake API does not grant), so a cross-site form or ``no-cors`` fetch cannot."""
    params = {k.lower(): v.lower() for k, v in request.mimetype_params.items()}
    if request.mimetype in types and set(params) <= {"charset"} and params.get("charset", "utf-8") == "utf-8":
        return
    given = request.headers.get("Content-Type")
    raise UnsupportedMediaType(
        f"The body must be sent as {' or '.join(types)}.",
        [
            FieldProblem(
                "Content-Type",
                ("is missing" if not given else f"is {given!r}")
                + f"; must be {' or '.join(types)} (optionally with charset=utf-8)",
            )
        ],
    )


def init_app(app: Flask) -> None:
    """Every route's default body limit is the intake limit."""
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_BODY_BYTES"])
