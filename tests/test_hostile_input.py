"""Hostile input, over real HTTP on the live server: every case a penetration test turned into a 500 answers a
4xx ``application/problem+json`` naming the field; errors map to statuses through the class hierarchy;
JSON routes answer problem+json for every error and a 500 tells nothing of its cause. A property-based test
(hypothesis) throws generated CQL2 JSON trees and numbers at items, exports and tiles."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import geopandas as gpd
import pyogrio
import pytest
import requests
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from mapper import create_app
from mapper.domain.errors import MapperError, ValidationFailed
from mapper.gtfs.archive import ArchiveRefused
from mapper.services import gtfs_import
from mapper.services.importer import ImportFailed, import_frame
from mapper.services.scoring import ScoreRefused
from mapper.services.tokens import create_api_token
from mapper.web.problems import status_of
from tests.conftest import reset_tables

PROBLEM = "application/problem+json"
ITEMS = "/ogc/collections/crime/items"
EXPORT = "/export/crime.geojson"
TILE = "/tiles/crime/0/0/0.mvt"
FEEDS = (ITEMS, EXPORT, TILE)
WHEN = "2025-03-15T12:00:00Z"  # the first crime report's time
DEEP = "[" * 100_000 + "]" * 100_000  # far beyond the JSON parser's recursion limit
DEEP_IN_A_URL = "[" * 3000 + "]" * 3000  # still beyond it, in a URL the server takes


@pytest.fixture(scope="module")
def data(engine, registry, data_tables):
    """A few reports in crime, urban_life and land_use."""
    reset_tables(engine, data_tables)
    crime = gpd.GeoDataFrame(
        {
            "category": ["theft", "assault", "burglary"],
            "severity": [2, 4, 5],
            "occurred_at": [WHEN, "2025-04-01T08:00:00Z", "2025-05-01T20:30:00Z"],
        },
        geometry=shapely.points([(-83.0, 39.96), (-83.01, 39.97), (-82.99, 39.95)]),
        crs=4326,
    )
    import_frame(engine, registry.get("crime"), crime, "crime.gpkg")
    urban = gpd.GeoDataFrame(
        {"sentiment": ["negative"], "theme": ["noise"], "rating": [2], "observed_at": ["2025-06-01T10:00:00Z"]},
        geometry=shapely.points([(-83.0, 39.96)]),
        crs=4326,
    )
    import_frame(engine, registry.get("urban_life"), urban, "urban.gpkg")
    land = gpd.GeoDataFrame(
        {"land_class": ["titled"], "area_m2": [1.5]}, geometry=[shapely.box(-83, 39.9, -82.99, 39.91)], crs=4326
    )
    import_frame(engine, registry.get("land_use"), land, "land.gpkg")
    return engine


def get(base: str, path: str, **params) -> requests.Response:
    return requests.get(base + path, params=params, timeout=60)


def assert_problem(r: requests.Response, status: int | tuple, field: str, fragment: str = "") -> dict:
    """A problem+json with ``status`` whose first error names ``field`` (and says ``fragment``)."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["Content-Type"] == PROBLEM
    doc = r.json()
    assert doc["status"] == r.status_code and doc["errors"], doc
    assert doc["errors"][0]["field"] == field, doc
    assert fragment in doc["errors"][0]["reason"], doc
    return doc


# --- A. CQL2 JSON of the wrong shape --------------------------------------------------------------------------
P = {"property": "category"}
T = {"property": "occurred_at"}
G = {"property": "geometry"}
MALFORMED_CQL = [
    ({"op": "not", "args": []}, "NOT takes 1 argument, got 0"),
    ({"op": "and", "args": []}, "AND takes at least 2 arguments"),
    ({"op": "or", "args": [True]}, "OR takes at least 2 arguments"),
    ({"op": "like", "args": [P]}, "LIKE takes 2 arguments, got 1"),
    ({"op": "in", "args": [P]}, "IN takes 2 arguments, got 1"),
    ({"op": "in", "args": [P, "theft"]}, "IN needs a non-empty list"),
    ({"op": "between", "args": [{"property": "severity"}, 1]}, "BETWEEN takes 3 arguments, got 2"),
    ({"op": "isNull", "args": []}, "ISNULL takes 1 argument, got 0"),
    ({"op": "=", "args": [P]}, "= takes 2 arguments, got 1"),
    ({"op": "=", "args": [P, "a", "b"]}, "= takes 2 arguments, got 3"),
    ({"op": "s_intersects", "args": [G]}, "S_INTERSECTS takes 2 arguments, got 1"),
    ({"op": "s_within", "args": []}, "S_WITHIN takes 2 arguments, got 0"),
    ({"op": "t_intersects", "args": [T]}, "T_INTERSECTS takes 2 arguments, got 1"),
    ({"op": "t_before", "args": []}, "T_BEFORE takes 2 arguments, got 0"),
    ({"op": "=", "args": [{"property": ["category"]}, "theft"]}, "a property name must be a string"),
    ({"op": "=", "args": [{"property": {"a": 1}}, "theft"]}, "a property name must be a string"),
    ({"op": "isNull", "args": [{"property": []}]}, "a property name must be a string"),
    ({"op": "s_intersects", "args": [G, {"bbox": [1, 2, 3]}]}, "a bbox must be a list of 4 or 6 numbers"),
    ({"op": "s_intersects", "args": [G, {"bbox": [1, 2, 3, 4, 5]}]}, "a bbox must be a list of 4 or 6 numbers"),
    ({"op": "s_intersects", "args": [G, {"bbox": [1, 2, 3, "4"]}]}, "a bbox must be a list of 4 or 6 numbers"),
    ({"op": "s_intersects", "args": [G, {"bbox": "1,2,3,4"}]}, "a bbox must be a list of 4 or 6 numbers"),
    ({"op": "s_intersects", "args": [G, {"bbox": [1, 2, 3, 10**400]}]}, "finite numbers"),
    ({"op": "t_intersects", "args": [T, {"interval": ["2025-01-01"]}]}, "an interval must be a list of two"),
    ({"op": "t_intersects", "args": [T, {"interval": ["a", "b", "c"]}]}, "an interval must be a list of two"),
    ({"op": "t_intersects", "args": [T, {"interval": "2025-01-01/.."}]}, "an interval must be a list of two"),
    ({"op": "t_during", "args": [T, {"interval": [[], ".."]}]}, "expected an instant"),
    ({"op": ["="], "args": [P, "theft"]}, "an operator must be a string"),
    ({"op": "=", "args": {"a": 1}}, "the arguments of = must be a list"),
    ({"op": "=", "args": [{"property": "severity"}, 10**400]}, "too large"),
    ({"op": "in", "args": [{"property": "severity"}, [1, 10**400]]}, "too large"),
    ({"op": "=", "args": [P, "\ud800"]}, "lone surrogates"),
    ({"op": "like", "args": [P, "th\ud800%"]}, "lone surrogates"),
    ({"op": "in", "args": [P, ["theft", "\udfff"]]}, "lone surrogates"),
    ({"op": "=", "args": [T, {"timestamp": 5}]}, "a timestamp must be a string"),
    ({"op": "in", "args": [{"property": "services"}, ["dental"]]}, "multiple-choice"),
    ({"op": "between", "args": [{"property": "services"}, "a", "b"]}, "multiple-choice"),
]


@pytest.mark.parametrize("path", FEEDS)
@pytest.mark.parametrize("cql,reason", MALFORMED_CQL, ids=[r for _, r in MALFORMED_CQL])
def test_malformed_cql2_json_is_a_400_naming_the_filter(live_server, data, path, cql, reason):
    layer_path = path.replace("crime", "health_centres") if "services" in json.dumps(cql) else path
    r = get(live_server, layer_path, **{"filter-lang": "cql2-json", "filter": json.dumps(cql)})
    assert_problem(r, 400, "filter", reason)


@pytest.mark.parametrize(
    "filter_text,lang,reason",
    [
        (DEEP_IN_A_URL, "cql2-json", "nests too deeply"),
        ('{"op": "not", "args": [' * 400 + "true" + "]}" * 400, "cql2-json", "more than 200 nodes"),
        ('{"op": "=", "args": [', "cql2-json", "does not parse as JSON (at character"),
        ('{"op": "=", "args": [{"property": "severity"}, NaN]}', "cql2-json", "NaN and Infinity"),
        ("severity >=", "cql2-text", "does not parse as CQL2 text (at line 1, column 12)"),
        ("((((", "cql2-text", "does not parse as CQL2 text"),
    ],
)
def test_unparsable_filters_give_our_reason_not_the_parsers(live_server, data, filter_text, lang, reason):
    for path in FEEDS:
        doc = assert_problem(get(live_server, path, **{"filter-lang": lang, "filter": filter_text}), 400, "filter")
        assert reason in doc["errors"][0]["reason"]
        for parser_words in ("-->", "expected GEOMETRY", "Expecting", "recursion"):  # cql2's and json's messages
            assert parser_words not in json.dumps(doc)


# --- A. numbers too large, digits of other scripts, lone surrogates in parameters -------------------------
@pytest.mark.parametrize(
    "path,param,value,reason",
    [
        (ITEMS, "severity", "9" * 400, "at most 15 digits"),
        (ITEMS, "severity", "\u0663", "at most 15 digits"),  # ARABIC-INDIC DIGIT THREE: int() takes it
        (ITEMS, "severity", "7", "must be <= 5"),
        (ITEMS, "category", "nope", "must be one of"),
        (ITEMS, "occurred_at", "2025-03-15", "RFC 3339 date-time"),
        (ITEMS, "occurred_at", "0001-01-01T00:00:00+23:00", "out of the supported range"),
        (ITEMS, "occurred_at", "2025-03-15T12:00:00+24:00", "is not an RFC 3339 date-time"),
        (ITEMS, "datetime", "0001-01-01T00:30:00+01:00/..", "out of the supported range"),
        ("/ogc/collections/land_use/items", "area_m2", "1" + "0" * 400, "finite"),
        ("/ogc/collections/land_use/items", "area_m2", "1e400", "finite"),
        ("/ogc/collections/land_use/items", "area_m2", "nan", "finite"),
        ("/ogc/collections/land_use/items", "area_m2", "-inf", "finite"),
        ("/ogc/collections/land_use/items", "population", "1" + "0" * 20, "at most 15 digits"),
        (ITEMS, "bbox", "0,0,1e400,1", "finite"),
        (ITEMS, "bbox", "", "4 or 6"),
        (ITEMS, "cursor", "", "not a cursor"),
        (ITEMS, "filter-lang", "sql", "must be one of"),
        (ITEMS, "f", "xml", "must be one of"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(live_server, data, path, param, value, reason):
    feeds = [path] if path.startswith("/ogc/collections/land_use") else FEEDS
    for p in feeds if param not in ("f",) else [path]:
        assert_problem(get(live_server, p, **{param: value}), 400, param, reason)


def test_tiny_numbers_are_just_numbers(live_server, data):
    r = get(live_server, "/ogc/collections/land_use/items", area_m2="1e-400")  # 0.0: matches nothing
    assert r.status_code == 200 and r.json()["numberReturned"] == 0
    assert get(live_server, "/ogc/collections/land_use/items", area_m2="1.5").json()["numberReturned"] == 1


# --- A. datetimes with odd offsets (PostgreSQL refuses offsets beyond ±15:59) -------------------------------
def test_an_instant_with_any_valid_offset_matches_the_same_moment(live_server, data):
    # 2025-03-15T12:00:00Z written at +23:51 and -20:07
    for same in ("2025-03-16T11:51:00+23:51", "2025-03-14T15:53:00-20:07"):
        r = get(live_server, ITEMS, occurred_at=same)
        assert r.status_code == 200 and r.json()["numberReturned"] == 1, r.text[:300]
        assert get(live_server, ITEMS, datetime=same).json()["numberReturned"] == 1
        cql = {"op": "=", "args": [T, {"timestamp": same}]}
        assert (
            get(live_server, ITEMS, **{"filter-lang": "cql2-json", "filter": json.dumps(cql)}).json()["numberReturned"]
            == 1
        )


@pytest.mark.parametrize(
    "path,param,value",
    [
        ("/export/crime.gpkg", "occurred_at", "1096-04-14T03:35:15.317025+23:51"),
        ("/export/urban_life.shp.zip", "observed_at", "1281-04-06T14:21:55.856+21:18"),
        ("/export/crime.csv", "datetime", "1096-04-14T03:35:15+23:51/2025-03-16T11:51:00+23:51"),
        ("/export/crime.geojson", "occurred_at", "2025-03-16T11:51:00+23:51"),
    ],
)
def test_exports_filtered_on_far_past_dates_and_odd_offsets(live_server, data, tmp_path, path, param, value):
    r = get(live_server, path, **{param: value})
    assert r.status_code == 200, r.text[:300]
    out = tmp_path / path.rsplit("/", 1)[1]
    out.write_bytes(r.content)
    if path.endswith(".shp.zip"):
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            assert "urban_life.shp" in z.namelist()
        assert len(pyogrio.read_dataframe(f"/vsizip/{out}/urban_life.shp")) == 0
    elif path.endswith(".gpkg"):
        assert len(pyogrio.read_dataframe(out)) == 0
    elif path.endswith(".csv"):
        assert len(r.text.splitlines()) == 2  # the header and the one report at 2025-03-15T12:00:00Z
    else:
        assert len(r.json()["features"]) == 1


# --- A. report bodies -------------------------------------------------------------------------------------------
def crime_body(**props) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
        "properties": {"category": "theft", "severity": 2, "occurred_at": WHEN, **props},
    }


def raw(doc: dict) -> str:
    """``doc`` as JSON text with the placeholders ``"@HUGE@"`` and ``"@SURROGATE@"`` put in raw."""
    return json.dumps(doc).replace('"@HUGE@"', "1" + "0" * 400).replace("@SURROGATE@", "\\ud800")


MARS = "+proj=longlat +a=3396190 +b=3376200"


@pytest.mark.parametrize(
    "layer,body,params,field,reason",
    [
        ("crime", DEEP, {}, "body", "nests arrays or objects too deeply"),
        ("crime", '{"type": "Feature", "geometry": ' + "[" * 3000 + "]" * 3000 + "}", {}, "body", "too deeply"),
        ("crime", raw(crime_body(description="@SURROGATE@")), {}, "properties.description", "lone surrogates"),
        ("crime", raw(crime_body(reporter_name="x@SURROGATE@")), {}, "properties.reporter_name", "lone surrogates"),
        (
            "health_centres",
            raw({**crime_body(), "properties": {"services": ["dental", "@SURROGATE@"]}}),
            {},
            "properties.services",
            "lone surrogates",
        ),
        ("crime", raw(crime_body(severity="@HUGE@")), {}, "properties.severity", "finite"),
        (
            "crime",
            raw({**crime_body(), "geometry": {"type": "Point", "coordinates": ["@HUGE@", 39.96]}}),
            {},
            "geometry.coordinates",
            "finite",
        ),
        (
            "land_use",
            raw(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
                    "properties": {"land_class": "titled", "area_m2": "@HUGE@"},
                }
            ),
            {},
            "properties.area_m2",
            "finite",
        ),
        (
            "land_use",
            raw(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
                    "properties": {"land_class": "titled", "population": 10**20},
                }
            ),
            {},
            "properties.population",
            "must be between",
        ),
        ("crime", json.dumps(crime_body()), {"crs": MARS}, "crs", "cannot be transformed to WGS 84"),
        ("crime", json.dumps({**crime_body(), "crs": MARS}), {}, "crs", "cannot be transformed to WGS 84"),
        ("crime", json.dumps({**crime_body(), "crs": "IAU_2015:49900"}), {}, "crs", "cannot be transformed"),
        ("crime", json.dumps(crime_body()), {"crs": "EPSG:5714"}, "crs", "not a geographic or projected CRS"),
        ("crime", json.dumps(crime_body()), {"crs": "EPSG:4978"}, "crs", "not a geographic or projected CRS"),
        ("crime", raw({**crime_body(), "crs": "EPSG:@SURROGATE@"}), {}, "crs", "unknown coordinate reference"),
        ("crime", json.dumps(crime_body()), {"crs": "+proj=pipeline +step +proj=unitconvert"}, "crs", "unknown"),
    ],
)
def test_hostile_report_bodies_are_422_naming_the_field(live_server, data, layer, body, params, field, reason):
    r = requests.post(
        f"{live_server}/api/layers/{layer}/reports",
        data=body.encode(),
        params=params,
        headers={"Content-Type": "application/geo+json"},
        timeout=60,
    )
    doc = assert_problem(r, 422, field, reason)
    assert "Error" not in json.dumps(doc) and "Proj" not in json.dumps(doc)
    with data.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reports WHERE source <> 'import'")).scalar() == 0


# --- A. item ids and path integers: ASCII digits only ---------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/ogc/collections/urban_life/items/9%C2%B2",  # 9²: str.isdigit() is true, int() refuses it
        "/ogc/collections/crime-hotspots/items/%C2%B3",
        "/ogc/collections/crime/items/%D9%A3",  # ٣, which int() takes
        "/ogc/collections/crime/items/99999999999999999999999",
        "/tiles/crime/%D9%A3/0/0.mvt",
        "/api/scores/crime/%D9%A3",
        "/api/scores/crime/99999999999999999999999",
    ],
)
def test_ids_that_are_not_ascii_digits_are_a_404_problem(live_server, data, path):
    r = requests.get(live_server + path, timeout=30)
    assert r.status_code == 404 and r.headers["Content-Type"] == PROBLEM
    assert r.json()["status"] == 404 and "Traceback" not in r.text
    if "/items/" in path:  # the item route takes any text and says which part is wrong
        assert_problem(r, 404, "featureId", "ASCII digits")


def test_an_ascii_id_still_finds_its_feature(live_server, data):
    r = requests.get(f"{live_server}/ogc/collections/crime/items/1", timeout=30)
    assert r.status_code == 200 and r.json()["id"] == 1


# --- B. statuses through the class hierarchy ------------------------------------------------------------------
def test_subclasses_answer_with_their_parents_status(engine):
    assert status_of(ArchiveRefused("archive_not_zip", "archive", "is not a zip file")) == 422
    assert status_of(ImportFailed("x")) == 422
    assert status_of(gtfs_import.GtfsInvalid(gtfs_import.GtfsReport("f"))) == 422
    assert issubclass(ScoreRefused, MapperError) and status_of(ScoreRefused("too few")) == 422
    with pytest.raises(ValidationFailed) as e:  # was a bare ValueError
        create_api_token(engine, "king", "nobody")
    assert e.value.problems[0].field == "role" and status_of(e.value) == 422


def test_a_refused_archive_is_a_422_not_a_400(live_server, data, engine):
    admin = create_api_token(engine, "admin", "hostile")
    r = requests.post(
        f"{live_server}/api/gtfs/feeds",
        params={"name": "junk"},
        data=b"PK\x03\x04 this is not a zip archive",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/zip"},
        timeout=60,
    )
    assert_problem(r, 422, "archive", "is not")
    assert r.json()["title"] == "GTFS archive refused"


def test_gtfs_notices_carry_our_words_not_postgresqls(engine, tmp_path):
    stops = "stop_id,stop_name,stop_lat,stop_lon\nS1,One,40.0,-83.0\nS2,Two,40.01,-83.01,extra,more\n"
    path = tmp_path / "ragged.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("stops.txt", stops)
        z.writestr("agency.txt", "agency_id,agency_name,agency_url,agency_timezone\nA,A,https://a.example,UTC\n")
    with pytest.raises(gtfs_import.GtfsInvalid) as e:
        gtfs_import.import_feed(engine, path, "ragged")
    failed = [n for n in e.value.report.notices if n.code == "csv_parsing_failed"]
    assert failed and failed[0].value == gtfs_import.CSV_FAILED and failed[0].row == 3


# --- B. problem+json for every error of a JSON route; a 500 says nothing -----------------------------------
@pytest.mark.parametrize(
    "method,path,status",
    [
        ("GET", "/tiles/crime/a/b/c.mvt", 404),
        ("GET", "/tiles/nope/0/0/0.mvt", 404),
        ("GET", "/tiles/crime/0/0/9.mvt", 400),
        ("GET", "/export/crime/extra", 404),
        ("GET", "/export/crime.xlsx", 404),
        ("GET", "/api/nope", 404),
        ("GET", "/ogc/nope", 404),
        ("DELETE", "/api/layers", 405),
        ("PUT", "/ogc/collections/crime/items", 405),
        ("POST", "/tiles/crime/0/0/0.mvt", 405),
        ("POST", "/export/crime.csv", 405),
    ],
)
def test_json_routes_answer_problem_json_for_every_error(live_server, data, method, path, status):
    r = requests.request(method, live_server + path, headers={"Accept": "*/*"}, timeout=30)
    assert r.status_code == status and r.headers["Content-Type"] == PROBLEM, (r.status_code, r.text[:200])
    assert r.json()["status"] == status and "<html" not in r.text.lower()
    if status == 405:
        assert r.headers["Allow"]


def test_html_pages_keep_html_errors(live_server, data):
    r = requests.get(live_server + "/no-such-page", headers={"Accept": "text/html"}, timeout=30)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    r = requests.get(live_server + "/ogc/nope?f=html", timeout=30)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")


@pytest.fixture(scope="module")
def failing_app(database_url):
    """The real app with two routes that fail as nobody foresaw (with a message naming SQL and a secret)."""
    app = create_app({"DATABASE_URL": database_url, "TILES_URL": "", "SECRET_KEY": "test"})

    def boom():
        raise RuntimeError('SELECT secret FROM "reports" failed at /srv/mapper/secret.py line 7')

    app.add_url_rule("/api/boom", "api_boom", boom)
    app.add_url_rule("/boom", "page_boom", boom)
    return app


def test_an_unexpected_error_is_logged_and_answered_with_a_bare_500(failing_app, caplog):
    client = failing_app.test_client()
    with caplog.at_level(logging.ERROR):
        r = client.get("/api/boom")
    assert r.status_code == 500 and r.content_type == PROBLEM
    body = r.get_data(as_text=True)
    for leak in ("secret", "SELECT", "RuntimeError", "Traceback", ".py"):
        assert leak not in body
    assert r.get_json()["status"] == 500
    assert any(rec.exc_info and "SELECT secret" in str(rec.exc_info[1]) for rec in caplog.records)
    page = client.get("/boom", headers={"Accept": "text/html"})
    assert page.status_code == 500 and page.content_type.startswith("text/html")
    for leak in ("secret", "SELECT", "RuntimeError", "Traceback"):
        assert leak not in page.get_data(as_text=True)


# --- C. generated input: never a 5xx -----------------------------------------------------------------------
PROPERTIES = ["category", "severity", "occurred_at", "observed_at", "id", "status", "geometry", "services", "nope"]
OPS = ["and", "or", "not", "=", "<>", "<", "<=", ">", ">=", "like", "in", "between", "isNull"]
OPS += ["s_intersects", "s_within", "s_contains", "s_disjoint", "t_intersects", "t_before", "t_after"]
OPS += ["t_during", "anyinteracts", "casei", "strlen", "+"]
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 1e-320, 5e-324, 1.7976931348623157e308, 2**63, -(2**63) - 1]),
)
INSTANTS = st.sampled_from(
    ["2025-03-15T12:00:00Z", "2025-03-15", "..", "1096-04-14T03:35:15.317025+23:51", "0001-01-01T00:00:00+01:00"]
    + ["9999-12-31T23:59:59-23:59", "2025-13-45T99:99:99Z", "2025-03-15T12:00:00", ""]
)
STRINGS = st.one_of(st.text(max_size=12), st.sampled_from(["\ud800", "\x00", "theft", "%", "'; DROP TABLE x; --"]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, STRINGS, INSTANTS)
PROPERTY_REFS = st.one_of(
    st.sampled_from(PROPERTIES).map(lambda p: {"property": p}),
    st.one_of(SCALARS, st.lists(SCALARS, max_size=2)).map(lambda p: {"property": p}),
)
LITERALS = st.one_of(
    SCALARS,
    INSTANTS.map(lambda t: {"timestamp": t}),
    INSTANTS.map(lambda t: {"date": t}),
    st.lists(st.one_of(INSTANTS, SCALARS), max_size=3).map(lambda i: {"interval": i}),
    st.lists(NUMBERS, max_size=7).map(lambda b: {"bbox": b}),
    st.builds(
        lambda t, c: {"type": t, "coordinates": c},
        st.sampled_from(["Point", "Polygon", "LineString", "MultiPoint", "Nope"]),
        st.recursive(NUMBERS, lambda xs: st.lists(xs, max_size=5), max_leaves=12),
    ),
)


def _operation(children):
    ops = st.one_of(st.sampled_from(OPS), SCALARS)
    args = st.one_of(st.lists(children, max_size=4), children)
    return st.one_of(
        st.builds(lambda op, a: {"op": op, "args": a}, ops, args),
        st.builds(lambda op: {"op": op}, ops),
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["op", "args", "property", "x"]), children, max_size=3),
    )


CQL_TREES = st.recursive(st.one_of(LITERALS, PROPERTY_REFS), _operation, max_leaves=16)
NUMBER_TEXT = st.one_of(
    NUMBERS.map(repr),
    st.sampled_from(["1" + "0" * 400, "1e-400", "1e400", "nan", "-inf", "Infinity", "0x10", "1_000", "\u0663", ""]),
)
PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "severity": NUMBER_TEXT,
        "bbox": st.lists(NUMBER_TEXT, min_size=0, max_size=7).map(",".join),
        "limit": NUMBER_TEXT,
        "datetime": st.one_of(INSTANTS, st.tuples(INSTANTS, INSTANTS).map("/".join)),
        "occurred_at": INSTANTS,
        "category": STRINGS.filter(lambda s: "\ud800" not in s),
    },
)
PATHS = st.sampled_from(
    [
        ITEMS,
        "/export/crime.geojson",
        "/export/crime.csv",
        "/tiles/crime/3/2/3.mvt",
        "/ogc/collections/health_centres/items",
    ]
)


def _request_args(tree, params, as_text: bool):
    query = dict(params)
    if tree is not None:
        query["filter-lang"] = "cql2-json"
        query["filter"] = json.dumps(tree)
    if as_text:  # what reaches a server over HTTP: UTF-8 (lone surrogates cannot travel in a URL)
        query = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in query.items()}
    return query


def _check(status: int, content_type: str, body: bytes):
    assert status < 500, body[:500]
    if status >= 400 and status != 404:
        assert content_type == PROBLEM and json.loads(body)["errors"], body[:500]


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(path=PATHS, tree=st.one_of(st.none(), CQL_TREES), params=PARAMS)
def test_generated_filters_and_numbers_never_give_a_5xx(app, data, path, tree, params):
    r = app.test_client().get(path, query_string=_request_args(tree, params, as_text=True))
    _check(r.status_code, r.content_type, r.get_data())


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(path=PATHS, tree=st.one_of(st.none(), CQL_TREES), params=PARAMS)
def test_generated_filters_over_http_never_give_a_5xx(live_server, data, path, tree, params):
    r = requests.get(live_server + path, params=_request_args(tree, params, as_text=True), timeout=60)
    _check(r.status_code, r.headers.get("Content-Type", ""), r.content)
