"""Folium map pages whose layers the browser reads from the feeds (``static/maps.js``), never inlined.

A page is a Folium map (base tiles, one FeatureGroup per collection in a grouped layer control, fullscreen,
locate-me, a scale) and a configuration of plain JSON for the client: per collection its feed, whether it is
read as counts per square at zooms where the view holds more than ``detail_limit`` reports, its popup's fields
and labels, its colours. Nothing of a citizen's input is in either: Folium (through branca) renders element
scripts as Jinja templates again, so the client fetches reports as JSON and shows their values as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import folium
import folium.plugins
from branca.element import MacroElement
from flask_babel import gettext as _
from folium.elements import JSCSSMixin
from folium.template import Template

from mapper.catalogs import layer_title, value_label
from mapper.domain.layers import Layer
from mapper.domain.lifecycle import STATUSES
from mapper.domain.privacy import View

DETAIL_LIMIT = 1000  # a viewport holding more reports than this shows counts per square instead
LIST_FIELD_TYPES = ("text", "enum")


@dataclass
class MapLayer:
    """One collection on a map page, seen through ``view``."""

    view: View
    group: str  # the layer control's group heading
    on: bool = True
    counts: bool = True  # read as counts per square when the viewport holds too many
    classes: dict | None = None  # {"field": name, "items": [{"value", "color", "label"}]}
    radius: int = 7
    detail_limit: int = DETAIL_LIMIT
    legend_note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def layer(self) -> Layer:
        return self.view.layer


def field_label(layer: Layer, name: str) -> str:
    f = layer.field(name)
    return _(f.label) if f is not None else _(value_label(name))


def client_spec(m: MapLayer) -> dict:
    """The JSON the browser gets for one collection (trusted text only: layer files, our own strings)."""
    layer, fields = m.layer, [f for f in m.view.fields]
    popup_fields = [f.name for f in fields] + ["status"]
    enum_labels = {f.name: {v: _(value_label(v)) for v in f.values} for f in fields if f.values}
    enum_labels["status"] = {s: _(value_label(s)) for s in STATUSES}
    filter_field = next((f for f in fields if f.type == "enum"), None)
    spec = {
        "id": layer.id,
        "title": layer_title(layer, _),
        "geometry": layer.geometry,
        "color": layer.color,
        "feed": f"/ogc/collections/{layer.id}/items",
        "counts": f"/api/maps/{layer.id}/counts" if m.counts and layer.geometry == "point" else "",
        "detailLimit": m.detail_limit,
        "popupFields": popup_fields,
        "popupLabels": [field_label(layer, n) for n in popup_fields],
        "enumLabels": enum_labels,
        "listFields": [f.name for f in fields if f.type in LIST_FIELD_TYPES] or ["status"],
        "timeField": layer.time_field or "",
        "timeFilter": bool(layer.time_field) and layer.table == "reports",
        "filterField": filter_field.name if filter_field is not None else "",
        "scoreUrl": f"/api/scores/{layer.id}/" if (layer.scores or layer.derived_from) else "",
        "classes": m.classes,
        "radius": m.radius,
    }
    spec.update(m.extra)
    return spec


def scores_shown(registry, layers: list[MapLayer]) -> list[tuple[Layer, str]]:
    """(report layer, method) of every score behind a page's collections — a derived collection's are its
    layer's — once each, in the page's order."""
    out: list[tuple[Layer, str]] = []
    for ml in layers:
        source = registry.get(ml.layer.derived_from) if ml.layer.derived_from else ml.layer
        out += [(source, m) for m in source.score_methods if (source, m) not in out]
    return out


def legend_entries(m: MapLayer) -> list[dict]:
    if m.classes:
        return [{"color": c["color"], "label": c["label"]} for c in m.classes["items"]]
    return [{"color": m.layer.color, "label": layer_title(m.layer, _)}]


def filter_choices(m: MapLayer, spec: dict) -> list[tuple[str, str]]:
    """The values (and their labels) of the field ``spec`` filters ``m`` by; none when it has no such field."""
    f = m.layer.field(spec["filterField"]) if spec["filterField"] else None
    return [(v, spec["enumLabels"][f.name][v]) for v in f.values] if f is not None else []


class ClientLayers(JSCSSMixin, MacroElement):
    """Hands the map and its feature groups (by collection id) to ``static/maps.js``; added last."""

    default_js = [("civic_maps", "/static/maps.js")]
    _template = Template(
        """
        {% macro script(this, kwargs) %}
        CivicMap.attach({{ this._parent.get_name() }}, {
        {%- for layer_id, group in this.groups %}
            {{ layer_id|tojson }}: {{ group.get_name() }},
        {%- endfor %}
        });
        {% endmacro %}
        """
    )

    def __init__(self, groups: list[tuple[str, folium.FeatureGroup]]):
        super().__init__()
        self._name = "ClientLayers"
        self.groups = groups


def build_map(tiles: dict, layers: list[MapLayer], bounds: list[float] | None = None) -> folium.Map:
    """The Folium map of ``layers`` at the city's centre, or fitted to ``bounds`` ([west, south, east, north]);
    its configuration for the client is ``client_config``."""
    m = folium.Map(location=tiles["center"], zoom_start=tiles["zoom"], tiles=None, control_scale=True)
    if bounds:
        west, south, east, north = bounds
        m.fit_bounds([[south, west], [north, east]], max_zoom=16)
    if tiles["url"]:
        folium.TileLayer(tiles=tiles["url"], attr=tiles["attribution"], name=_("Base map")).add_to(m)
    groups: dict[str, list] = {}
    pairs = []
    for ml in layers:
        group = folium.FeatureGroup(name=layer_title(ml.layer, _), show=ml.on).add_to(m)
        groups.setdefault(ml.group, []).append(group)
        pairs.append((ml.layer.id, group))
    folium.plugins.GroupedLayerControl(groups, exclusive_groups=False, collapsed=True).add_to(m)
    folium.plugins.Fullscreen(title=_("Full screen"), title_cancel=_("Leave full screen")).add_to(m)
    folium.plugins.LocateControl(strings={"title": _("Show where I am")}).add_to(m)
    ClientLayers(pairs).add_to(m)
    return m


def client_config(specs: list[dict], filters: dict | None = None) -> dict:
    """What static/maps.js reads: the collections' ``client_spec``, the filters the page opens with (``from``,
    ``to``: dates of the layers' time field) and the words it writes."""
    return {
        "layers": specs,
        "filters": filters or {},
        "strings": {
            "how": _("How is this computed?"),
            "yes": _("yes"),
            "no": _("no"),
            "noneInView": _("No reports in view. Zoom out or move the map."),
            "countTitle": _("%(n)s reports of %(layer)s here: zoom in"),
        },
    }


META_TAG = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)


def page_parts(m: folium.Map) -> dict:
    """Folium's output cut for the site's layout: head (its scripts and styles, without its meta tags: the
    layout has its own viewport, which lets people zoom), the map's element, and its script."""
    root = m.get_root()
    root.render()
    return {
        "head": META_TAG.sub("", root.header.render()),
        "body": root.html.render(),
        "script": root.script.render(),
    }
