"""Map elements for citizens' input: layers the browser reads from a feed, popups that show it as text.

Folium renders every element's script as a Jinja template once more (branca's ``Element``), so citizens'
input must never be put into one: ``FeedLayer`` has the browser fetch it as JSON instead.

Folium's ``GeoJsonPopup`` joins property values into ``innerHTML``, so a report whose text is
``<img src=x onerror=…>`` would run in every visitor's browser. This popup writes each value with
``textContent`` and builds the "how is this computed" link itself, from the feature's id.
"""

from __future__ import annotations

from branca.element import MacroElement
from folium.template import Template


class TextPopup(MacroElement):
    """A popup for a GeoJson layer: one row per field (label, value as text), and optionally a link to
    ``score_url`` + the feature's id."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.bindPopup(function (layer) {
            const feature = layer.feature, props = feature.properties || {};
            const fields = {{ this.fields|tojson }}, labels = {{ this.labels|tojson }};
            const box = document.createElement("div"), table = document.createElement("table");
            box.className = "report-popup";
            fields.forEach(function (name, i) {
                const value = props[name];
                if (value === null || value === undefined || value === "") return;
                const row = table.insertRow(), th = document.createElement("th"), td = row.insertCell();
                th.scope = "row";
                th.textContent = labels[i];
                row.insertBefore(th, td);
                td.textContent = Array.isArray(value) ? value.join(", ")
                    : (typeof value === "object" ? JSON.stringify(value) : String(value));
            });
            box.appendChild(table);
            {% if this.score_url %}
            if (Number.isInteger(feature.id)) {
                const link = document.createElement("a");
                link.href = {{ this.score_url|tojson }} + encodeURIComponent(feature.id);
                link.textContent = {{ this.score_label|tojson }};
                box.appendChild(link);
            }
            {% endif %}
            return box;
        }, {maxWidth: 320});
        {% endmacro %}
        """
    )

    def __init__(
        self, fields: list[str], labels: list[str], score_url: str = "", score_label: str = "How is this computed?"
    ):
        super().__init__()
        self._name = "TextPopup"
        self.fields, self.labels = list(fields), list(labels)
        self.score_url, self.score_label = score_url, score_label


class FeedLayer(MacroElement):
    """A GeoJSON layer filled by the browser from a same-origin feed URL (``application/geo+json``)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJSON(null, {
            pointToLayer: (feature, latlng) => L.circleMarker(latlng, {{ this.marker|tojson }}),
            style: () => ({{ this.style|tojson }}),
        }).addTo({{ this._parent.get_name() }});
        fetch({{ this.url|tojson }}, {headers: {Accept: "application/geo+json"}})
            .then(response => response.ok ? response.json() : Promise.reject(response.status))
            .then(collection => {{ this.get_name() }}.addData(collection));
        {% endmacro %}
        """
    )

    def __init__(self, url: str, color: str):
        super().__init__()
        self._name = "FeedLayer"
        self.url = url
        self.style = {"color": color, "fillColor": color, "weight": 1, "fillOpacity": 0.5}
        self.marker = {"radius": 6, **self.style, "fillOpacity": 0.8}
