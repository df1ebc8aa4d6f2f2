"""Who sees what of a layer: the public view, or the exact view of staff whose role the layer trusts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mapper.domain import lifecycle, policy
from mapper.domain.layers import Field, Layer

METRES_PER_DEGREE = 111_320.0
EXACT_DIGITS = 7  # ~1 cm at the equator


@dataclass(frozen=True)
class View:
    """What one audience may see of one layer."""

    layer: Layer
    exact: bool  # exact locations, private fields, and reports hidden from the public

    @property
    def fields(self) -> tuple[Field, ...]:
        """Fields this view may read, filter on and export."""
        return self.layer.fields if self.exact else self.layer.public_fields

    @property
    def hidden_statuses(self) -> tuple[str, ...]:
        """Statuses whose reports this view does not see: hidden, rejected and unpublished ones, for the public."""
        return () if self.exact else lifecycle.publicly_hidden(self.layer.moderation)

    @property
    def precision_m(self) -> float:
        return 0.0 if self.exact else self.layer.precision_m

    @property
    def generalised(self) -> bool:
        """True when this view sees locations generalised to a grid (stored per report as ``public_geom``)."""
        return self.precision_m > 0

    @property
    def coordinate_digits(self) -> int:
        """Decimal places of published coordinates: no more than the location precision justifies."""
        if self.precision_m <= 0:
            return EXACT_DIGITS
        return max(0, min(EXACT_DIGITS, math.ceil(math.log10(METRES_PER_DEGREE / (2 * self.precision_m)))))


def view_for(layer: Layer, role: str | None) -> View:
    """The view of ``layer`` for a caller with ``role`` (None = anonymous public)."""
    return View(layer, exact=policy.sees_exact(layer, role))
