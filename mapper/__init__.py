"""civic-mapper: a PostGIS-backed Flask platform for crowdsourced, geolocated civic reports."""

from __future__ import annotations

import gc

from flask import Flask
from werkzeug.routing import IntegerConverter

from mapper.config import database_url, load_settings, secret_key, smtp_server
from mapper.domain.layers import load_registry


class AsciiIntegerConverter(IntegerConverter):
    """``<int:…>`` of ASCII digits only, at most 18 (so a PostgreSQL bigint): werkzeug's own matches ``\\d``,
    any script's digits (``/items/٣``), and ``int()`` takes them."""

    regex = r"[0-9]{1,18}"


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory: settings (config.toml < MAPPER_* env < test_config), layers, database, blueprints."""
    app = Flask(__name__)
    app.url_map.converters["int"] = AsciiIntegerConverter  # before any route is added: every <int:…> uses it
    settings = load_settings(test_config)
    app.config.update(settings)
    app.config["SECRET_KEY"] = secret_key(settings)
    smtp_server(settings)  # a bad SMTP_URL (or one without PUBLIC_URL) stops start-up
    app.extensions["mapper.registry"] = load_registry(settings["LAYERS_DIR"])

    from mapper import db
    from mapper.web import (
        access,
        assets,
        atom,
        audit,
        bodies,
        csrf,
        exports,
        fast_items,
        gtfs,
        i18n,
        intake_api,
        maps,
        ogc,
        openapi,
        pages,
        photos,
        problems,
        rate_limits,
        scores,
        security,
        sessions,
        signin,
        staff_queue,
        tiles,
    )

    db.init_app(app, database_url(settings))
    app.session_interface = sessions.CookieSessions()
    problems.init_app(app)
    security.init_app(app)
    bodies.init_app(app)  # every body is bounded by MAX_BODY_BYTES unless its route raises that for itself
    assets.init_app(app)
    i18n.init_app(app)  # the interface language of HTML pages (Flask-Babel)
    app.register_blueprint(intake_api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(maps.bp)
    for blueprint in (ogc.bp, tiles.bp, exports.bp, openapi.bp, scores.bp, gtfs.bp, photos.bp, audit.bp, atom.bp):
        app.register_blueprint(blueprint)
    signin.init_app(app)  # staff sign-in: Flask-Login, the session cookie's flags, /staff…
    app.register_blueprint(staff_queue.bp)  # /staff/queue, /staff/reports/{id}
    csrf.init_app(app)  # every unsafe request needs the session's CSRF token, but the JSON API's (web.csrf.EXEMPT)
    access.init_app(app)  # every route declares who may call it; credentialed responses stay private
    rate_limits.init_app(app)  # after the blueprints (it attaches the limits to their views), before middleware
    app.wsgi_app = app.extensions["mapper.fast_items"] = fast_items.FastItems(app)  # in front of Flask
    security.wrap(app)  # outermost: the host links are built for (PUBLIC_URL, TRUSTED_HOSTS)
    # Everything loaded so far (libraries, layers) lives as long as the process: moved out of the cyclic
    # collector's sight, it is not re-scanned by every full collection (~100 ms each, every ~1,000 requests).
    gc.freeze()
    return app
