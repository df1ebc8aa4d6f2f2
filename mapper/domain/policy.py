"""Who may do what: the staff roles and the permissions they hold, the one place access rules are defined.

A caller is anonymous (``None``: the public) or holds one of ``ROLES``. ``admin`` may do everything. Other
roles hold what is granted to them:

- per layer, in the layer file: ``[sensitivity] exact_audiences`` grants ``see_exact`` (exact locations,
  private fields, hidden reports), and the ``[access]`` table grants the other ``LAYER_PERMISSIONS``
  (``run_scores = ["police"]``);
- platform-wide, in ``GRANTS`` below (``upload_gtfs``).

``may`` answers every question; ``domain.privacy.view_for``, the web layer's route markers
(``web.access``), the layer loader and the CLI all read this module and write no role list of their own.
The database keeps its own copies of ``ROLES`` (the CHECKs on ``api_tokens.role`` and ``staff_users.role``, last
set by migration 0011): a test reads those constraints and compares them with ``ROLES``, so a new role here needs
a migration there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mapper.domain.layers import Layer

ADMIN = "admin"
ROLES = (ADMIN, "police", "utility", "health", "planner", "moderator")

SEE_EXACT = "see_exact"
# Permissions a layer file grants, with what they allow (the [access] table's keys, plus see_exact).
LAYER_PERMISSIONS = {
    SEE_EXACT: "see the layer's exact locations, private fields and hidden reports ([sensitivity] exact_audiences)",
    "run_scores": "recompute the layer's scores (POST /api/scores/{layer}/run)",
    "decide_alerts": "verify or dismiss citizens' alerts on the layer (POST /api/reports/{id}/alert-decision)",
    "act_on_reports": "move the layer's reports through their lifecycle (POST /api/reports/{id}/transitions)",
}
ACCESS_KEYS = tuple(p for p in LAYER_PERMISSIONS if p != SEE_EXACT)  # declared in [access]
# Platform-wide permissions: the roles, besides admin, that hold them.
GRANTS = {
    "upload_gtfs": ("planner",),  # POST /api/gtfs/feeds
    "moderate": ("moderator",),  # verify, reject or hide any layer's reports
    "read_access_log": (),  # /staff/access-log, who saw contact details and exact locations: admin alone
}


def is_role(role: str | None) -> bool:
    return role in ROLES


def granted(permission: str, layer: Layer | None = None) -> tuple[str, ...]:
    """The roles that hold ``permission`` (on ``layer`` for a layer permission), admin first."""
    if permission in LAYER_PERMISSIONS:
        if layer is None:
            raise ValueError(f"{permission!r} is a layer permission: name the layer")
        declared = layer.exact_audiences if permission == SEE_EXACT else dict(layer.access).get(permission, ())
    elif permission in GRANTS:
        declared = GRANTS[permission]
    else:
        raise ValueError(f"unknown permission {permission!r}")
    return (ADMIN, *(r for r in ROLES if r != ADMIN and r in declared))


def may(role: str | None, permission: str, layer: Layer | None = None) -> bool:
    """Whether a caller with ``role`` (None = anonymous) holds ``permission`` (on ``layer``)."""
    return is_role(role) and role in granted(permission, layer)


def sees_exact(layer: Layer, role: str | None) -> bool:
    """Whether ``role`` sees ``layer`` exactly rather than as the public does."""
    return may(role, SEE_EXACT, layer)


def roles_problem(roles) -> str | None:
    """Why ``roles`` (read from a layer file) is not a list of known roles, or None when it is."""
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return "must be a list of role names"
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        return f"unknown role {unknown[0]!r} (roles: {', '.join(ROLES)})"
    return None
