"""Scores stay current: per-report scores are written with the report, area and hot spot scores by
``mapper worker`` (real subprocesses, the real database, advisory locks between real processes)."""

from __future__ import annotations

import signal
import subprocess
import time

from sqlalchemy import text

from mapper.services.importer import import_frame
from mapper.services.worker import Worker
from tests.test_scores import crime_points, water_report


def runs(engine, layer: str, method: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM score_runs WHERE layer = :l AND method = :m"), {"l": layer, "m": method}
        ).scalar_one()


def all_runs(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM score_runs")).scalar_one()


def version(engine, layer: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version FROM layer_versions WHERE layer = :l"), {"l": layer}).scalar() or 0


def post_crime(client, lon=-83.0, lat=39.96):
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"category": "theft", "severity": 3, "occurred_at": "2026-10-02T12:00:00Z"},
    }
    r = client.post("/api/layers/crime/reports", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def worker_once(cli_env, **settings) -> subprocess.Popen:
    env = {**cli_env, **{f"MAPPER_{k}": str(v) for k, v in settings.items()}}
    return subprocess.Popen(["mapper", "worker", "--once"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finished(p: subprocess.Popen) -> str:
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err.decode()
    return out.decode()


def test_a_water_report_is_scored_by_the_time_its_post_returns(client, engine):
    rid = water_report(client, "Kiosk 9", sampled_at="2026-05-10T09:00:00Z", e_coli_cfu_100ml=12, ph=7.0)
    doc = client.get(f"/api/scores/water_quality/{rid}")
    assert doc.status_code == 200, doc.get_json()
    (score,) = [s for s in doc.get_json()["scores"] if s["method"] == "water_quality"]
    assert score["result"]["safety"] == "unsafe" and score["reports_used"] == 1
    assert score["parameters"]["data_versions"] == {"water_quality": version(engine, "water_quality")}
    second = water_report(client, "Kiosk 9", sampled_at="2026-05-11T09:00:00Z", e_coli_cfu_100ml=0, ph=7.1)
    latest = client.get("/api/scores/water_quality").get_json()["scores"]["water_quality"]
    assert latest["computed_at"] and [r["reports_used"] for r in latest["results"]] == [2]
    assert client.get(f"/api/scores/water_quality/{second}").get_json()["scores"][0]["run_id"] == latest["run_id"]
    assert runs(engine, "water_quality", "water_quality") == 2  # one per report, in its own transaction


def test_a_rejected_report_leaves_no_score_run(client, engine):
    r = client.post("/api/layers/water_quality/reports", json={"type": "Feature", "geometry": None, "properties": {}})
    assert r.status_code == 422
    assert all_runs(engine) == 0


def test_imports_score_their_layer_once_in_their_transaction(engine, clean, registry):
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame(
        {
            "point_name": ["A", "A", "B"],
            "source_type": ["borehole"] * 3,
            "functional_status": ["functional"] * 3,
            "sampled_at": ["2026-05-10T09:00:00Z"] * 3,
            "e_coli_cfu_100ml": [0, 3, 0],
        },
        geometry=shapely.points([-83.0, -83.0, -82.9], [39.96, 39.96, 39.97]),
        crs=4326,
    )
    import_frame(engine, registry.get("water_quality"), frame, "samples")
    assert runs(engine, "water_quality", "water_quality") == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scores")).scalar() == 2  # two water points


def test_the_worker_recomputes_a_changed_layer_once(cli_env, engine, clean, registry, client):
    import_frame(engine, registry.get("crime"), crime_points(200), "pts")
    out = finished(worker_once(cli_env, SCORE_REFRESH_S=0))
    assert "crime hotspots:" in out and runs(engine, "crime", "hotspots") == 1
    before = version(engine, "crime")
    post_crime(client)
    assert version(engine, "crime") > before
    out = finished(worker_once(cli_env, SCORE_REFRESH_S=0))
    assert runs(engine, "crime", "hotspots") == 2 and "crime hotspots:" in out
    with engine.connect() as conn:
        seen = conn.execute(text("SELECT params FROM score_runs WHERE method = 'hotspots' ORDER BY id DESC")).scalar()
    assert seen["data_versions"] == {"crime": version(engine, "crime")}
    total = all_runs(engine)
    out = finished(worker_once(cli_env, SCORE_REFRESH_S=0))  # a refused score (empty layers) may be retried
    assert "crime" not in out and "(run " not in out and all_runs(engine) == total


def test_two_workers_on_one_changed_layer_make_one_run(cli_env, engine, clean, registry):
    import_frame(engine, registry.get("crime"), crime_points(300), "pts")
    workers = [worker_once(cli_env, SCORE_REFRESH_S=0) for _ in range(2)]
    outs = [finished(p) for p in workers]
    assert runs(engine, "crime", "hotspots") == 1
    assert sum("crime hotspots:" in o for o in outs) == 1


def test_a_layer_changed_within_the_refresh_window_waits_for_it(engine, clean, registry, client):
    worker = Worker(engine, registry, refresh_s=3)
    import_frame(engine, registry.get("crime"), crime_points(200), "pts")
    assert [s.method for s in worker.run_once() if s.layer == "crime"] == ["hotspots"]
    post_crime(client)
    assert not [s for s in worker.run_once() if s.layer == "crime"]  # changed, but ran < 3 s ago
    assert runs(engine, "crime", "hotspots") == 1
    with engine.connect() as conn:
        left = conn.execute(
            text(
                "SELECT extract(epoch FROM computed_at + interval '3 s' - now()) FROM score_runs WHERE layer = 'crime'"
            )
        ).scalar()
    time.sleep(max(0.0, float(left)) + 0.2)
    assert [s.method for s in worker.run_once() if s.layer == "crime"] == ["hotspots"]
    assert runs(engine, "crime", "hotspots") == 2
    assert not [s for s in worker.run_once() if s.layer == "crime"]


def test_the_long_running_worker_stops_on_sigterm(cli_env, clean):
    for sig in (signal.SIGTERM, signal.SIGINT):
        env = {**cli_env, "MAPPER_WORKER_POLL_S": "0.5", "PYTHONUNBUFFERED": "1"}
        p = subprocess.Popen(["mapper", "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert "scores worker:" in p.stdout.readline()
            time.sleep(1)  # a pass or two
            started = time.monotonic()
            p.send_signal(sig)
            out, err = p.communicate(timeout=10)
            assert time.monotonic() - started < 5
            assert p.returncode == 0, err
            assert "scores worker stopped" in out and "Traceback" not in err
        finally:
            if p.poll() is None:
                p.kill()
