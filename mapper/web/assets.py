"""Map assets served by the app itself (installed from the npm registry into ``node_modules/``), and
Folium re-pointed at them: no page depends on a CDN."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import folium
import folium.plugins
from flask import Blueprint, Flask, abort, send_from_directory

from mapper.config import PROJECT_ROOT
from mapper.web import access

NODE_MODULES = PROJECT_ROOT / "node_modules"
STATIC = Path(__file__).resolve().parent.parent / "static"
# Only these package folders are served.
SERVED = (
    "leaflet/dist/",
    "jquery/dist/",
    "bootstrap/dist/",
    "@fortawesome/fontawesome-free/css/",
    "@fortawesome/fontawesome-free/webfonts/",
    "leaflet.awesome-markers/dist/",
    "leaflet.markercluster/dist/",
    "leaflet.fullscreen/",
    "leaflet.locatecontrol/dist/",
    "leaflet.heat/dist/",
    "leaflet-groupedlayercontrol/dist/",
)
V = "/vendor/"
FOLIUM_JS = [
    ("leaflet", V + "leaflet/dist/leaflet.js"),
    ("jquery", V + "jquery/dist/jquery.min.js"),
    ("bootstrap", V + "bootstrap/dist/js/bootstrap.bundle.min.js"),
    ("awesome_markers", V + "leaflet.awesome-markers/dist/leaflet.awesome-markers.js"),
]
# Folium's Bootstrap-3 glyphicons stylesheet has no npm package; maps use Font Awesome icons instead.
FOLIUM_CSS = [
    ("leaflet_css", V + "leaflet/dist/leaflet.css"),
    ("bootstrap_css", V + "bootstrap/dist/css/bootstrap.min.css"),
    ("awesome_markers_font_css", V + "@fortawesome/fontawesome-free/css/all.min.css"),
    ("awesome_markers_css", V + "leaflet.awesome-markers/dist/leaflet.awesome-markers.css"),
    ("awesome_rotate_css", "/static/leaflet.awesome.rotate.css"),
]
MARKERCLUSTER_JS = [("markerclusterjs", V + "leaflet.markercluster/dist/leaflet.markercluster.js")]
MARKERCLUSTER_CSS = [
    ("markerclustercss", V + "leaflet.markercluster/dist/MarkerCluster.css"),
    ("markerclusterdefaultcss", V + "leaflet.markercluster/dist/MarkerCluster.Default.css"),
]

FULLSCREEN_JS = [("Control.Fullscreen.js", V + "leaflet.fullscreen/Control.FullScreen.js")]
FULLSCREEN_CSS = [("Control.FullScreen.css", V + "leaflet.fullscreen/Control.FullScreen.css")]
LOCATE_JS = [("Control_locate_min_js", V + "leaflet.locatecontrol/dist/L.Control.Locate.min.js")]
LOCATE_CSS = [("Control_locate_min_css", V + "leaflet.locatecontrol/dist/L.Control.Locate.min.css")]
GROUPED_JS = [
    ("leaflet.groupedlayercontrol.min.js", V + "leaflet-groupedlayercontrol/dist/leaflet.groupedlayercontrol.min.js")
]
GROUPED_CSS = [
    ("leaflet.groupedlayercontrol.min.css", V + "leaflet-groupedlayercontrol/dist/leaflet.groupedlayercontrol.min.css")
]
HEAT_JS = [("leaflet-heat.js", V + "leaflet.heat/dist/leaflet-heat.js")]
PLUGIN_ASSETS = {
    "MarkerCluster": (MARKERCLUSTER_JS, MARKERCLUSTER_CSS),
    "FastMarkerCluster": (MARKERCLUSTER_JS, MARKERCLUSTER_CSS),
    "Fullscreen": (FULLSCREEN_JS, FULLSCREEN_CSS),
    "LocateControl": (LOCATE_JS, LOCATE_CSS),
    "HeatMap": (HEAT_JS, []),
    "GroupedLayerControl": (GROUPED_JS, GROUPED_CSS),
}

bp = Blueprint("assets", __name__)


def use_local_assets() -> None:
    """Point Folium's default JS/CSS (and the plugins we use) at the app's own copies."""
    folium.Map.default_js = list(FOLIUM_JS)
    folium.Map.default_css = list(FOLIUM_CSS)
    for name, (js, css) in PLUGIN_ASSETS.items():
        plugin = getattr(folium.plugins, name)
        plugin.default_js, plugin.default_css = list(js), list(css)


def missing_assets() -> list[str]:
    """Asset files the pages reference that are not installed (run ``npm ci``)."""
    assets = FOLIUM_JS + FOLIUM_CSS + [a for js, css in PLUGIN_ASSETS.values() for a in js + css]
    paths = [url[len(V) :] for _, url in assets if url.startswith(V)]
    return [p for p in paths if not (NODE_MODULES / p).exists()]


@cache
def asset_version() -> str:
    """A digest of the assets this process serves (``mapper/static`` and the vendor packages' versions): it
    changes with a deploy that changes any of them, which names the report form's offline cache (``sw.js``)."""
    digest = hashlib.sha256()
    packages = {"/".join(p.split("/")[: 2 if p.startswith("@") else 1]) for p in SERVED}  # "@scope/name" or "name"
    manifests = sorted(NODE_MODULES / name / "package.json" for name in packages)
    for path in sorted(p for p in STATIC.rglob("*") if p.is_file()) + manifests:
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@bp.get("/vendor/<path:path>")
@access.public
def vendor(path: str):
    """A file from an allow-listed npm package folder, cached for a day."""
    if not path.startswith(SERVED) or ".." in Path(path).parts:
        abort(404)
    return send_from_directory(NODE_MODULES, path, max_age=86400)


def init_app(app: Flask) -> None:
    use_local_assets()
    app.jinja_env.globals["asset_version"] = asset_version
    app.register_blueprint(bp)
