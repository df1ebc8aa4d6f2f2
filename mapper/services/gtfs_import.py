"""GTFS import: a safe archive → staged and validated in PostGIS → typed tables → transit layers, in one
transaction. Any ERROR notice leaves the database as it was; warnings are stored with the feed."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg2
from sqlalchemy import Engine

from mapper import db
from mapper.domain.errors import FieldProblem, ValidationFailed
from mapper.gtfs.archive import GtfsArchive, Limits
from mapper.gtfs.spec import FILES, SEVERITY
from mapper.services.streams import ChunkReader
from mapper.store import gtfs as store

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
CSV_FAILED = "the rows cannot be read as CSV (a row with more values than the header, or a quote left open?)"
log = logging.getLogger(__name__)


@dataclass
class Notice:
    code: str
    file: str
    field: str
    row: int | None = None
    value: str | None = None
    total: int = 1  # how many times this check failed (examples are capped)

    @property
    def severity(self) -> str:
        return SEVERITY[self.code]

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "file": self.file,
            "row": self.row,
            "field": self.field,
            "value": self.value,
        }

    def __str__(self) -> str:
        where = f"{self.file}" + (f" row {self.row}" if self.row else "") + (f", {self.field}" if self.field else "")
        value = f" = {self.value!r}" if self.value not in (None, "") else ""
        return f"{self.severity:7} {self.code}: {where}{value}"


@dataclass
class GtfsReport:
    feed: str
    notices: list[Notice] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    service_date: date | None = None
    seconds: float = 0.0

    @property
    def errors(self) -> list[Notice]:
        return [n for n in self.notices if n.severity == "ERROR"]

    @property
    def warnings(self) -> list[Notice]:
        return [n for n in self.notices if n.severity != "ERROR"]

    def summary(self) -> dict:
        """Notice counts by code (totals, not just the listed examples)."""
        out: dict = {}
        for n in self.notices:
            key = (n.code, n.file, n.field)
            out[key] = max(out.get(key, 0), n.total)
        by_code: dict = {}
        for (code, _, _), total in out.items():
            by_code[code] = by_code.get(code, 0) + total
        return by_code

    def as_json(self) -> dict:
        return {
            "feed": self.feed,
            "valid": not self.errors,
            "service_date": self.service_date,
            "counts": self.counts,
            "notice_counts": self.summary(),
            "notices": [n.as_dict() for n in self.notices],
            "seconds": round(self.seconds, 3),
        }

    def text(self) -> str:
        lines = [f"GTFS feed {self.feed!r}: {'valid' if not self.errors else 'INVALID, nothing imported'}"]
        lines += [f"  {n}" for n in self.notices]
        if self.counts:
            lines.append("  " + ", ".join(f"{k}: {v}" for k, v in self.counts.items()))
        return "\n".join(lines)


class GtfsInvalid(ValidationFailed):
    title = "Invalid GTFS feed"

    def __init__(self, report: GtfsReport):
        super().__init__(
            f"The feed {report.feed!r} has {len(report.errors)} error(s); nothing was imported.",
            [
                FieldProblem(f"{n.file}:{n.field}", f"{n.code}" + (f" (row {n.row})" if n.row else ""), n.row)
                for n in report.errors
            ],
        )
        self.report = report


def _stage_all(cur, archive: GtfsArchive, report: GtfsReport) -> set[str]:
    """Stage every known file; record file- and header-level notices. Returns the staged file names."""
    present = archive.names()
    for name, spec in FILES.items():
        if spec.required_file and name not in present:
            report.notices.append(Notice("missing_required_file", name, ""))
    if not {"calendar.txt", "calendar_dates.txt"} & present:
        report.notices.append(Notice("missing_calendar_and_calendar_date_files", "calendar.txt", ""))
    for name in sorted(present - set(FILES)):
        report.notices.append(Notice("unknown_file", name, ""))
    staged = set()
    for name, spec in FILES.items():
        if name not in present:
            continue
        stream = archive.open_text(name)
        header = store.read_header(stream)
        if not header:
            report.notices.append(Notice("empty_file", name, ""))
            continue
        bad = [c for c in header if not c] + [c for c in set(header) if header.count(c) > 1]
        for c in bad:
            report.notices.append(Notice("empty_column_name" if not c else "duplicated_column", name, c, 1))
        missing = [c for c in spec.required if c not in header]
        for c in missing:
            report.notices.append(Notice("missing_required_column", name, c, 1))
        for c in header:
            if c and c not in spec.columns:
                report.notices.append(Notice("unknown_column", name, c, 1))
        if bad or missing:
            continue
        cur.execute("SAVEPOINT stage")
        try:
            store.stage_file(cur, name, header, stream, spec.columns)
        except psycopg2.DataError:  # ragged rows: again, padding short rows in Python (the slow path)
            cur.execute("ROLLBACK TO SAVEPOINT stage")
            stream = archive.open_text(name)
            store.read_header(stream)
            short: list[int] = []
            try:
                store.stage_file(
                    cur,
                    name,
                    header,
                    ChunkReader(store.padded_rows(stream, len(header), short), ahead=False),
                    spec.columns,
                )
            except psycopg2.DataError as e:
                cur.execute("ROLLBACK TO SAVEPOINT stage")
                log.info("GTFS %s: COPY refused the rows: %s", name, e)  # PostgreSQL's words stay in the log
                report.notices.append(Notice("csv_parsing_failed", name, "", store.copy_error_line(str(e)), CSV_FAILED))
                continue
            report.notices += [Notice("short_row", name, "", line, total=len(short)) for line in short[:50]]
        staged.add(name)
    return staged


def _check(cur, staged: set[str], report: GtfsReport) -> None:
    checks = [c for name in FILES if name in staged for c in store.check_file(cur, FILES[name], staged)]
    checks += list(store.check_foreign_keys(cur, staged)) + list(store.check_usage(cur, staged))
    for code, file, fieldname, examples, total in checks:
        for row, value in examples:
            report.notices.append(Notice(code, file, fieldname, row, value, total))


DEFAULT_LIMITS = Limits()


def import_feed(
    engine: Engine,
    path: str | Path,
    name: str | None = None,
    *,
    service_date: date | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> GtfsReport:
    """Validate and load a GTFS zip as feed ``name`` (default: the file name), replacing a feed of that name
    atomically, and publish its stops and routes. Raises GtfsInvalid (nothing changed) on any ERROR."""
    started = time.perf_counter()
    path = Path(path)
    name = name or path.name.removesuffix(".zip")
    if not NAME_RE.match(name):
        raise ValidationFailed("Bad feed name.", [FieldProblem("name", "letters, digits, '.', '_' or '-' (≤ 63)")])
    report = GtfsReport(name)
    with GtfsArchive(path, limits) as archive:
        with db.cursor(engine, commit=True) as cur:
            cur.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")  # one-pass aggregates, in memory
            staged = _stage_all(cur, archive, report)
            _check(cur, staged, report)
            if report.errors:
                raise GtfsInvalid(report)
            feed_id = store.insert_feed(cur, name, {}, [n.as_dict() for n in report.warnings])
            store.load_typed(cur, feed_id, staged)
            day = service_date or store.busiest_first_week_date(cur, feed_id)
            store.build_runs(cur, feed_id, day)
            published = store.publish_transit_layers(cur, feed_id, name, day)
            report.counts = {**store.feed_counts(cur, feed_id), **{f"published_{k}": v for k, v in published.items()}}
            report.service_date = day
            store.finish_feed(cur, feed_id, day, report.counts)
    report.seconds = time.perf_counter() - started
    return report


def feeds(engine: Engine) -> list[dict]:
    """The imported feeds with their counts and stored warnings."""
    with db.cursor(engine) as cur:
        rows = store.list_feeds(cur)
    return [
        {
            "id": i,
            "name": n,
            "imported_at": t.isoformat(),
            "service_date": d.isoformat() if d else None,
            "counts": s,
            "warnings": w,
        }
        for i, n, t, d, s, w in rows
    ]
