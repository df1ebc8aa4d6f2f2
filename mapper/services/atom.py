"""Atom subscription feeds (feedgen): a layer's newest public reports, new or updated, through the public view
(optionally within bounding boxes), and one report's public updates for the holder of its tracking token.

Everything comes from what the public may see: the layer's public fields and published (generalised) location
(``privacy.view_for(layer, None)`` and ``store.features.where_for``, the feeds' own rule), the report's status
and public comments (``services.tracking.report_status``); never private fields, internal notes or who acted.
Citizens' text goes in as text elements, escaped by feedgen's XML writer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator
from flask_babel import gettext as _

from mapper import catalogs, db
from mapper.domain.layers import Layer
from mapper.domain.privacy import View, view_for
from mapper.store import features as store

FEED_SIZE = 50
ATOM = "application/atom+xml; charset=utf-8"
TAG_DATE = "2026"  # the tag URIs' date: fixed, so every id stays the same for ever


@dataclass(frozen=True)
class Links:
    """Where a feed lives: the host its tag URIs are minted under, its own URL, the page it stands for, and
    the public item URL of a report (``{id}`` replaced)."""

    authority: str
    self_url: str
    alternate_url: str
    item_url: str = ""

    def tag(self, specific: str) -> str:
        """A tag URI (RFC 4151) under this host: stable whatever the feed's query or language."""
        return f"tag:{self.authority},{TAG_DATE}:{specific}"


def public_view(layer: Layer) -> View:
    return view_for(layer, None)


def newest_reports(engine, view: View, bboxes=(), limit: int = FEED_SIZE) -> list[dict]:
    """The ``limit`` reports of ``view`` updated last (within ``bboxes``), newest first."""
    statement, params = store.newest_sql(view, store.where_for(view, bboxes=bboxes), limit)
    with db.cursor(engine) as cur:
        cur.execute(statement, params)
        rows = cur.fetchall()
    return [
        {"id": i, "created_at": c, "updated_at": u, "lat": lat, "lon": lon, "feature": json.loads(text)}
        for i, c, u, lat, lon, text in rows
    ]


def _value_text(value) -> str:
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def _label(view: View, name: str, value) -> str:
    f = view.layer.field(name)
    if f is not None and f.values:  # an enum: its displayed label, never the raw text of a citizen
        return ", ".join(_(catalogs.value_label(v)) for v in (value if isinstance(value, list) else [value]))
    return _value_text(value)


def entry_title(view: View, properties: dict) -> str:
    """The layer's title and the label of the report's category (its first enum field), when it has one."""
    title = catalogs.layer_title(view.layer, _)
    category = next((f for f in view.fields if f.type == "enum" and properties.get(f.name) not in (None, [])), None)
    return f"{title}: {_label(view, category.name, properties[category.name])}" if category else title


def entry_summary(view: View, properties: dict) -> str:
    """Plain text: the report's status and each public field that has a value, with its label."""
    lines = [f"{_('Status')}: {_(catalogs.value_label(properties['status']))}"]
    for f in view.fields:
        value = properties.get(f.name)
        if value not in (None, "", []):
            lines.append(f"{_(f.label)}: {_label(view, f.name, value)}")
    return "\n".join(lines)


def _feed(links: Links, feed_id: str, title: str, subtitle: str, updated: datetime) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("geo")
    fg.id(links.tag(feed_id))
    fg.title(title)
    fg.subtitle(subtitle)
    fg.author({"name": "civic-mapper"})
    fg.link(href=links.self_url, rel="self", type="application/atom+xml")
    fg.link(href=links.alternate_url, rel="alternate", type="text/html")
    fg.updated(updated)
    fg.generator("civic-mapper")
    return fg


def layer_feed(engine, layer: Layer, links: Links, *, bboxes=(), bbox_text: str = "", changed_at=None) -> bytes:
    """The Atom document of ``layer``'s newest public reports (within ``bboxes``, described by ``bbox_text``)."""
    view = public_view(layer)
    rows = newest_reports(engine, view, bboxes)
    updated = max((r["updated_at"] for r in rows), default=changed_at or datetime(2026, 1, 1, tzinfo=UTC))
    fg = _feed(
        links,
        f"feeds/{layer.id}" + (f"?bbox={bbox_text}" if bbox_text else ""),
        catalogs.layer_title(layer, _),
        _("New and updated public reports") + (f" ({bbox_text})" if bbox_text else ""),
        updated,
    )
    for r in reversed(rows):  # feedgen puts each new entry first: add the oldest first
        props = r["feature"]["properties"]
        fe = fg.add_entry()
        fe.id(links.tag(f"reports/{r['id']}"))
        fe.title(entry_title(view, props))
        fe.updated(r["updated_at"])
        fe.published(r["created_at"])
        fe.link(href=links.item_url.format(id=r["id"]), rel="alternate")
        fe.summary(entry_summary(view, props), type="text")
        fe.category(term=props["status"], label=_(catalogs.value_label(props["status"])))
        if r["lat"] is not None:
            fe.geo.point(f"{r['lat']} {r['lon']}")
    return fg.atom_str(pretty=False)


def report_feed(doc: dict, layer: Layer, links: Links) -> bytes:
    """The Atom document of one report's public updates (``services.tracking.report_status``'s document): an
    entry per status it took, with its public comment and date."""
    title = _("Your report %(number)s", number=doc["id"])
    fg = _feed(
        links,
        f"reports/{doc['id']}/updates",
        f"{title} — {catalogs.layer_title(layer, _)}",
        _("The status of your report and its public comments"),
        datetime.fromisoformat(doc["updated_at"]),
    )
    for n, h in enumerate(doc["history"]):
        status = _(catalogs.value_label(h["status"]))
        fe = fg.add_entry()  # each goes first: the newest ends on top
        fe.id(links.tag(f"reports/{doc['id']}/updates/{n}"))
        fe.title(f"{_('Status')}: {status}")
        fe.updated(datetime.fromisoformat(h["at"]))
        fe.link(href=links.alternate_url, rel="alternate", type="text/html")
        fe.summary(h["note"] or status, type="text")
    return fg.atom_str(pretty=False)
