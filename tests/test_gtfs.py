"""GTFS import checked against gtfs-kit and GDAL's GTFS driver, broken and hostile feeds, atomic replacement,
the upload endpoint, transit layers in the feeds, and transit access scores."""

import datetime as dt
import math
import subprocess
import threading
import zipfile

import pandas as pd
import pyogrio
import pytest
import requests
from sqlalchemy import text

from mapper.services import scoring
from mapper.services.gtfs_import import GtfsInvalid, import_feed
from mapper.services.tokens import create_api_token
from tests.conftest import SHARED_DATA, count
from tests.reports import publish

CAIRNS = SHARED_DATA / "gtfs" / "cairns-2014.zip"
SAMPLE = SHARED_DATA / "gtfs" / "google-sample-feed-1.zip"
CAIRNS_DAY = dt.date(2014, 5, 30)


@pytest.fixture(scope="module")
def cairns(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE gtfs_feeds CASCADE; DELETE FROM derived_features"))
    return import_feed(engine, CAIRNS, "cairns", service_date=CAIRNS_DAY)


def transit(engine, layer, feed):
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text("SELECT properties FROM derived_features WHERE layer = :l AND properties->>'feed' = :f"),
                {"l": layer, "f": feed},
            )
            .scalars()
            .all()
        )
    return pd.DataFrame(rows)


# --- cross-checks with gtfs-kit and GDAL --------------------------------------------------------------------
def read_with_gtfs_kit(path):
    """gtfs-kit 13 compares missing times with ``<=``, which pandas 3's string NA refuses: give it NaN."""
    import gtfs_kit as gk
    import numpy as np

    feed = gk.read_feed(path, dist_units="km")
    for col in ("arrival_time", "departure_time"):
        times = feed.stop_times[col]
        feed.stop_times[col] = times.astype(object).where(times.notna(), np.nan)
    return feed


def test_cairns_matches_gtfs_kit_stop_and_route_stats(engine, cairns):
    import gtfs_kit as gk

    feed = read_with_gtfs_kit(CAIRNS)
    date = CAIRNS_DAY.strftime("%Y%m%d")
    ref_stops = gk.compute_stop_stats(feed, [date]).set_index("stop_id")
    ref_routes = gk.compute_route_stats(feed, [date], trip_stats=gk.compute_trip_stats(feed)).set_index("route_id")
    assert len(ref_routes) == 22  # the reference must have something to compare
    stops = transit(engine, "transit_stops", "cairns").set_index("stop_id")
    routes = transit(engine, "transit_routes", "cairns").set_index("route_id")
    assert cairns.counts["stops"] == len(feed.stops) and cairns.counts["routes"] == len(feed.routes)
    assert len(routes) == len(feed.routes)
    served = stops[stops["trips_per_day"] > 0]
    assert set(served.index) == set(ref_stops.index)
    for stop_id, ref in ref_stops.iterrows():
        ours = stops.loc[stop_id]
        assert ours["trips_per_day"] == ref["num_trips"], stop_id
        if math.isnan(ref["mean_headway"]):
            assert ours["mean_headway_min"] is None or math.isnan(ours["mean_headway_min"])
        else:
            assert ours["mean_headway_min"] == pytest.approx(ref["mean_headway"], abs=1e-9), stop_id
            assert ours["min_headway_min"] == pytest.approx(ref["min_headway"], abs=1e-9), stop_id
    for route_id, ref in ref_routes.iterrows():
        assert routes.loc[route_id, "trips_per_day"] == ref["num_trips"], route_id
        assert float(routes.loc[route_id, "mean_headway_min"]) == pytest.approx(
            ref["mean_headway"], abs=1e-9, nan_ok=True
        ), route_id
    # the figures gtfs-kit 13.0.1 published for this feed and date
    assert stops.loc["750000", "trips_per_day"] == 34 and round(stops.loc["750000", "mean_headway_min"], 2) == 29.86
    assert routes.loc["110-423", "trips_per_day"] == 59 and round(routes.loc["110-423", "mean_headway_min"], 2) == 29.96
    assert (routes["geometry_source"] == "shapes.txt").all()


def test_gdal_gtfs_driver_reads_the_same_counts(engine, cairns, tmp_path):
    zipfile.ZipFile(CAIRNS).extractall(tmp_path)  # pyogrio would turn "GTFS:x.zip" into a /vsizip/ path
    stops = pyogrio.read_dataframe(f"GTFS:{tmp_path}", layer="stops")
    trips = pyogrio.read_info(f"GTFS:{tmp_path}", layer="trips")["features"]
    assert cairns.counts["stops"] == len(stops) == 416 and cairns.counts["trips"] == trips == 1339
    ours = transit(engine, "transit_stops", "cairns")
    assert set(ours["stop_id"]) == set(stops["stop_id"])


def test_frequencies_are_expanded_and_the_default_date_is_the_busiest_of_the_first_week(engine, cairns):
    report = import_feed(engine, SAMPLE, "sample")
    assert report.service_date == dt.date(2007, 1, 6)  # a Saturday: weekend routes run too, the week starts Monday
    zf = zipfile.ZipFile(SAMPLE)
    freq = pd.read_csv(zf.open("frequencies.txt"))

    def secs(t):
        h, m, s = (int(x) for x in t.split(":"))
        return h * 3600 + m * 60 + s

    runs = (
        freq.assign(
            n=[
                len(range(secs(a), secs(b), h))
                for a, b, h in zip(freq.start_time, freq.end_time, freq.headway_secs, strict=True)
            ]
        )
        .groupby("trip_id")["n"]
        .sum()
    )
    routes = transit(engine, "transit_routes", "sample").set_index("route_id")
    assert routes.loc["STBA", "trips_per_day"] == runs["STBA"] == 32
    assert routes.loc["CITY", "trips_per_day"] == runs["CITY1"] + runs["CITY2"]
    assert routes.loc["AAMV", "trips_per_day"] == 4  # weekend service, on a Saturday
    assert routes.loc["CITY", "geometry_source"] == "stop sequence"
    assert len(transit(engine, "transit_stops", "sample")) == 9 and report.counts["routes"] == 5
    assert {n.code for n in report.warnings} >= {"short_row", "unknown_file"}
    # both feeds coexist
    assert len(transit(engine, "transit_stops", "cairns")) == cairns.counts["stops"]


# --- broken and hostile feeds -------------------------------------------------------------------------------
TINY = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nA,Agency,https://a.example,America/New_York\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nS1,One,40.0,-83.0\nS2,Two,40.01,-83.01\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_type\nR1,A,1,3\n",
    "trips.txt": "route_id,service_id,trip_id,direction_id\nR1,WK,T1,0\nR1,WK,T2,0\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    "T1,08:00:00,08:00:00,S1,1\nT1,08:10:00,08:10:00,S2,2\n"
    "T2,08:30:00,08:30:00,S1,1\nT2,08:40:00,08:40:00,S2,2\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
    "WK,1,1,1,1,1,0,0,20260105,20261231\n",
}


def make_feed(tmp_path, name="feed.zip", **changes):
    files = dict(TINY)
    for key, value in changes.items():
        fname = key.replace("_txt", ".txt")
        if value is None:
            files.pop(fname)
        else:
            files[fname] = value
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for fname, content in files.items():
            z.writestr(fname, content)
    return path


def test_tiny_feed_imports(engine, tmp_path, cairns):
    report = import_feed(engine, make_feed(tmp_path), "tiny")
    assert report.service_date == dt.date(2026, 1, 5)
    stops = transit(engine, "transit_stops", "tiny").set_index("stop_id")
    assert stops.loc["S1", "trips_per_day"] == 2 and stops.loc["S1", "mean_headway_min"] == 30


BROKEN = [
    (
        "missing column",
        {"routes_txt": "route_id,agency_id,route_short_name\nR1,A,1\n"},
        "missing_required_column",
        "routes.txt",
        "route_type",
        1,
    ),
    (
        "stop without coordinates",
        {"stops_txt": "stop_id,stop_name,stop_lon\nS1,One,-83.0\nS2,Two,-83.01\n"},
        "missing_required_field",
        "stops.txt",
        "stop_lat",
        2,
    ),
    (
        "duplicate stop_id",
        {"stops_txt": TINY["stops.txt"] + "S1,Again,40.02,-83.02\n"},
        "duplicate_key",
        "stops.txt",
        "stop_id",
        4,
    ),
    (
        "trip to a missing route",
        {"trips_txt": TINY["trips.txt"] + "R9,WK,T3,0\n"},
        "foreign_key_violation",
        "trips.txt",
        "route_id",
        4,
    ),
    (
        "stop time at a missing stop",
        {"stop_times_txt": TINY["stop_times.txt"] + "T2,08:50:00,08:50:00,S9,3\n"},
        "foreign_key_violation",
        "stop_times.txt",
        "stop_id",
        6,
    ),
    (
        "stop at 0,0",
        {"stops_txt": TINY["stops.txt"] + "S3,Null Island,0.0,0.0\n"},
        "point_near_origin",
        "stops.txt",
        "stop_lat,stop_lon",
        4,
    ),
    (
        "latitude 95",
        {"stops_txt": TINY["stops.txt"] + "S3,North,95.0,-83.0\n"},
        "number_out_of_range",
        "stops.txt",
        "stop_lat",
        4,
    ),
    (
        "bad time",
        {"stop_times_txt": TINY["stop_times.txt"].replace("08:40:00,08:40:00", "8h40,08:40:00")},
        "invalid_time",
        "stop_times.txt",
        "arrival_time",
        5,
    ),
    (
        "bad date",
        {"calendar_txt": TINY["calendar.txt"].replace("20261231", "20260231")},
        "invalid_date",
        "calendar.txt",
        "end_date",
        2,
    ),
    (
        "missing required value",
        {"routes_txt": "route_id,agency_id,route_short_name,route_type\nR1,A,1,\n"},
        "missing_required_field",
        "routes.txt",
        "route_type",
        2,
    ),
    ("no calendar", {"calendar_txt": None}, "missing_calendar_and_calendar_date_files", "calendar.txt", "", None),
    ("no stops.txt", {"stops_txt": None}, "missing_required_file", "stops.txt", "", None),
    (
        "too many fields",
        {"stops_txt": TINY["stops.txt"] + "S3,Three,40.0,-83.0,extra,more\n"},
        "csv_parsing_failed",
        "stops.txt",
        "",
        4,
    ),
]


@pytest.mark.parametrize("changes,code,file,field,row", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_feeds_give_the_validator_codes_and_import_nothing(
    engine, tmp_path, cairns, changes, code, file, field, row
):
    before = count(engine, "gtfs_feeds"), count(engine, "derived_features"), count(engine, "gtfs_stop_times")
    with pytest.raises(GtfsInvalid) as e:
        import_feed(engine, make_feed(tmp_path, **changes), "broken")
    found = [(n.code, n.file, n.field, n.row) for n in e.value.report.errors]
    assert (code, file, field, row) in found, found
    assert all(n.severity == "ERROR" for n in e.value.report.errors)
    assert (count(engine, "gtfs_feeds"), count(engine, "derived_features"), count(engine, "gtfs_stop_times")) == before
    doc = e.value.report.as_json()
    assert doc["valid"] is False and doc["notice_counts"][code] >= 1
    assert f"{code}: {file}" in e.value.report.text()


def test_hostile_archives_are_refused(engine, tmp_path, cairns):
    from mapper.gtfs.archive import ArchiveRefused

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        for fname, content in TINY.items():
            z.writestr(fname, content)
        z.writestr("../../etc/cron.d/evil", "* * * * * root rm -rf /")
    with pytest.raises(ArchiveRefused, match="evil"):
        import_feed(engine, evil, "evil")
    notzip = tmp_path / "feed.zip"
    notzip.write_text("stop_id,stop_name\n")
    with pytest.raises(ArchiveRefused):
        import_feed(engine, notzip, "notzip")
    assert count(engine, "gtfs_feeds", "name IN ('evil', 'notzip')") == 0


def test_reimport_replaces_a_feed_atomically(engine, tmp_path, cairns):
    import_feed(engine, make_feed(tmp_path), "swap")
    small = len(transit(engine, "transit_stops", "swap"))
    seen, stop = set(), threading.Event()

    def watch():
        while not stop.is_set():
            with engine.connect() as conn:
                seen.add(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM derived_features WHERE layer = 'transit_stops' "
                            "AND properties->>'feed' = 'swap'"
                        )
                    ).scalar()
                )

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        import_feed(engine, CAIRNS, "swap", service_date=CAIRNS_DAY)
    finally:
        stop.set()
        watcher.join()
    assert seen <= {small, cairns.counts["stops"]} and cairns.counts["stops"] in seen | {
        len(transit(engine, "transit_stops", "swap"))
    }
    assert count(engine, "gtfs_feeds", "name = 'swap'") == 1
    assert len(transit(engine, "transit_stops", "swap")) == cairns.counts["stops"]


# --- HTTP and CLI -------------------------------------------------------------------------------------------
def test_upload_endpoint_needs_staff_and_reports_problems(app, engine, tmp_path, cairns):
    client = app.test_client()
    data = make_feed(tmp_path).read_bytes()
    assert client.post("/api/gtfs/feeds?name=up", data=data).status_code == 401
    health = create_api_token(engine, "health", "t")
    assert (
        client.post("/api/gtfs/feeds?name=up", data=data, headers={"Authorization": f"Bearer {health}"}).status_code
        == 403
    )
    planner = create_api_token(engine, "planner", "t")
    auth = {"Authorization": f"Bearer {planner}", "Content-Type": "application/zip"}
    r = client.post("/api/gtfs/feeds?name=up", data=data, headers=auth)
    assert r.status_code == 201 and r.get_json()["counts"]["stops"] == 2
    bad = make_feed(tmp_path, "bad.zip", stops_txt=TINY["stops.txt"] + "S1,Dup,40.0,-83.0\n").read_bytes()
    r = client.post("/api/gtfs/feeds?name=up", data=bad, headers=auth)
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert any(n["code"] == "duplicate_key" and n["row"] == 4 for n in r.get_json()["report"]["notices"])
    feeds = {f["name"]: f for f in client.get("/api/gtfs/feeds").get_json()["feeds"]}
    assert feeds["up"]["counts"]["stops"] == 2  # the failed upload changed nothing


def test_mapper_gtfs_import_command(cli_env, tmp_path, cairns):
    ok = subprocess.run(
        ["mapper", "gtfs", "import", str(make_feed(tmp_path)), "--name", "cli"],
        env=cli_env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "GTFS feed 'cli': valid" in ok.stdout
    bad = subprocess.run(
        ["mapper", "gtfs", "import", str(make_feed(tmp_path, "b.zip", calendar_txt=None)), "--name", "cli", "--json"],
        env=cli_env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and '"missing_calendar_and_calendar_date_files"' in bad.stderr


def test_transit_layers_are_served_like_any_layer(live_server, cairns):
    doc = requests.get(
        f"{live_server}/ogc/collections/transit_stops/items",
        params={"feed": "cairns", "limit": 1000, "filter": "trips_per_day >= 30"},
    ).json()
    assert doc["numberReturned"] > 0 and all(f["properties"]["trips_per_day"] >= 30 for f in doc["features"])
    routes = requests.get(f"{live_server}/ogc/collections/transit_routes/items", params={"feed": "cairns"}).json()
    assert routes["features"][0]["geometry"]["type"] == "LineString"
    assert requests.post(f"{live_server}/api/layers/transit_stops/reports", json={}).status_code == 404


def test_transit_access_is_scored_and_explained(app, engine, registry, cairns):
    client = app.test_client()
    with engine.connect() as conn:
        lon, lat, name = conn.execute(
            text(
                "SELECT ST_X(geom), ST_Y(geom), properties->>'stop_name' FROM derived_features "
                "WHERE layer = 'transit_stops' "
                "AND properties->>'stop_id' = '750000' AND properties->>'feed' = 'cairns'"
            )
        ).one()
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon + 0.0001, lat]},
        "properties": {"centre_name": "Cairns Clinic", "rating": 4},
    }
    rid = client.post("/api/layers/health_centres/reports", json=body).get_json()["id"]
    far = dict(body, geometry={"type": "Point", "coordinates": [lon + 1, lat]})
    far_id = client.post("/api/layers/health_centres/reports", json=far).get_json()["id"]
    publish(client.application, rid, far_id)
    scoring.run_transit_access(engine, registry.get("health_centres"))
    doc = client.get(f"/api/scores/health_centres/{rid}").get_json()
    access = next(s for s in doc["scores"] if s["method"] == "transit_access")
    assert access["result"]["nearest_stop"] == name and 5 < access["result"]["nearest_stop_m"] < 15
    assert access["result"]["departures_within_reach"] >= 34 and access["result"]["convenient_access"]
    assert "UN SDG 11.2.1" in access["summary"] and name in access["summary"]
    far_doc = client.get(f"/api/scores/health_centres/{far_id}").get_json()
    far_access = next(s for s in far_doc["scores"] if s["method"] == "transit_access")["result"]
    assert far_access["stops_within_reach"] == 0 and far_access["nearest_stop_m"] > 50_000
