"""A GTFS zip opened safely: hostile archives are refused from their headers, then again while reading.

Headers can lie, so members are streamed through a counter of real decompressed bytes held to the same caps.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass

from mapper.domain.errors import FieldProblem, ValidationFailed

RATIO_FLOOR = 2**20  # the ratio is only judged above this many decompressed bytes: small files compress very well
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error)
CORRUPT = "cannot be read (corrupt or truncated data)"  # zipfile's and zlib's own messages are not shown


@dataclass(frozen=True)
class Limits:
    """Caps on one archive; bytes are decompressed bytes unless said otherwise."""

    max_archive_bytes: int = 200 * 2**20  # the zip file itself
    max_file_bytes: int = 2 * 2**30  # one decompressed member
    max_total_bytes: int = 4 * 2**30  # all members decompressed
    max_ratio: float = 200.0  # decompressed / compressed, per member above RATIO_FLOOR
    max_entries: int = 1000


class ArchiveRefused(ValidationFailed):
    """The archive, or one member of it, is refused; ``code`` is the notice code."""

    title = "GTFS archive refused"

    def __init__(self, code: str, field: str, reason: str):
        super().__init__(f"{field}: {reason}", [FieldProblem(field, reason)])
        self.code = code


def _unsafe_name(name: str) -> str | None:
    """Why an entry name could escape or confuse a path, or None when it is plain."""
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or name[1:2] == ":":  # "/etc/passwd", "C:/evil"
        return "is an absolute path"
    parts = name[:-1].split("/") if name.endswith("/") else name.split("/")
    if {"", ".", ".."} & set(parts):
        return "has an empty, '.' or '..' component"
    return None


def _check_entry(info: zipfile.ZipInfo, limits: Limits, archive_bytes: int) -> None:
    """Refuse one central-directory entry from what it declares."""
    name = info.filename
    why = _unsafe_name(name)
    if why:
        raise ArchiveRefused("archive_unsafe_path", name, f"entry name {why}")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveRefused("archive_symlink", name, "entry is a symbolic link")
    if info.flag_bits & 0x1:
        raise ArchiveRefused("archive_encrypted", name, "entry is encrypted")
    if info.compress_type not in COMPRESSIONS:
        raise ArchiveRefused("archive_unsupported_compression", name, f"uses compression method {info.compress_type}")
    if info.compress_size > archive_bytes:
        raise ArchiveRefused("archive_corrupt_member", name, "declares more compressed bytes than the archive has")
    if info.file_size > limits.max_file_bytes:
        raise ArchiveRefused("archive_member_too_large", name, f"declares over {limits.max_file_bytes} bytes")
    if info.file_size > RATIO_FLOOR and info.file_size / max(info.compress_size, 1) > limits.max_ratio:
        raise ArchiveRefused("archive_ratio_exceeded", name, f"declares a ratio over {limits.max_ratio:g} (zip bomb)")


class GtfsArchive:
    """A GTFS zip opened safely. Use as a context manager.

    Files may sit at the root or all inside one single top folder; files in other folders are not GTFS files
    and their member names are listed in ``ignored`` (notice ``invalid_input_files_in_subfolder``).
    """

    def __init__(self, path, limits: Limits = Limits()):
        self.limits = limits
        self.ignored: list[str] = []
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._read: dict[str, int] = {}  # most real bytes read so far, per member
        self._total = 0
        try:
            self._file = open(path, "rb")
        except OSError as e:
            raise ArchiveRefused("archive_not_found", "archive", f"cannot be opened ({e.strerror})") from e
        try:
            self._zip = self._open_zip()
            self._map_names(self._zip.infolist())
        except BaseException:
            self.close()
            raise

    def _open_zip(self) -> zipfile.ZipFile:
        size, lim = os.fstat(self._file.fileno()).st_size, self.limits
        if size > lim.max_archive_bytes:
            raise ArchiveRefused("archive_too_large", "archive", f"is over {lim.max_archive_bytes} bytes")
        if not zipfile.is_zipfile(self._file):
            raise ArchiveRefused("archive_not_zip", "archive", "is not a zip file (or is truncated)")
        try:
            zf = zipfile.ZipFile(self._file)
        except (*_READ_ERRORS, ValueError) as e:
            raise ArchiveRefused("archive_not_zip", "archive", "is not a readable zip file") from e
        infos = zf.infolist()
        if len(infos) > lim.max_entries:
            raise ArchiveRefused("archive_too_many_entries", "archive", f"has over {lim.max_entries} entries")
        seen: set[str] = set()
        for info in infos:
            _check_entry(info, lim, size)
            if info.filename in seen:
                raise ArchiveRefused("archive_duplicate_entry", info.filename, "entry appears more than once")
            seen.add(info.filename)
        declared = sum(info.file_size for info in infos)
        if declared > lim.max_total_bytes:
            raise ArchiveRefused("archive_total_too_large", "archive", f"declares over {lim.max_total_bytes} bytes")
        return zf

    def _map_names(self, infos: list[zipfile.ZipInfo]) -> None:
        """Find the folder holding the feed (root, or the one top folder) and index its files by bare name."""
        files = [i for i in infos if not i.is_dir()]
        feed = {i.filename for i in files if not i.filename.startswith("__MACOSX/")}
        tops = {n.split("/", 1)[0] for n in feed if "/" in n}
        prefix = tops.pop() + "/" if len(tops) == 1 and all("/" in n for n in feed) else ""
        for info in files:
            rest = info.filename[len(prefix) :]
            if info.filename.startswith(prefix) and "/" not in rest and info.filename in feed:
                self._members[rest] = info
            else:
                self.ignored.append(info.filename)

    def names(self) -> set[str]:
        """The GTFS file names present, e.g. ``{"stops.txt", "trips.txt"}``."""
        return set(self._members)

    def open_text(self, name: str) -> io.TextIOBase:
        """Stream one file as UTF-8 text (BOM stripped, newlines untouched, as ``csv`` wants)."""
        info = self._members[name]
        try:
            member = self._zip.open(info)
        except _READ_ERRORS as e:
            raise ArchiveRefused("archive_corrupt_member", info.filename, CORRUPT) from e
        raw = _CountedMember(self, info, member)
        return io.TextIOWrapper(io.BufferedReader(raw, 2**16), encoding="utf-8-sig", newline="")

    def _count(self, info: zipfile.ZipInfo, read: int) -> None:
        """Account for ``read`` real bytes of one member so far; refuse when a cap is passed."""
        name, limits = info.filename, self.limits
        if read > limits.max_file_bytes:
            raise ArchiveRefused("archive_member_too_large", name, f"is over {limits.max_file_bytes} bytes")
        grown = read - self._read.get(name, 0)
        if grown > 0:
            self._read[name] = read
            self._total += grown
        if read > RATIO_FLOOR and read / max(info.compress_size, 1) > limits.max_ratio:
            raise ArchiveRefused("archive_ratio_exceeded", name, f"ratio is over {limits.max_ratio:g} (zip bomb)")
        if self._total > limits.max_total_bytes:
            raise ArchiveRefused("archive_total_too_large", name, f"takes the total over {limits.max_total_bytes}")

    def close(self) -> None:
        """Close the archive and its file; readers still open stop working."""
        if getattr(self, "_zip", None) is not None:
            self._zip.close()
        self._file.close()

    def __enter__(self) -> GtfsArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _CountedMember(io.RawIOBase):
    """The raw bytes of one member, counted as they are decompressed."""

    def __init__(self, archive: GtfsArchive, info: zipfile.ZipInfo, member: zipfile.ZipExtFile):
        super().__init__()
        self._archive, self._info, self._member, self._read = archive, info, member, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._member.read(len(buffer))
        except _READ_ERRORS as e:
            raise ArchiveRefused("archive_corrupt_member", self._info.filename, CORRUPT) from e
        self._read += len(data)
        self._archive._count(self._info, self._read)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._member.close()
        super().close()
