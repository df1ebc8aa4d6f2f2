"""Who is calling: anonymous citizens, or staff holding an API token (``Authorization: Bearer …``)."""

from __future__ import annotations

from flask import g, request

from mapper.db import get_engine
from mapper.domain.errors import Unauthorized
from mapper.services.tokens import role_for


def current_role() -> str | None:
    """The caller's staff role, None for anonymous; a bad token is an error, not anonymity. The one source of
    the caller's role (route markers in ``web.access``, views in ``domain.privacy.view_for``): another way to
    sign in (a browser session) belongs here too."""
    if "role" not in g:
        header = request.headers.get("Authorization", "")
        if not header:
            g.role = None
        else:
            scheme, _, token = header.partition(" ")
            role = role_for(get_engine(), token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if role is None:
                raise Unauthorized("The API token is unknown or revoked.")
            g.role = role
    return g.role
