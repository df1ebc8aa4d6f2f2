"""The bound values of one SQL statement, and how names get into SQL: quoted by psycopg2, never pasted.

Every clause builder of a statement binds through the statement's one ``Params``: ``bind`` allocates the next
free name (``p0``, ``p1``, …) and returns its ``%(name)s`` placeholder, so two builders can never rebind each
other's names. The store's SQL uses this one style, psycopg2's named placeholders.

Names go in as ``psycopg2.sql`` objects: ``sql.Identifier`` for identifiers (a table, a column alias),
``sql.Literal`` for names SQL takes as strings (a JSON key in ``properties ->> 'key'``, an MVT layer name);
``name_ident`` and ``name_literal`` make them (refusing what libpq cannot quote). They need a connection to be
rendered, which statement builders do not have, so a ``Quoted`` — one such object, or SQL composed of them — is
bound like a value (``Params.part``) and psycopg2 renders it with the connection that executes the statement.

psycopg2 interpolates on the client: the server receives the statement with every part in place —
``r.properties ->> 'severity'``, ``AS "severity"`` — the text it would get had the name been written there, so
plans are the same and an expression index on ``(properties ->> 'severity')`` still matches. Each placeholder
costs psycopg2 about a microsecond per occurrence, so SQL that depends on a view only is composed once, as one
``Quoted`` (``store.features``), rather than as a placeholder per name.
"""

from __future__ import annotations

from functools import lru_cache

from psycopg2 import extensions, sql


def _checked(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a name in SQL must be a non-empty string, got {name!r}")
    if "\x00" in name:  # libpq's quoting stops at a NUL: the name would be cut short
        raise ValueError("a name in SQL must not contain NUL characters")
    return name


def name_ident(name: str) -> sql.Identifier:
    """``name`` as an SQL identifier (rendered ``"name"``)."""
    return sql.Identifier(_checked(name))


def name_literal(name: str) -> sql.Literal:
    """``name`` as an SQL string literal (rendered ``'name'``)."""
    return sql.Literal(_checked(name))


class Quoted:
    """A ``psycopg2.sql`` object (an Identifier, a Literal, or SQL composed with them) as a bound value:
    psycopg2 renders it with the executing connection. The text is kept per connection settings (encoding,
    standard_conforming_strings): a shared ``Quoted`` is rendered once, then costs a lookup."""

    __slots__ = ("composable", "_rendered")

    def __init__(self, composable: sql.Composable):
        self.composable = composable
        self._rendered: dict = {}

    def __repr__(self) -> str:
        return f"Quoted({self.composable!r})"

    def render(self, conn) -> bytes:
        key = (conn.encoding, conn.get_parameter_status("standard_conforming_strings"))
        text = self._rendered.get(key)
        if text is None:
            text = self._rendered[key] = self.composable.as_string(conn).encode(extensions.encodings[conn.encoding])
        return text


class _Rendering:
    """psycopg2's adapter protocol for one use of a ``Quoted``: ``prepare`` hands over the connection."""

    __slots__ = ("quoted", "conn")

    def __init__(self, quoted: Quoted):
        self.quoted, self.conn = quoted, None

    def prepare(self, conn) -> None:
        self.conn = conn

    def getquoted(self) -> bytes:
        if self.conn is None:
            raise TypeError("a quoted part is rendered only within a statement executed on a connection")
        return self.quoted.render(self.conn)


extensions.register_adapter(Quoted, _Rendering)  # found by type at once (no search for __conform__)


@lru_cache(maxsize=4096)
def identifier(name: str) -> Quoted:
    """The shared ``Quoted`` of identifier ``name``."""
    return Quoted(name_ident(name))


@lru_cache(maxsize=4096)
def literal(name: str) -> Quoted:
    """The shared ``Quoted`` of ``name`` as a string literal."""
    return Quoted(name_literal(name))


class Params(dict):
    """One statement's bound values by name, and the allocator of those names. Built from another mapping
    (``Params(where.params)``), it holds the same values and allocates after them: a statement that extends
    a clause's parameters never rebinds one of its names.

    A value bound again (equal, of the same type) gets the placeholder it already has: psycopg2 quotes each
    distinct name once per statement, so clauses repeating the layer, the hidden statuses or a box share them.
    """

    __slots__ = ("prefix", "_placeholders", "_next")

    def __init__(self, values=(), prefix: str = "p"):
        super().__init__(values)
        self.prefix = prefix
        self._placeholders: dict = dict(values._placeholders) if isinstance(values, Params) else {}
        self._next = len(self)

    def bind(self, value, cast: str = "") -> str:
        """The placeholder of ``value`` (with ``cast``, e.g. ``::numeric``, appended): a new name, or the one
        an equal value already has."""
        kind = type(value)
        if kind in _SCALARS:
            key = (kind, value)
        elif kind is list and _SCALARS.issuperset(map(type, value)):
            key = (list, tuple(map(type, value)), tuple(value))
        else:  # not compared: bound under a name of its own
            key = None
        placeholder = self._placeholders.get(key)
        if placeholder is None:
            n = self._next
            while (name := f"{self.prefix}{n}") in self:
                n += 1
            self._next = n + 1
            self[name] = value
            placeholder = f"%({name})s"
            if key is not None:
                self._placeholders[key] = placeholder
        return placeholder + cast if cast else placeholder

    def ident(self, name: str) -> str:
        """The placeholder of identifier ``name`` (a table, a column alias)."""
        return self.bind(identifier(name))

    def literal(self, name: str) -> str:
        """The placeholder of ``name`` as a string literal (a JSON key, a layer name)."""
        return self.bind(literal(name))

    def part(self, part: Quoted | sql.Composable) -> str:
        """The placeholder of SQL composed with psycopg2.sql (a ``Quoted``, or a composable to wrap in one)."""
        return self.bind(part if isinstance(part, Quoted) else Quoted(part))


# values compared by type and value (1, 1.0 and True differ); a Quoted by identity
_SCALARS = frozenset({str, int, float, bool, bytes, Quoted, type(None)})
