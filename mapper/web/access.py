"""Route markers: every Flask view declares who may call it, and the marker enforces it.

Put the marker under the route decorator::

    @bp.get("/map")
    @access.public                                    # anyone (what they see may still depend on their role)
    def public_map(): ...

    @bp.post("/scores/<layer_id>/run")
    @access.layer_permission("run_scores")            # the layer named by <layer_id> grants it ([access])
    def run_scores(layer_id): ...

    @bp.post("/reports/<int:report_id>/alert-decision")
    @access.layer_permission("decide_alerts", layer="water_quality")   # a fixed layer
    def alert_decision(report_id): ...

    @bp.post("/feeds")
    @access.permission("upload_gtfs")                 # a platform-wide permission (domain.policy.GRANTS)
    def upload_feed(): ...

    @access.staff                                     # any staff role

Who holds a permission is ``domain.policy``'s business; the caller's role is ``web.auth.current_role()``,
the one source of it (Bearer token today, a browser sign-in later). A caller without a role gets 401, a
role without the permission 403, both as problem+json naming ``Authorization``. The rule is kept on the
view function (``rule_of``): ``init_app`` refuses to start an app with an unmarked endpoint, and
tests/test_access.py calls every route as every role.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import Flask, current_app

from mapper.domain import policy
from mapper.domain.errors import FieldProblem, Forbidden, NotFound, Unauthorized
from mapper.domain.layers import Layer
from mapper.web import http_cache
from mapper.web.auth import current_role

ATTRIBUTE = "access_rule"


@dataclass(frozen=True)
class Rule:
    """Who may call a route: ``public``, any ``staff`` role, holders of a platform ``permission``, or holders
    of a ``layer_permission`` on the layer named by the URL argument ``layer_arg`` (or the fixed ``layer``)."""

    kind: str
    permission: str | None = None
    layer_arg: str | None = None
    layer: str | None = None

    def __str__(self) -> str:
        if self.kind == "layer_permission":
            on = self.layer or f"<{self.layer_arg}>"
            return f"layer_permission({self.permission!r} on {on})"
        return f"{self.kind}({self.permission!r})" if self.permission else self.kind

    def layer_of(self, view_args: dict) -> Layer | None:
        """The report layer a layer permission is checked on (None: no such layer)."""
        layer_id = self.layer or view_args.get(self.layer_arg)
        return current_app.extensions["mapper.registry"].report_layer(layer_id)

    def allows(self, role: str | None, layer: Layer | None = None) -> bool:
        """Whether a caller with ``role`` (None = anonymous) may call the route (``layer``: see ``layer_of``)."""
        if self.kind == "public":
            return True
        if self.kind == "staff":
            return policy.is_role(role)
        return policy.may(role, self.permission, layer)

    def enforce(self, view_args: dict) -> None:
        """Raise Unauthorized (no role), NotFound (no such layer) or Forbidden (the role may not)."""
        if self.kind == "public":
            return
        role = current_role()
        layer = None
        if self.kind == "layer_permission":
            layer = self.layer_of(view_args)
            if layer is None and role is not None:
                raise NotFound(f"There is no layer {self.layer or view_args.get(self.layer_arg)!r}.")
        if role is None:
            raise Unauthorized("This needs a staff token.", [FieldProblem("Authorization", self._needs(layer))])
        if not self.allows(role, layer):
            on = f" on {layer.id!r}" if layer is not None else ""
            raise Forbidden(
                f"The role {role!r} does not hold the permission {self.permission!r}{on}.",
                [FieldProblem("Authorization", f"role {role!r} is not allowed: {self._needs(layer)}")],
            )

    def _needs(self, layer: Layer | None) -> str:
        if self.kind == "staff" or (self.kind == "layer_permission" and layer is None):
            return "needs a Bearer token of a staff role"
        what = f"{self.permission} on {layer.id}" if layer is not None else self.permission
        return f"{what} needs a Bearer token with role {' or '.join(policy.granted(self.permission, layer))}"


def _marker(rule: Rule):
    def mark(view):
        if rule.kind == "public":
            guarded = view
        else:

            @functools.wraps(view)
            def guarded(*args, **kwargs):
                rule.enforce(kwargs)
                return view(*args, **kwargs)

        setattr(guarded, ATTRIBUTE, rule)
        return guarded

    return mark


public = _marker(Rule("public"))
staff = _marker(Rule("staff"))


def permission(name: str):
    """Holders of the platform-wide permission ``name`` (``domain.policy.GRANTS``) and admin."""
    if name not in policy.GRANTS:
        raise ValueError(f"unknown platform permission {name!r} (permissions: {', '.join(policy.GRANTS)})")
    return _marker(Rule("permission", name))


def layer_permission(name: str, *, layer_arg: str = "layer_id", layer: str | None = None):
    """Holders of the layer permission ``name`` on the report layer named by the URL argument ``layer_arg``, or
    on the fixed ``layer``; admin always. An unknown layer is 404 for staff (401 for anonymous callers)."""
    if name not in policy.LAYER_PERMISSIONS:
        raise ValueError(f"unknown layer permission {name!r} (permissions: {', '.join(policy.LAYER_PERMISSIONS)})")
    return _marker(Rule("layer_permission", name, None if layer else layer_arg, layer))


def rule_of(view) -> Rule | None:
    """The access rule a view function was marked with, None when unmarked."""
    return getattr(view, ATTRIBUTE, None)


def init_app(app: Flask) -> None:
    """Mark Flask's own static route public, refuse an app with an unmarked endpoint, and keep responses to
    callers with credentials out of shared caches (``http_cache.keep_private``). Call it once every blueprint
    is registered."""
    static = app.view_functions.get("static")
    if static is not None and rule_of(static) is None:
        app.view_functions["static"] = public(functools.wraps(static)(lambda **kwargs: static(**kwargs)))
    unmarked = sorted(str(r) for r in app.url_map.iter_rules() if rule_of(app.view_functions[r.endpoint]) is None)
    if unmarked:
        raise RuntimeError(f"routes without an access marker (mapper.web.access): {', '.join(unmarked)}")
    app.after_request(http_cache.keep_private)
