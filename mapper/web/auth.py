"""Who is calling: anonymous citizens, or staff holding an API token (``Authorization: Bearer …``) or signed in
in the browser (``web.signin``)."""

from __future__ import annotations

from flask import g, request

from mapper.db import get_engine
from mapper.domain.errors import Unauthorized
from mapper.services.tokens import digest, role_for
from mapper.web import csrf


def current_role() -> str | None:
    """The caller's staff role, None for anonymous; a bad token is an error, not anonymity. The one source of
    the caller's role (route markers in ``web.access``, views in ``domain.privacy.view_for``). Without an
    ``Authorization`` header it is the role of the staff member signed in on the session (``web.signin``),
    except on unsafe requests to the CSRF-exempt API routes (``web.csrf``), where only a token counts."""
    if "role" not in g:
        header = request.headers.get("Authorization", "")
        if not header:
            from mapper.web import signin  # signin's views carry access markers, and access reads this module

            g.role = signin.session_role() if csrf.session_may_act() else None
            g.actor = f"user:{signin.current_user.id}" if g.role else None
        else:
            scheme, _, token = header.partition(" ")
            role = role_for(get_engine(), token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if role is None:
                raise Unauthorized("The API token is unknown or revoked.")
            g.role = role
            g.actor = f"token:{digest(token.strip())[:4].hex()}"  # which token, never the token
    return g.role


def current_actor() -> str | None:
    """Who the caller is, as a history records it: ``user:<id>`` (signed in) or ``token:<first bytes of its
    digest>``; None for anonymous callers."""
    current_role()
    return g.actor
