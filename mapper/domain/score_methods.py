"""What each score method reads: the fields a layer declaring it must have, in one table (``METHODS``).

The layer loader (``domain.layers``) refuses, at start-up, a layer that declares a method — in ``scores = [...]``,
or ``[hotspots]`` — without the fields it reads, naming the file, the key and the field; the scoring services
take every field name from here (``fields_for``), never from a literal. A method reads a field under a role:
its name is fixed (``name``), or set per layer in the method's table of the layer file (``setting``: the hot
spots' ``weight_field``). What a method publishes computed from a field (a score, a class, a count per cell) is
public, so such a field must be public too (``published``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mapper.domain import water

NUMBER = ("integer", "number")


@dataclass(frozen=True)
class Reads:
    """A field a score method reads."""

    role: str  # what the method reads it as
    label: str  # in words, for error messages
    types: tuple[str, ...]  # the field types the method can read
    name: str | None = None  # the field's name; None when the layer names it in ``setting``
    setting: str | None = None  # the key of the method's table naming the field (``[hotspots] weight_field``)
    required: bool = True  # False: read when the layer has it (and then checked like the others)
    values: tuple[str, ...] = ()  # enum values the method compares with: the field must offer them
    multiple: bool = False  # an enum read as a list of choices
    published: bool = True  # what the method computes from it is published: the field must be public


@dataclass(frozen=True)
class Method:
    """A score method and the fields it reads; ``table``: where a layer file declares it (``scores`` lists
    methods, ``hotspots`` is a table of its own). ``kept_by`` says who keeps its results current: ``"writer"``,
    every writer of the layer's reports in its own transaction (``services.scoring.after_change``), or
    ``"worker"``, ``mapper worker`` once the data it reads has changed (``services.worker``). ``also_reads``:
    collections besides the layer whose changes make its results stale."""

    name: str
    reads: tuple[Reads, ...]
    table: str = "scores"
    kept_by: str = "worker"
    also_reads: tuple[str, ...] = ()

    def reading(self, role: str) -> Reads:
        return next(r for r in self.reads if r.role == role)


def _water_quality() -> Method:
    objectives, _ = water.load_guidelines()
    measured = tuple(  # every guideline variable but the gate, named as in the guideline file
        Reads(variable, f"a measurement compared with WHO's {o.label} guideline", NUMBER, variable, required=False)
        for variable, o in objectives.items()
        if variable != water.E_COLI
    )
    return Method(
        "water_quality",
        (
            Reads("e_coli", "the E. coli count (the gate of the score)", NUMBER, name=water.E_COLI),
            *measured,
            Reads("alert", "citizens' alerts (verified or dismissed by staff)", ("boolean",), "alert", required=False),
            Reads(
                "point", "the water point's name (samples are grouped by it)", ("text",), "point_name", required=False
            ),
        ),
        kept_by="writer",  # a citizen's sample or alert is scored by the time its POST returns
    )


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "hotspots",
            (
                Reads("weight", "the weight each report counts with", NUMBER, setting="weight_field", required=False),
                Reads("where", "the categories analysed", ("enum",), setting="where_field", required=False),
            ),
            table="hotspots",
        ),
        _water_quality(),
        Method(
            "ratings",
            (
                Reads("rating", "the rating", NUMBER, name="rating"),
                Reads(
                    "centre", "the centre's name (ratings are grouped by it)", ("text",), "centre_name", required=False
                ),
                Reads("services", "the services offered", ("enum",), "services", required=False, multiple=True),
                Reads(
                    "complaint",
                    "complaints (only counted, per month)",
                    ("text",),
                    "complaint",
                    required=False,
                    published=False,
                ),
            ),
        ),
        Method(
            "livability",
            (
                # values in this order: the value counted for, and the one counted against
                Reads("sentiment", "positive or negative", ("enum",), "sentiment", values=("positive", "negative")),
                Reads(
                    "theme",
                    "the theme (safety is scored apart)",
                    ("enum",),
                    "theme",
                    required=False,
                    values=("safety",),
                ),
            ),
        ),
        Method(
            "land_use",
            (
                Reads(
                    "land_class",
                    "the land-use class (public and green space are summed)",
                    ("enum",),
                    "land_class",
                    values=("public_space", "green_space"),
                ),
                Reads(
                    "district", "the district (areas are summed by it)", ("text", "enum"), "district", required=False
                ),
                Reads(
                    "population", "the residents (public space per person)", ("integer",), "population", required=False
                ),
            ),
        ),
        # reads the report's location and the transit stops only
        Method("transit_access", (), also_reads=("transit_stops",)),
    )
}
SCORES = tuple(name for name, m in METHODS.items() if m.table == "scores")  # what ``scores = [...]`` may list


def field_name(read: Reads, settings=None) -> str | None:
    """The name of the field ``read`` reads: fixed, or the layer's setting (None when the setting is unset)."""
    return read.name if read.setting is None else getattr(settings, read.setting, None)


def problems(method: str, fields, settings=None) -> list[tuple[str, str]]:
    """(key, reason) for each field ``method`` reads that ``fields`` (a layer's, by name or as a sequence) lack or
    hold wrongly; ``settings``: the method's table (``HotspotSettings``) where the layer names fields."""
    m = METHODS[method]
    by_name = fields if isinstance(fields, dict) else {f.name: f for f in fields}
    out = []
    for read in m.reads:
        name = field_name(read, settings)
        key = m.table if read.setting is None else f"{m.table}.{read.setting}"
        what = f"score method {method!r} reads {read.label} from the field {name!r}"
        if name is None:
            continue
        f = by_name.get(name)
        if f is None:
            if read.required or read.setting is not None:
                out.append((key, f"{what}, which the layer does not declare (a [[fields]] of type {_types(read)})"))
            continue
        if f.type not in read.types or (read.multiple and not f.multiple) or (f.multiple and not read.multiple):
            kind = f"{'multiple ' if f.multiple else ''}{f.type}"
            out.append((key, f"{what}: it must be {'a multiple ' if read.multiple else ''}{_types(read)}, not {kind}"))
        elif missing := [v for v in read.values if v not in f.values]:
            out.append((key, f"{what}: its values must include {', '.join(map(repr, missing))}"))
        elif read.published and not f.public:
            out.append((key, f"{what}: the method publishes what it computes from it, so it must be public"))
    return out


def _types(read: Reads) -> str:
    return " or ".join(read.types)


def fields_for(layer, method: str, settings=None) -> dict:
    """Role → the layer's ``Field`` that ``method`` reads (None for an optional one the layer lacks);
    ``settings``: the method's table where the layer names fields (default: the layer's own ``hotspots``)."""
    m = METHODS[method]
    if settings is None and m.table == "hotspots":
        settings = layer.hotspots
    return {read.role: (layer.field(name) if (name := field_name(read, settings)) else None) for read in m.reads}
