"""The ``mapper`` command: database, server, imports, demo data, tokens, staff accounts."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from werkzeug.serving import WSGIRequestHandler

from mapper.config import ConfigurationError, database_url, load_settings
from mapper.domain.errors import LayerDefinitionError, MapperError
from mapper.domain.policy import ROLES


def _settings() -> dict:
    return load_settings()


def _cluster(settings: dict):
    from mapper.embedded_db import EmbeddedCluster

    return EmbeddedCluster(Path(settings["VAR_DIR"]))


def _app():
    from mapper import create_app

    try:
        return create_app()
    except LayerDefinitionError as e:
        raise click.ClickException(f"bad layer definition: {e}") from None
    except ConfigurationError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def main():
    """civic-mapper: crowdsourced civic reports on PostGIS."""


# --- database --------------------------------------------------------------------------------------------
@main.group()
def db():
    """The database: the embedded private cluster, or MAPPER_DATABASE_URL when set."""


def _external(settings: dict) -> bool:
    if settings.get("DATABASE_URL"):
        click.echo("MAPPER_DATABASE_URL is set: using that database; the embedded cluster is not used.")
        return True
    return False


@db.command()
def start():
    """Create (first time) and start the embedded PostGIS cluster."""
    from mapper.embedded_db import EmbeddedDbError

    settings = _settings()
    if _external(settings):
        return
    try:
        _cluster(settings).start()
    except EmbeddedDbError as e:
        raise click.ClickException(str(e)) from None
    click.echo(_cluster(settings).status())


@db.command()
def stop():
    """Stop the embedded cluster."""
    settings = _settings()
    if not _external(settings):
        click.echo("stopped" if _cluster(settings).stop() else "not running")


@db.command()
def status():
    """Say whether the embedded cluster is running, and where."""
    settings = _settings()
    if not _external(settings):
        click.echo(_cluster(settings).status())


@db.command()
def url():
    """Print the SQLAlchemy URL in use."""
    from mapper.embedded_db import EmbeddedDbError

    try:
        click.echo(database_url(_settings()))
    except EmbeddedDbError as e:
        raise click.ClickException(str(e)) from None


@db.command()
@click.argument("revision", default="head")
def upgrade(revision):
    """Run migrations up to REVISION (default head); at head, also re-generalise the public locations of
    layers whose declared precision changed."""
    from mapper import db as database
    from mapper.services import public_locations

    database.upgrade(database_url(_settings()), revision)
    click.echo(f"database at {revision}")
    if revision == "head":
        app = _app()
        registry = app.extensions["mapper.registry"]
        for layer_id, rows in public_locations.sync(app.extensions["mapper.engine"], registry).items():
            if rows:
                click.echo(
                    f"{layer_id}: public locations generalised to {registry.get(layer_id).precision_m:g} m "
                    f"({rows} reports updated)"
                )


@db.command()
@click.argument("revision", default="base")
def downgrade(revision):
    """Run migrations down to REVISION (default base: drops every table)."""
    from mapper import db as database

    database.downgrade(database_url(_settings()), revision)
    click.echo(f"database at {revision}")


# --- server ----------------------------------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host, port):
    """Serve the platform (development server; production: granian --interface wsgi --factory mapper:create_app)."""
    app = _app()
    click.echo(f"civic-mapper on http://{host}:{port}/  (map: /map, report form: /report)")
    app.run(host=host, port=port, threaded=True, request_handler=QuietRequestHandler)


# --- data ------------------------------------------------------------------------------------------------
class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler without its ``Server: Werkzeug/… Python/…`` version banner."""

    def version_string(self) -> str:
        return "civic-mapper"


@main.command("import")
@click.argument("layer")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--crs", help="CRS of the file's coordinates (overrides the file's own), e.g. EPSG:32721")
@click.option("--skip-invalid", is_flag=True, help="Load the valid rows and list the rejected ones.")
@click.option(
    "--unpublished",
    is_flag=True,
    help='Leave the reports for moderators to verify (layers with moderation = "before"); default: published.',
)
def import_cmd(layer, file, crs, skip_invalid, unpublished):
    """Import reports from a CSV (lon/lat or WKT), GeoJSON, GeoPackage or zipped Shapefile FILE into LAYER."""
    from tqdm import tqdm

    from mapper.services.importer import import_file

    app = _app()
    bar = tqdm(total=0, unit="rows", desc="loading", file=sys.stderr, disable=None)

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    try:
        result = import_file(
            app.extensions["mapper.engine"],
            app.extensions["mapper.registry"],
            layer,
            file,
            crs=crs,
            skip_invalid=skip_invalid,
            max_vertices=int(app.config["MAX_VERTICES"]),
            progress=progress,
            publish=not unpublished,
        )
    except MapperError as e:
        bar.close()
        click.echo(f"error: {e.detail}", err=True)
        for p in e.problems:
            click.echo(f"  {p}", err=True)
        sys.exit(1)
    bar.close()
    for p in result.problems:
        click.echo(f"  skipped: {p}", err=True)
    click.echo(
        f"imported {result.rows} rows into {layer} (skipped {result.skipped}) in {result.seconds:.2f} s: "
        f"{result.rows_per_second:,.0f} rows/s"
    )
    _rescore(app, layer)


@main.command("export")
@click.argument("layer")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--bbox", help="minLon,minLat,maxLon,maxLat (WGS 84)")
@click.option("--datetime", "datetime_", help="an instant or an interval a/b ('..' for open ends)")
@click.option("--filter", "filter_", help="a CQL2 text filter on the layer's public fields")
@click.option("--aoi", type=click.Path(exists=True, dir_okay=False), help="a GeoJSON file with the area of interest")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    help="export as this staff role sees the layer (default: the public view)",
)
def export_cmd(layer, file, bbox, datetime_, filter_, aoi, role):
    """Export LAYER to FILE (.geojson, .csv, .gpkg or .shp.zip) with the feeds' filters."""
    from mapper.domain.privacy import view_for
    from mapper.services import exports, feeds

    app = _app()
    found = app.extensions["mapper.registry"].get(layer)
    if found is None:
        raise click.ClickException(f"no layer {layer!r}")
    args = {k: v for k, v in {"bbox": bbox, "datetime": datetime_, "filter": filter_}.items() if v}
    try:
        q = feeds.parse_query(view_for(found, role), args, limit_default=None)
        if aoi:
            q.filters.append(exports.aoi_filter(Path(aoi).read_text()))
            args["aoi"] = aoi
        n = exports.export_to_file(app.extensions["mapper.engine"], q, exports.format_of(file), Path(file), args)
    except MapperError as e:
        raise click.ClickException(f"{e.detail} " + "; ".join(str(p) for p in e.problems)) from None
    click.echo(f"exported {layer} to {file}" + (f" ({n} features)" if n is not None else ""))


@main.command()
@click.option("--reset", is_flag=True, help="Replace the demo data if it is already loaded.")
def demo(reset):
    """Load demo reports for every layer (a small city: Columbus, Ohio, from libpysal)."""
    app = _app()
    from mapper.services.demo import load_demo

    loaded = load_demo(app.extensions["mapper.engine"], app.extensions["mapper.registry"], reset=reset)
    if not loaded:
        click.echo("demo data already loaded (use --reset to reload)")
    for layer, n in loaded.items():
        click.echo(f"{layer}: {n} reports")
    for layer in loaded:
        _rescore(app, layer)


@main.command()
@click.argument("layers", nargs=-1)
@click.option("--window-days", type=click.IntRange(min=1), help="Hot spots: only reports observed in the last N days.")
@click.option(
    "--where",
    "where",
    help="Hot spots: only reports whose enum FIELD takes one of the values, e.g. category=theft,burglary",
)
@click.option("--weight", help="Hot spots: weight each report by this numeric field (default: the layer's).")
@click.option(
    "--cell-size",
    type=click.FloatRange(min=0, min_open=True),
    help="Hot spots: hexagon edge in metres (default: chosen from the data).",
)
@click.option("--scale", help="Hot spots: 'band:METRES' or 'knn:K' instead of the automatic choice.")
def score(layers, window_days, where, weight, cell_size, scale):
    """Recompute the scores of LAYERS (default: every layer that declares scores or hot spots)."""
    import dataclasses

    from mapper.domain import score_methods
    from mapper.domain.layers import HotspotSettings
    from mapper.services.scoring import ScoreRefused, run_hotspots, score_all

    app = _app()
    registry = app.extensions["mapper.registry"]
    unknown = [lid for lid in layers if registry.report_layer(lid) is None]
    if unknown:
        raise click.ClickException(f"unknown layer(s): {', '.join(unknown)}")
    if any(v is not None for v in (window_days, where, weight, cell_size, scale)):
        if len(layers) != 1:
            raise click.ClickException("hot spot options apply to one layer: name it")
        layer = registry.report_layer(layers[0])
        settings = layer.hotspots or HotspotSettings()
        changes = {k: v for k, v in {"window_days": window_days, "weight_field": weight}.items() if v is not None}
        if where:
            field, _, values = where.partition("=")
            changes.update(where_field=field, where_values=tuple(values.split(",")) if values else ())
        settings = dataclasses.replace(settings, **changes)
        options = {"hotspots.weight_field": "--weight", "hotspots.where_field": "--where"}
        if found := score_methods.problems("hotspots", layer.fields, settings):  # what the layer loader checks
            key, reason = found[0]
            raise click.ClickException(f"{options.get(key, key)} ({layer.id}): {reason}")
        if where and (not settings.where_values or set(settings.where_values) - set(layer.field(field).values)):
            raise click.ClickException(f"--where needs an enum field of {layer.id} and some of its values")
        chosen = None
        if scale:
            kind, _, value = scale.partition(":")
            if not (kind == "band" and value.replace(".", "", 1).isdigit() or kind == "knn" and value.isdigit()):
                raise click.ClickException("--scale is band:METRES or knn:K (K a whole number)")
            chosen = ("distance band", float(value)) if kind == "band" else ("k nearest neighbours", int(value))
        try:
            s = run_hotspots(
                app.extensions["mapper.engine"],
                layer,
                settings,
                cell_size_m=cell_size,
                scale=chosen,
            )
        except ScoreRefused as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"{s.layer} {s.method}: {s.detail} (run {s.run_id})")
        return
    for s in score_all(app.extensions["mapper.engine"], registry, list(layers) or None):
        click.echo(f"{s.layer} {s.method}: {s.detail}" + (f" (run {s.run_id})" if s.run_id else ""))


@main.command()
@click.option("--once", is_flag=True, help="Run one pass and exit (tests, cron).")
def worker(once):
    """Keep area and hot spot scores current: recompute them when their layer's data changed, at most every
    SCORE_REFRESH_S seconds per layer (several workers may run; a lock per layer makes one do each run); and send
    the e-mail queue's due messages when SMTP_URL is set."""
    from mapper.services.worker import Worker, mail_line, stop_on_signals

    app = _app()
    engine, registry = app.extensions["mapper.engine"], app.extensions["mapper.registry"]
    w = Worker(engine, registry, float(app.config["SCORE_REFRESH_S"]), outbox=_outbox(app))
    if once:
        for s in w.run_once():
            click.echo(f"{s.layer} {s.method}: {s.detail}" + (f" (run {s.run_id})" if s.run_id else ""))
        mail = w.send_mail()
        if mail is not None:
            click.echo(mail_line(mail))
        return
    stop = stop_on_signals()
    mail = f"e-mail through {w.outbox.server.host}:{w.outbox.server.port}" if w.outbox else "no e-mail (SMTP_URL unset)"
    click.echo(
        f"scores worker: every {app.config['WORKER_POLL_S']} s, each layer at most every "
        f"{app.config['SCORE_REFRESH_S']} s; {mail}"
    )
    w.run_forever(float(app.config["WORKER_POLL_S"]), stop, report=lambda line: click.echo(line))
    click.echo("scores worker stopped")


def _outbox(app):
    from mapper.services.notifications import Outbox

    return Outbox.from_settings(app.extensions["mapper.engine"], app.extensions["mapper.registry"], app.config)


@main.group()
def mail():
    """E-mail to reporters (SMTP_URL): the queue the worker sends."""


@mail.command("send")
def mail_send():
    """Send the queue's due messages once; print how many were sent, failed (retried later) and are waiting."""
    from mapper.services.worker import mail_line

    outbox = _outbox(_app())
    if outbox is None:
        raise click.ClickException('SMTP_URL is not set (""): no e-mail is sent.')
    click.echo(mail_line(outbox.send_due()))


def _rescore(app, layer_id: str) -> None:
    """Recompute a layer's scores after its data changed (imports, demo data)."""
    from mapper.services.scoring import score_layer

    layer = app.extensions["mapper.registry"].report_layer(layer_id)
    for s in score_layer(app.extensions["mapper.engine"], layer):
        click.echo(f"{s.layer} {s.method}: {s.detail}")


@main.group()
def gtfs():
    """GTFS feeds: import (validated, atomic), list."""


@gtfs.command("import")
@click.argument("feed", type=click.Path(dir_okay=False))
@click.option("--name", help="Feed name (default: the file name); re-importing a name replaces that feed.")
@click.option(
    "--date",
    "service_date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Service date for the statistics (default: the busiest date of the feed's first week).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the validation report as JSON.")
def gtfs_import(feed, name, service_date, as_json):
    """Validate and import a GTFS zip, then publish transit_stops and transit_routes."""
    import json

    from mapper.services.gtfs_import import GtfsInvalid, import_feed

    app = _app()
    try:
        report = import_feed(
            app.extensions["mapper.engine"], feed, name, service_date=service_date.date() if service_date else None
        )
    except GtfsInvalid as e:
        click.echo(json.dumps(e.report.as_json(), default=str, indent=1) if as_json else e.report.text(), err=True)
        sys.exit(1)
    except MapperError as e:
        raise click.ClickException(f"{e.detail} " + "; ".join(str(p) for p in e.problems)) from None
    click.echo(json.dumps(report.as_json(), default=str, indent=1) if as_json else report.text())
    for layer in app.extensions["mapper.registry"]:
        if "transit_access" in layer.scores:
            _rescore(app, layer.id)


@gtfs.command("list")
def gtfs_list():
    """The imported feeds."""
    from mapper.services.gtfs_import import feeds

    for f in feeds(_app().extensions["mapper.engine"]):
        click.echo(f"{f['name']:24} service date {f['service_date']}  {f['counts']}  warnings: {len(f['warnings'])}")


@main.group()
def token():
    """Staff API tokens."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", default="", help="Who or what the token is for.")
def token_create(role, name):
    """Issue an API token for ROLE (printed once; only its hash is stored)."""
    from mapper.services.tokens import create_api_token

    app = _app()
    click.echo(create_api_token(app.extensions["mapper.engine"], role, name or role))


# --- staff accounts ----------------------------------------------------------------------------------------
@main.group()
def user():
    """Staff accounts for the browser sign-in (/staff/login)."""


def _mapper_error(e: MapperError) -> click.ClickException:
    return click.ClickException(" ".join([e.detail, *(str(p) for p in e.problems)]))


@user.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, help=f"One of {', '.join(ROLES)}.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (one line).")
def user_create(email, role, password_stdin):
    """Create a staff account (the password is asked for, or read from stdin)."""
    from mapper.services.staff import create_user

    if role not in ROLES:  # before asking for a password
        raise click.ClickException(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    app = _app()
    try:
        create_user(app.extensions["mapper.engine"], email, role, password)
    except MapperError as e:
        raise _mapper_error(e) from None
    click.echo(f"created {email} ({role})")


@user.command("list")
def user_list():
    """List the staff accounts."""
    from mapper.services.staff import list_users

    for u in list_users(_app().extensions["mapper.engine"]):
        state = f"disabled {u['disabled_at']:%Y-%m-%d %H:%M}" if u["disabled_at"] else "active"
        last = f"{u['last_login_at']:%Y-%m-%d %H:%M}" if u["last_login_at"] else "never"
        click.echo(f"{u['email']:32} {u['role']:10} {state:24} last sign-in: {last}")


@user.command("disable")
@click.argument("email")
def user_disable(email):
    """Disable a staff account: it can no longer sign in, and its open sessions stop working."""
    from mapper.services.staff import disable_user

    try:
        done = disable_user(_app().extensions["mapper.engine"], email)
    except MapperError as e:
        raise _mapper_error(e) from None
    click.echo(f"disabled {email}" if done else f"{email} was already disabled")


# --- the access log ----------------------------------------------------------------------------------------------
@main.command()
@click.option("--since", help="From this day on (YYYY-MM-DD, UTC).")
@click.option("--until", help="Up to this day, included (YYYY-MM-DD, UTC).")
@click.option("--actor", help="user:N, token:…, or a staff member's e-mail.")
@click.option("--report", help="One report's id.")
@click.option("--layer", help="One layer's id.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit(since, until, actor, report, layer, limit, as_json):
    """Who saw reporters' contact details and exact sensitive locations, newest first (the access log)."""
    import json

    from mapper.services import access_log

    args = {"since": since, "until": until, "actor": actor, "report": report, "layer": layer}
    try:
        rows, more = access_log.read_log(_app().extensions["mapper.engine"], access_log.parse_filter(args), size=limit)
    except MapperError as e:
        raise _mapper_error(e) from None
    for r in rows:
        if as_json:
            click.echo(json.dumps({**r, "at": r["at"].isoformat()}))
        else:
            who = f"{r['actor']} ({r['email']})" if r["email"] else r["actor"]
            report_id = r["report_id"] if r["report_id"] is not None else "many"
            click.echo(f"{r['at']:%Y-%m-%d %H:%M:%S%z}  {who}  {r['actor_role'] or '-'}  {r['layer']}  "
                       f"report {report_id}  {r['what']}  {r['route']}")  # fmt: skip
    if more and not as_json:
        click.echo(f"(only the newest {limit}: narrow the filter or raise --limit)", err=True)


@main.command()
def layers():
    """Check and list the layer definitions."""
    from mapper.domain.layers import load_registry

    try:
        registry = load_registry(_settings()["LAYERS_DIR"])
    except LayerDefinitionError as e:
        raise click.ClickException(f"bad layer definition: {e}") from None
    for layer in registry:
        click.echo(f"{layer.id:16} {layer.geometry:8} {len(layer.fields):3} fields  {layer.title}")


if __name__ == "__main__":
    main()
