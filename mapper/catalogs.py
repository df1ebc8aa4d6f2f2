"""The gettext catalogs behind the interface languages (no Flask): Babel extractors for the strings that are not
literals in templates or Python — layer files' titles, descriptions, labels, help texts and enum value labels
(``extract_layers``, for ``layers/*.toml``), and the messages other modules produce that HTML pages show
(``extract_shown_messages``) — and ``compiled``, which builds missing or stale ``.mo`` files from the ``.po``
catalogs so a clean checkout (or an installed package) works without a build step. ``babel.cfg`` maps files to
extractors; ``scripts/catalogs.sh`` extracts ``messages.pot`` and updates every catalog.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DIRECTORY = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"

Message = tuple[int, str | None, str, list[str]]  # what a Babel extractor yields: line, function, msgid, comments


def value_label(value: str) -> str:
    """An enum value as people read it, and the msgid of its label: ``vehicle_crime`` → ``vehicle crime``.
    The value sent to the API stays the value; only this label is translated."""
    return value.replace("_", " ")


DERIVED_TITLE = "%(layer)s: %(what)s"  # a derived collection's title: its layer's, then what it holds


def layer_title(layer, gettext) -> str:
    """A layer's title in the language ``gettext`` writes (a derived collection's in two translated parts)."""
    if layer.title_parts:
        base, what = layer.title_parts
        return gettext(DERIVED_TITLE, layer=gettext(base), what=gettext(what))
    return gettext(layer.title)


def _line_of(source: str, needle: str) -> int:
    at = source.find(needle.splitlines()[0][:60])
    return source.count("\n", 0, at) + 1 if at >= 0 else 1


def layer_strings(definition: dict) -> Iterator[tuple[str, str, str]]:
    """(msgid, translator's note, text as written in the file) of every displayed string of one layer file."""
    layer = definition.get("id", "?")
    for key in ("title", "description"):
        if definition.get(key):
            yield definition[key], f"layer {layer}: {key}", definition[key]
    for field in definition.get("fields", []):
        name = field.get("name", "?")
        for key in ("label", "help", "unit"):
            if field.get(key):
                yield field[key], f"layer {layer}, field {name}: {key}", field[key]
        for value in field.get("values", []):
            note = f"layer {layer}, field {name}: label of the value {value!r}"
            yield value_label(str(value)), note, f'"{value}"'


def extract_layers(fileobj, keywords, comment_tags, options) -> Iterator[Message]:
    """Babel extractor for ``layers/*.toml`` (named ``layers`` in ``babel.cfg``'s ``[extractors]``)."""
    source = fileobj.read().decode("utf-8")
    for text, note, written in layer_strings(tomllib.loads(source)):
        yield _line_of(source, written), None, text, [note]


def shown_messages() -> Iterator[tuple[str, str]]:
    """(msgid, note) of the messages produced outside templates that HTML pages show, read from the modules that
    define them (so a changed text is extracted again, never copied here)."""
    import mapper
    from mapper.domain import derived, errors, hotspots, lifecycle, water
    from mapper.domain.layers import CONTACT_FIELDS
    from mapper.services import scoring, staff
    from mapper.web import csrf

    for field in CONTACT_FIELDS:
        yield field.label, f"every layer, field {field.name}: label"
        yield field.help, f"every layer, field {field.name}: help"
    for status in lifecycle.STATUSES:
        yield value_label(status), f"label of the report status {status!r}"
    for status, reasons in lifecycle.REASONS.items():
        for reason in reasons:
            yield value_label(reason), f"label of a reason a report is {status}"
    for verdict in lifecycle.VERDICTS:
        yield value_label(verdict), "the reporter's word on their resolved report"
    yield DERIVED_TITLE, "a derived collection's title: the layer's title, then what it holds (e.g. 'hot spots')"
    for what in derived.DERIVED_TITLES.values():
        yield what, "what a derived collection holds, after its layer's title"
    for layer in derived.TRANSIT_LAYERS:
        yield layer.title, f"collection {layer.id}: title"
    fields = [*derived.HOTSPOT_FIELDS, *derived.AREA_FIELDS, *derived.DISTRICT_FIELDS]
    for field in fields + [f for layer in derived.TRANSIT_LAYERS for f in layer.fields]:
        yield field.label, f"a derived collection's field {field.name}: label"
    for safety in water.SAFETY:
        yield safety, "a water point's safety (the values score explanations show: services.explain)"
    for reason in hotspots.SCALE_REASONS.values():
        yield reason, "why a hot spot analysis chose its scale (Moran's I)"
    for reason in water.REASONS.values():
        yield reason, "why a water point has its safety"
    for _, band in water.E_COLI_BANDS:
        yield band, "an E. coli risk band (WHO/JMP)"
    for _, category in water.CCME_CATEGORIES:
        yield category, "a CCME Water Quality Index category"
    for state in scoring.ALERT_STATES.values():
        yield state, "a water point's citizen alert"
    yield staff.WRONG_CREDENTIALS, "the sign-in refusal (services.staff)"
    yield csrf.REFUSED, "a form post without this session's CSRF token (web.csrf)"
    for module in pkgutil.walk_packages(mapper.__path__, "mapper."):  # every error class, wherever defined
        importlib.import_module(module.name)
    found, pending = [], [errors.MapperError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        found.append(cls)
    for cls in sorted(found, key=lambda c: c.__name__):
        yield cls.title, f"title of the error page ({cls.__name__})"


def extract_shown_messages(fileobj, keywords, comment_tags, options) -> Iterator[Message]:
    """Babel extractor yielding ``shown_messages`` (``babel.cfg`` applies it to this module's own file)."""
    seen = set()
    for text, note in shown_messages():
        if text and text not in seen:
            seen.add(text)
            yield 1, None, text, [note]


def _stale(po: Path, mo: Path) -> bool:
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def _compile(po: Path, mo: Path) -> None:
    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parent.parent.name, domain=DOMAIN)
    mo.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".mo.tmp")
    with os.fdopen(fd, "wb") as out:
        write_mo(out, catalog, use_fuzzy=False)
    os.replace(tmp, mo)  # atomic: workers starting together never read half a file


def compiled(directory: Path = DIRECTORY) -> Path:
    """A translations directory whose ``.mo`` files match the ``.po`` catalogs of ``directory``: that directory,
    compiling the missing or stale ones in place; when it cannot be written (an installed package), a copy under
    the temporary directory."""
    catalogs = sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    try:
        for po in catalogs:
            if _stale(po, po.with_suffix(".mo")):
                _compile(po, po.with_suffix(".mo"))
        return directory
    except OSError:
        elsewhere = Path(tempfile.gettempdir()) / f"civic-mapper-translations-{os.getuid()}"
        for po in catalogs:
            mo = elsewhere / po.relative_to(directory).with_suffix(".mo")
            if _stale(po, mo):
                _compile(po, mo)
        return elsewhere
