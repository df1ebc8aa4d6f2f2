"""GtfsArchive on real zip files built in tmp_path: good feeds open and stream, hostile ones are refused."""

from __future__ import annotations

import dataclasses
import struct
import tracemalloc
import warnings
import zipfile

import pytest

from mapper.gtfs.archive import ArchiveRefused, GtfsArchive, Limits

STOPS = "stop_id,stop_name,stop_lat,stop_lon\r\nS1,Main St,39.96,-83.00\r\nS2,High St,39.97,-82.99\r\n"
ROUTES = "route_id,route_short_name,route_type\nR1,1,3\n"
BOMB_BYTES = 50 * 2**20


def make_zip(path, members: dict, method=zipfile.ZIP_DEFLATED):
    """Write ``members`` (name -> str or bytes) into a zip at ``path``."""
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data.encode() if isinstance(data, str) else data)
    return path


def patch_header(path, name: str, **fields):
    """Rewrite fields of one member in both its local header and its central-directory entry.

    ``fields``: ``flags``, ``method``, ``compress_size``, ``file_size`` -> the new integer value.
    """
    local = {"flags": (6, "<H"), "method": (8, "<H"), "compress_size": (18, "<I"), "file_size": (22, "<I")}
    central = {"flags": (8, "<H"), "method": (10, "<H"), "compress_size": (20, "<I"), "file_size": (24, "<I")}
    with zipfile.ZipFile(path) as zf:
        header_at, pos = zf.getinfo(name).header_offset, zf.start_dir
    data = bytearray(path.read_bytes())
    pos = data.index(b"PK\x01\x02", pos)
    while data[pos : pos + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        if data[pos + 46 : pos + 46 + name_len].decode() == name:
            for key, value in fields.items():
                struct.pack_into(central[key][1], data, pos + central[key][0], value)
                struct.pack_into(local[key][1], data, header_at + local[key][0], value)
        pos += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(data))
    return path


DEFAULT_LIMITS = Limits()


def refused(path, limits=DEFAULT_LIMITS) -> ArchiveRefused:
    with pytest.raises(ArchiveRefused) as caught:
        GtfsArchive(path, limits)
    return caught.value


def assert_refusal(err: ArchiveRefused, code: str, field: str):
    assert err.code == code
    assert [p.field for p in err.problems] == [field]
    assert err.problems[0].reason
    assert field in str(err)
    assert err.title == "GTFS archive refused"


@pytest.fixture
def feed(tmp_path):
    return make_zip(tmp_path / "feed.zip", {"stops.txt": "\ufeff" + STOPS, "routes.txt": ROUTES})


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """50 MB of zeros deflated to ~50 kB, written in chunks so memory stays small."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("stop_times.txt", "w") as out:
        chunk = b"0" * 2**20
        for _ in range(BOMB_BYTES // len(chunk)):
            out.write(chunk)
    return path


# --- feeds that open -------------------------------------------------------------------------------------------


def test_valid_feed_opens_and_streams_without_bom(feed):
    with GtfsArchive(feed) as archive:
        assert archive.names() == {"stops.txt", "routes.txt"}
        assert archive.ignored == []
        with archive.open_text("stops.txt") as f:
            assert f.readline() == "stop_id,stop_name,stop_lat,stop_lon\r\n"  # BOM gone, CRLF kept for csv
            assert f.read(3) == "S1,"
            assert list(f) == ["Main St,39.96,-83.00\r\n", "S2,High St,39.97,-82.99\r\n"]
        with archive.open_text("routes.txt") as f:
            chunks = iter(lambda: f.read(8), "")  # the way psycopg2's copy_expert reads
            assert "".join(chunks) == ROUTES
        with pytest.raises(KeyError):
            archive.open_text("trips.txt")


def test_feed_inside_one_top_folder(tmp_path):
    path = make_zip(
        tmp_path / "f.zip",
        {"feed/": b"", "feed/stops.txt": STOPS, "feed/routes.txt": ROUTES, "__MACOSX/feed/._stops.txt": b"\x00\x05"},
    )
    with GtfsArchive(path) as archive:
        assert archive.names() == {"stops.txt", "routes.txt"}
        assert archive.ignored == ["__MACOSX/feed/._stops.txt"]
        assert archive.open_text("stops.txt").read() == STOPS


def test_files_in_other_folders_are_ignored(tmp_path):
    path = make_zip(tmp_path / "f.zip", {"stops.txt": STOPS, "extra/routes.txt": ROUTES, "a/b/trips.txt": ""})
    with GtfsArchive(path) as archive:
        assert archive.names() == {"stops.txt"}
        assert archive.ignored == ["extra/routes.txt", "a/b/trips.txt"]
    path = make_zip(tmp_path / "g.zip", {"one/stops.txt": STOPS, "two/routes.txt": ROUTES})
    with GtfsArchive(path) as archive:
        assert archive.names() == set()
        assert archive.ignored == ["one/stops.txt", "two/routes.txt"]


# --- refused from the file and its headers -------------------------------------------------------------------


def test_missing_file_is_refused(tmp_path):
    assert_refusal(refused(tmp_path / "nope.zip"), "archive_not_found", "archive")


@pytest.mark.parametrize("content", [b"stop_id,stop_name\nS1,Main\n", b"", b"PK\x03\x04garbage"])
def test_non_zip_is_refused(tmp_path, content):
    path = tmp_path / "feed.zip"
    path.write_bytes(content)
    assert_refusal(refused(path), "archive_not_zip", "archive")


def test_truncated_zip_is_refused(feed):
    feed.write_bytes(feed.read_bytes()[:-30])
    assert_refusal(refused(feed), "archive_not_zip", "archive")


def test_archive_over_size_cap_is_refused(feed):
    assert_refusal(refused(feed, Limits(max_archive_bytes=100)), "archive_too_large", "archive")


def test_too_many_entries_are_refused(tmp_path):
    path = make_zip(tmp_path / "f.zip", {f"file{i}.txt": "x" for i in range(5)})
    assert_refusal(refused(path, Limits(max_entries=4)), "archive_too_many_entries", "archive")
    GtfsArchive(path, Limits(max_entries=5)).close()


@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd",
        "../../evil.txt",
        "feed/../../evil.txt",
        "C:/evil.txt",
        "..\\..\\evil.txt",
        "feed//stops.txt",
        "./stops.txt",
    ],
)
def test_unsafe_entry_names_are_refused(tmp_path, name):
    path = make_zip(tmp_path / "f.zip", {"stops.txt": STOPS, name: "owned"})
    assert_refusal(refused(path), "archive_unsafe_path", name)


def test_symlink_entry_is_refused(tmp_path):
    path = tmp_path / "f.zip"
    link = zipfile.ZipInfo("stops.txt")
    link.create_system = 3
    link.external_attr = 0o120777 << 16
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(link, "/etc/passwd")
    assert_refusal(refused(path), "archive_symlink", "stops.txt")


def test_duplicate_entry_is_refused(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns "Duplicate name"
        path = make_zip(tmp_path / "f.zip", {"stops.txt": STOPS, "routes.txt": ROUTES})
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("stops.txt", "stop_id\nEVIL\n")
    assert_refusal(refused(path), "archive_duplicate_entry", "stops.txt")


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"flags": 0x1}, "archive_encrypted"),
        ({"method": 9}, "archive_unsupported_compression"),
        ({"compress_size": 2**31}, "archive_corrupt_member"),
    ],
)
def test_unusable_headers_are_refused(feed, fields, code):
    assert_refusal(refused(patch_header(feed, "routes.txt", **fields)), code, "routes.txt")


def test_declared_sizes_over_caps_are_refused(feed):
    assert_refusal(refused(feed, Limits(max_file_bytes=len(STOPS) - 1)), "archive_member_too_large", "stops.txt")
    total = len(STOPS) + len(ROUTES) + 3  # + the BOM
    assert_refusal(refused(feed, Limits(max_total_bytes=total - 1)), "archive_total_too_large", "archive")
    GtfsArchive(feed, Limits(max_file_bytes=len(STOPS) + 3, max_total_bytes=total)).close()


def test_zip_bomb_is_refused(bomb):
    assert bomb.stat().st_size < 200_000
    err = refused(bomb, Limits(max_ratio=100, max_file_bytes=2 * BOMB_BYTES))
    assert_refusal(err, "archive_ratio_exceeded", "stop_times.txt")


# --- refused while reading: the header lies or the caps are met in real bytes --------------------------------


def test_lying_header_is_refused_while_reading_after_a_bounded_read(bomb, tmp_path):
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bomb.read_bytes())
    declared = 500_000  # under the ratio floor: the headers alone look harmless
    patch_header(liar, "stop_times.txt", file_size=declared)
    with GtfsArchive(liar, Limits(max_ratio=100)) as archive, archive.open_text("stop_times.txt") as f:
        got = 0
        with pytest.raises(ArchiveRefused) as caught:
            while chunk := f.read(8192):
                got += len(chunk)
    assert_refusal(caught.value, "archive_corrupt_member", "stop_times.txt")
    assert got <= declared


@pytest.mark.parametrize(
    "limits, code",
    [
        (Limits(max_file_bytes=10 * 2**20, max_ratio=10_000), "archive_member_too_large"),
        (Limits(max_total_bytes=10 * 2**20, max_ratio=10_000), "archive_total_too_large"),
        (Limits(max_ratio=100), "archive_ratio_exceeded"),
    ],
)
def test_real_bytes_are_counted_while_reading(bomb, limits, code):
    """Caps are enforced on real decompressed bytes, not only on what the headers declared at opening."""
    with GtfsArchive(bomb, Limits(max_ratio=10_000)) as archive:
        archive.limits = limits  # headers were judged against looser caps; the counter must still stop
        got = 0
        with archive.open_text("stop_times.txt") as f, pytest.raises(ArchiveRefused) as caught:
            while chunk := f.read(2**16):
                got += len(chunk)
    assert_refusal(caught.value, code, "stop_times.txt")
    assert got <= 10 * 2**20


def test_streaming_a_large_member_keeps_memory_bounded(bomb):
    with GtfsArchive(bomb, Limits(max_ratio=10_000)) as archive, archive.open_text("stop_times.txt") as f:
        tracemalloc.start()
        try:
            got = sum(len(chunk) for chunk in iter(lambda: f.read(8192), ""))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert got == BOMB_BYTES
    assert peak < 2 * 2**20


def test_rereading_a_member_does_not_count_twice(feed):
    total = len(STOPS) + len(ROUTES) + 3
    with GtfsArchive(feed, Limits(max_total_bytes=total)) as archive:
        for _ in range(3):
            assert archive.open_text("stops.txt").read() == STOPS
        assert archive.open_text("routes.txt").read() == ROUTES


def test_limits_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limits().max_ratio = 1
