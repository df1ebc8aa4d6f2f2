"""Typed layers declared as data: one TOML file per layer in ``layers/``, loaded and checked at start-up.

A layer file gives ``id``, ``title``, ``description``, ``geometry`` (point or polygon), ``[[fields]]``,
``[sensitivity]`` (public location precision in metres, audiences that may see exact data), ``[access]``
(the roles holding each of the layer's other permissions, ``domain.policy.ACCESS_KEYS``) and ``[style]``,
and the scores it declares (``scores = [...]``, ``[hotspots]``): a layer lacking a field its score methods read
(``domain.score_methods``) is refused. Every layer also receives the private reporter-contact fields in
``CONTACT_FIELDS``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mapper.domain import lifecycle, policy, score_methods
from mapper.domain.errors import LayerDefinitionError

FIELD_TYPES = {"text", "integer", "number", "boolean", "date", "datetime", "enum"}
GEOMETRY_TYPES = {
    "point": ("Point",),
    "polygon": ("Polygon", "MultiPolygon"),
    "line": ("LineString", "MultiLineString"),
}  # lines: derived transit routes only
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
# Reserved names: they are report columns or GeoJSON members, not layer properties.
# Names no field may take: the members of every published feature, and the query parameters of the feeds,
# tiles and exports (a field named `limit` would be both the page size and a filter in `?limit=`).
QUERY_PARAMETERS = {"limit", "bbox", "crs", "datetime", "filter", "cursor", "f", "aoi", "zoom"}
RESERVED = {"id", "geometry", "geom", "status", "layer", "created_at", "updated_at", "type"} | QUERY_PARAMETERS


@dataclass(frozen=True)
class Field:
    """One property of a layer's reports."""

    name: str
    type: str
    label: str
    required: bool = False
    public: bool = True
    values: tuple[str, ...] = ()  # enum choices
    multiple: bool = False  # enum only: a list of choices
    min: float | None = None
    max: float | None = None
    max_length: int = 2000  # text only
    unit: str = ""
    help: str = ""


CONTACT_FIELDS = (
    Field("reporter_name", "text", "Your name", public=False, max_length=200, help="Optional. Never published."),
    Field(
        "reporter_email",
        "text",
        "Your e-mail",
        public=False,
        max_length=254,
        help="Optional, to hear back about this report. Never published.",
    ),
    Field("reporter_phone", "text", "Your phone", public=False, max_length=40, help="Optional. Never published."),
)


SCORE_METHODS = score_methods.SCORES  # what ``scores = [...]`` may list; hot spots are a table of their own


@dataclass(frozen=True)
class HotspotSettings:
    """A layer's hot spot analysis: cells with fewer than ``min_count`` reports are not published."""

    min_count: int = 5
    weight_field: str | None = None  # e.g. severity: each report counts with this weight
    cell_size_m: float | None = None  # hexagon edge; chosen from the data when None
    window_days: int | None = None  # only reports observed in the last N days
    where_field: str | None = None  # with where_values: only reports whose field takes one of these values
    where_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layer:
    """A typed layer: what its reports look like and who may see what."""

    id: str
    title: str
    description: str
    geometry: str
    fields: tuple[Field, ...]
    precision_m: float = 0.0  # public location precision; 0 = exact
    exact_audiences: tuple[str, ...] = (policy.ADMIN,)
    access: tuple[tuple[str, tuple[str, ...]], ...] = ()  # [access]: (permission, roles) pairs, see domain.policy
    time_field: str | None = None  # the field that dates a report (else its submission time)
    color: str = "#3388ff"
    icon: str = "info-sign"
    source_file: str = ""
    hotspots: HotspotSettings | None = None
    scores: tuple[str, ...] = ()
    table: str = "reports"  # derived collections live in derived_features
    derived_from: str | None = None
    title_parts: tuple[str, ...] = ()  # a derived collection's (its layer's title, what it derives): translated apart
    moderation: str = "after"  # "before": a report is published only once verified (domain.lifecycle.MODERATIONS)
    duplicate_distance_m: float = 250.0  # [duplicates]: reports this close and this recent may be the same problem
    duplicate_days: int = 30

    @property
    def score_methods(self) -> tuple[str, ...]:
        """The score methods the layer declares, hot spots first."""
        return (("hotspots",) if self.hotspots else ()) + tuple(self.scores)

    @property
    def geometry_types(self) -> tuple[str, ...]:
        return GEOMETRY_TYPES[self.geometry]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def public_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.public)

    def as_schema(self) -> dict:
        """Public JSON description of the layer, used by the report form and API clients."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "geometry": self.geometry,
            "precision_m": self.precision_m,
            "time_field": self.time_field,
            "style": {"color": self.color, "icon": self.icon},
            "moderation": self.moderation,
            "fields": [
                {
                    k: v
                    for k, v in {
                        "name": f.name,
                        "type": f.type,
                        "label": f.label,
                        "required": f.required,
                        "public": f.public,
                        "values": list(f.values) or None,
                        "multiple": f.multiple or None,
                        "min": f.min,
                        "max": f.max,
                        "unit": f.unit or None,
                        "help": f.help or None,
                        "max_length": f.max_length if f.type == "text" else None,
                    }.items()
                    if v is not None
                }
                for f in self.fields
            ],
        }


class Registry:
    """All layers, by id, in file-name order; iteration gives the report layers, ``collections`` adds the
    derived ones (hot spots, area scores) that are served like layers but never take reports."""

    def __init__(self, layers: list[Layer], derived: list[Layer] = ()):
        self._layers = {layer.id: layer for layer in layers}
        self._all = {**self._layers, **{d.id: d for d in derived}}

    def get(self, layer_id: str) -> Layer | None:
        """A report layer or a derived collection."""
        return self._all.get(layer_id)

    def report_layer(self, layer_id: str) -> Layer | None:
        return self._layers.get(layer_id)

    def __iter__(self):
        return iter(self._layers.values())

    def __len__(self):
        return len(self._layers)

    def ids(self) -> list[str]:
        return list(self._layers)

    def collections(self) -> list[Layer]:
        return list(self._all.values())


def load_registry(directory: str | Path) -> Registry:
    """Load and check every ``*.toml`` in ``directory``; the first bad file raises LayerDefinitionError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LayerDefinitionError(str(directory), "-", "layers directory not found")
    layers: list[Layer] = []
    for path in sorted(directory.glob("*.toml")):
        layer = load_layer(path)
        if any(existing.id == layer.id for existing in layers):
            raise LayerDefinitionError(str(path), "id", f"duplicate layer id {layer.id!r}")
        layers.append(layer)
    if not layers:
        raise LayerDefinitionError(str(directory), "-", "no layer files (*.toml)")
    from mapper.domain.derived import TRANSIT_LAYERS, derived_layers

    return Registry(layers, [d for layer in layers for d in derived_layers(layer)] + list(TRANSIT_LAYERS))


def load_layer(path: Path) -> Layer:
    """Parse and check one layer file."""
    file = str(path)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise LayerDefinitionError(file, "-", f"not valid TOML: {e}") from e
    return _Checker(file, doc).layer()


class _Checker:
    """Reads one parsed layer document, failing with the file, the key and the reason."""

    TOP_KEYS = {
        "moderation",
        "duplicates",
        "id",
        "title",
        "description",
        "geometry",
        "fields",
        "sensitivity",
        "style",
        "time_field",
        "hotspots",
        "scores",
        "access",
    }
    HOTSPOT_KEYS = {"min_count", "weight_field", "cell_size_m", "window_days", "where_field", "where_values"}
    FIELD_KEYS = {
        "name",
        "type",
        "label",
        "required",
        "public",
        "values",
        "multiple",
        "min",
        "max",
        "max_length",
        "unit",
        "help",
    }

    def __init__(self, file: str, doc: dict):
        self.file, self.doc = file, doc

    def fail(self, key: str, reason: str):
        raise LayerDefinitionError(self.file, key, reason)

    def get(self, table: dict, key: str, path: str, kind, required: bool = False, default=None):
        if key not in table:
            if required:
                self.fail(path, "is required")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(path, f"must be of type {names}, got {type(value).__name__}")
        return value

    def layer(self) -> Layer:
        d = self.doc
        for key in d:
            if key not in self.TOP_KEYS:
                self.fail(key, f"unknown key (allowed: {', '.join(sorted(self.TOP_KEYS))})")
        layer_id = self.get(d, "id", "id", str, required=True)
        if not NAME_RE.match(layer_id):
            self.fail("id", "must match [a-z][a-z0-9_]* (at most 63 characters)")
        geometry = self.get(d, "geometry", "geometry", str, required=True)
        if geometry not in ("point", "polygon"):
            self.fail("geometry", "must be one of ['point', 'polygon']")
        raw_fields = self.get(d, "fields", "fields", list, required=True)
        fields = [self.field(i, raw) for i, raw in enumerate(raw_fields)]
        names = [f.name for f in fields]
        for name in names:
            if names.count(name) > 1:
                self.fail("fields", f"duplicate field name {name!r}")
        fields += [c for c in CONTACT_FIELDS if c.name not in names]
        time_field = self.get(d, "time_field", "time_field", str)
        if time_field is not None:
            tf = next((f for f in fields if f.name == time_field), None)
            if tf is None or tf.type not in ("date", "datetime"):
                self.fail("time_field", "must name a date or datetime field of this layer")
        sens = self.get(d, "sensitivity", "sensitivity", dict, default={})
        for key in sens:
            if key not in ("precision_m", "exact_audiences"):
                self.fail(f"sensitivity.{key}", "unknown key (allowed: exact_audiences, precision_m)")
        precision = self.get(sens, "precision_m", "sensitivity.precision_m", float, default=0.0)
        if precision < 0:
            self.fail("sensitivity.precision_m", "must be >= 0 (0 means exact)")
        audiences = self.get(sens, "exact_audiences", "sensitivity.exact_audiences", list, default=[policy.ADMIN])
        if problem := policy.roles_problem(audiences):
            self.fail("sensitivity.exact_audiences", problem)
        style = self.get(d, "style", "style", dict, default={})
        color = self.get(style, "color", "style.color", str, default="#3388ff")
        if not COLOR_RE.match(color):
            self.fail("style.color", "must be a #rrggbb colour")
        scores = self.get(d, "scores", "scores", list, default=[])
        for m in scores:
            if m not in SCORE_METHODS:
                self.fail("scores", f"unknown score method {m!r} (methods: {', '.join(SCORE_METHODS)})")
        moderation = self.get(d, "moderation", "moderation", str, default=lifecycle.MODERATIONS[0])
        if moderation not in lifecycle.MODERATIONS:
            self.fail("moderation", f"must be one of {list(lifecycle.MODERATIONS)}")
        dup = self.get(d, "duplicates", "duplicates", dict, default={})
        for key in dup:
            if key not in ("distance_m", "days"):
                self.fail(f"duplicates.{key}", "unknown key (allowed: days, distance_m)")
        dup_distance = self.get(dup, "distance_m", "duplicates.distance_m", float, default=250.0)
        dup_days = self.get(dup, "days", "duplicates.days", int, default=30)
        if not 0 < dup_distance <= 10_000:
            self.fail("duplicates.distance_m", "must be > 0 and at most 10000")
        if not 0 < dup_days <= 365:
            self.fail("duplicates.days", "must be between 1 and 365")
        hotspots = self.hotspots(d, fields)
        for method in (["hotspots"] if hotspots else []) + scores:  # the fields each method reads
            for key, reason in score_methods.problems(method, fields, hotspots):
                self.fail(key, reason)
        return Layer(
            access=self.access(d, bool(scores) or "hotspots" in d),
            hotspots=hotspots,
            scores=tuple(scores),
            id=layer_id,
            title=self.get(d, "title", "title", str, required=True),
            description=self.get(d, "description", "description", str, default=""),
            geometry=geometry,
            fields=tuple(fields),
            precision_m=precision,
            exact_audiences=tuple(audiences),
            time_field=time_field,
            color=color,
            icon=self.get(style, "icon", "style.icon", str, default="info-sign"),
            source_file=self.file,
            moderation=moderation,
            duplicate_distance_m=dup_distance,
            duplicate_days=dup_days,
        )

    def access(self, d: dict, scored: bool) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The [access] table: for each permission the layer grants, the roles that hold it (admin holds all)."""
        table = self.get(d, "access", "access", dict, default={})
        out = []
        for key, roles in table.items():
            if key not in policy.ACCESS_KEYS:
                self.fail(f"access.{key}", f"unknown permission (allowed: {', '.join(policy.ACCESS_KEYS)})")
            if problem := policy.roles_problem(roles):
                self.fail(f"access.{key}", problem)
            if key == "run_scores" and not scored:
                self.fail("access.run_scores", "the layer declares no score (scores or [hotspots])")
            out.append((key, tuple(roles)))
        return tuple(out)

    def hotspots(self, d: dict, fields: list[Field]) -> HotspotSettings | None:
        h = self.get(d, "hotspots", "hotspots", dict)
        if h is None:
            return None
        for key in h:
            if key not in self.HOTSPOT_KEYS:
                self.fail(f"hotspots.{key}", f"unknown key (allowed: {', '.join(sorted(self.HOTSPOT_KEYS))})")
        names = {f.name: f for f in fields}
        k = self.get(h, "min_count", "hotspots.min_count", int, default=5)
        if k < 1:
            self.fail("hotspots.min_count", "must be >= 1")
        weight = self.get(h, "weight_field", "hotspots.weight_field", str)  # its field: see score_methods
        where = self.get(h, "where_field", "hotspots.where_field", str)
        values = self.get(h, "where_values", "hotspots.where_values", list, default=[])
        if where is not None and (not values or (where in names and set(values) - set(names[where].values))):
            self.fail("hotspots.where_field", "must name an enum field, with where_values among its values")
        size = self.get(h, "cell_size_m", "hotspots.cell_size_m", float)
        if size is not None and size <= 0:
            self.fail("hotspots.cell_size_m", "must be > 0")
        days = self.get(h, "window_days", "hotspots.window_days", int)
        return HotspotSettings(k, weight, size, days, where, tuple(values))

    def field(self, i: int, raw) -> Field:
        at = f"fields[{i}]"
        if not isinstance(raw, dict):
            self.fail(at, "must be a table")
        for key in raw:
            if key not in self.FIELD_KEYS:
                self.fail(f"{at}.{key}", f"unknown key (allowed: {', '.join(sorted(self.FIELD_KEYS))})")
        name = self.get(raw, "name", f"{at}.name", str, required=True)
        at = f"fields[{i}] ({name})"
        if not NAME_RE.match(name) or name in RESERVED:
            self.fail(f"{at}.name", f"must match [a-z][a-z0-9_]* and not be one of {sorted(RESERVED)}")
        ftype = self.get(raw, "type", f"{at}.type", str, required=True)
        if ftype not in FIELD_TYPES:
            self.fail(f"{at}.type", f"must be one of {sorted(FIELD_TYPES)}")
        values = self.get(raw, "values", f"{at}.values", list, default=[])
        if ftype == "enum":
            if not values or not all(isinstance(v, str) and v for v in values):
                self.fail(f"{at}.values", "an enum needs a non-empty list of non-empty strings")
            if len(set(values)) != len(values):
                self.fail(f"{at}.values", "values must be unique")
        elif values:
            self.fail(f"{at}.values", "only enum fields take values")
        multiple = self.get(raw, "multiple", f"{at}.multiple", bool, default=False)
        if multiple and ftype != "enum":
            self.fail(f"{at}.multiple", "only enum fields can be multiple")
        lo = self.get(raw, "min", f"{at}.min", float)
        hi = self.get(raw, "max", f"{at}.max", float)
        if (lo is not None or hi is not None) and ftype not in ("integer", "number"):
            self.fail(f"{at}.min", "min/max apply to integer and number fields only")
        if lo is not None and hi is not None and lo > hi:
            self.fail(f"{at}.min", f"min ({lo}) is greater than max ({hi})")
        max_length = self.get(raw, "max_length", f"{at}.max_length", int, default=2000)
        if max_length < 1:
            self.fail(f"{at}.max_length", "must be >= 1")
        return Field(
            name=name,
            type=ftype,
            label=self.get(raw, "label", f"{at}.label", str, default=name.replace("_", " ")),
            required=self.get(raw, "required", f"{at}.required", bool, default=False),
            public=self.get(raw, "public", f"{at}.public", bool, default=True),
            values=tuple(values),
            multiple=multiple,
            min=lo,
            max=hi,
            max_length=max_length,
            unit=self.get(raw, "unit", f"{at}.unit", str, default=""),
            help=self.get(raw, "help", f"{at}.help", str, default=""),
        )
