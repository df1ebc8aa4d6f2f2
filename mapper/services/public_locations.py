"""Keep the stored public locations of sensitive layers in step with the precision their layer files declare.

Reports store their generalised location (``reports.public_geom``) when they are written. If a layer file's
``precision_m`` changes, ``sync`` (run by ``mapper db upgrade``) re-generalises that layer's reports. Until it
has run, public outputs leave those reports out rather than show them at a precision the layer no longer
declares (see ``store.features.where_for``).
"""

from __future__ import annotations

from sqlalchemy import Engine

from mapper.domain.layers import Registry
from mapper.store import reports as repository


def sync(engine: Engine, registry: Registry) -> dict[str, int]:
    """Re-generalise every layer whose declared precision differs from its stored one, each in its own
    transaction; return ``{layer: rows updated}`` for the layers that changed."""
    changed = {}
    for layer in registry:
        with engine.begin() as conn:
            updated = repository.sync_public_precision(conn, layer)
        if updated is not None:
            changed[layer.id] = updated
    return changed
