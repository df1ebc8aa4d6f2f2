"""Photos on reports, on the real database and through the real app: every upload decoded and re-encoded by Pillow
(no EXIF, GPS, ICC, XMP or text left, in the stored bytes and in the served ones), bad files and bombs refused
naming the file with nothing stored, and each photo seen exactly as its report's visibility and its own hiding
allow."""

from __future__ import annotations

import io
import json
import os
import re

import pytest
from PIL import Image, ImageCms, PngImagePlugin
from playwright.sync_api import expect
from sqlalchemy import text

from mapper.domain import photos as domain
from mapper.services.tokens import create_api_token
from tests import test_report_browser as form_tests
from tests.conftest import count
from tests.test_report_browser import expect_result, fill_crime, open_form, the_report

new_page, page_watch = form_tests.new_page, form_tests.page_watch  # the report form tests' fixtures

URBAN = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
    "properties": {"sentiment": "negative", "theme": "lighting"},
}
CRIME = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
    "properties": {"category": "theft", "severity": 2, "occurred_at": "2026-11-01T21:30:00Z"},
}
GPS_IFD, EXIF_IFD = 0x8825, 0x8769


def picture(size=(640, 480), mode="RGB") -> Image.Image:
    """An image with detail (a gradient), so its encodings are not trivially small."""
    img = Image.linear_gradient("L").resize(size)
    return img if mode == "L" else Image.merge("RGB", (img, img.rotate(90), img.transpose(Image.FLIP_LEFT_RIGHT)))


def jpeg_with_gps(size=(640, 480), orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif.get_ifd(EXIF_IFD)[0xA431] = "SERIAL-123456"  # BodySerialNumber
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (39.0, 57.0, 36.0), 3: "W", 4: (83.0, 0.0, 0.0)})
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    picture(size).save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def encoded(fmt: str, img: Image.Image | None = None, **params) -> bytes:
    out = io.BytesIO()
    (img or picture()).save(out, fmt, **params)
    return out.getvalue()


def has_no_metadata(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert not img.getexif() and not img.getexif().get_ifd(GPS_IFD), "EXIF left"
    assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "Comment"} & set(img.info), img.info
    assert b"SpyCam" not in data and b"SERIAL-123456" not in data
    return img


def send(client, layer: str, feature: dict, files, headers=None):
    """POST a multipart report: ``files`` as (bytes, filename) pairs, sent as parts ``photo``."""
    data = {"feature": json.dumps(feature), "photo": [(io.BytesIO(b), name) for b, name in files]}
    return client.post(f"/api/layers/{layer}/reports", data=data, content_type="multipart/form-data", headers=headers)


def bearer(engine, role: str) -> dict:
    return {"Authorization": f"Bearer {create_api_token(engine, role, 'photo-test')}"}


def stored(engine, report_id: int) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM report_photos WHERE report_id = :r ORDER BY position"), {"r": report_id}
        ).mappings()
        return [dict(r) for r in rows]


# --- metadata dropped ---------------------------------------------------------------------------------------------
def test_a_photo_with_gps_exif_is_stored_and_served_without_any(client, engine):
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the upload does carry GPS
    r = send(client, "urban_life", URBAN, [(original, "street.jpg")])
    assert r.status_code == 201, r.get_json()
    rid = r.get_json()["id"]
    assert r.get_json()["photos"] == [f"/api/reports/{rid}/photos/1"]
    (row,) = stored(engine, rid)
    for data in (bytes(row["data"]), bytes(row["thumbnail"])):
        has_no_metadata(data)
    assert row["content_type"] == "image/jpeg" and (row["width"], row["height"]) == (640, 480)
    served = client.get(f"/api/reports/{rid}/photos/1")
    assert served.status_code == 200 and served.data == bytes(row["data"])
    assert has_no_metadata(served.data).format == "JPEG"
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"] == "inline"
    assert served.headers["Cache-Control"] == "public, no-cache" and served.headers["ETag"]
    again = client.get(f"/api/reports/{rid}/photos/1", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304


def test_orientation_is_applied_before_it_is_dropped(client, engine):
    r = send(client, "urban_life", URBAN, [(jpeg_with_gps((600, 400), orientation=6), "sideways.jpg")])
    assert r.status_code == 201, r.get_json()
    (row,) = stored(engine, r.get_json()["id"])
    assert (row["width"], row["height"]) == (400, 600)
    assert Image.open(io.BytesIO(bytes(row["data"]))).size == (400, 600)


def test_png_and_webp_are_accepted_by_content_and_lose_their_text_and_profiles(client, engine):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "home address: 1 Main St")
    png = encoded("PNG", pnginfo=info, icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    sent = Image.open(io.BytesIO(png))
    assert {"icc_profile", "Comment"} <= set(sent.info)
    webp = encoded("WEBP", exif=Image.Exif().tobytes(), icc_profile=b"\0" * 128)
    # named as something else: the content decides
    r = send(client, "urban_life", URBAN, [(png, "a.jpg"), (webp, "b.png"), (encoded("JPEG"), "c")])
    assert r.status_code == 201, r.get_json()
    rows = stored(engine, r.get_json()["id"])
    assert [x["content_type"] for x in rows] == ["image/png", "image/webp", "image/jpeg"]
    assert [x["position"] for x in rows] == [1, 2, 3]
    for row in rows:
        img = has_no_metadata(bytes(row["data"]))
        assert "Comment" not in img.info and b"Main St" not in bytes(row["data"])


def test_the_thumbnail_is_smaller_and_at_most_320_px(client, engine):
    r = send(client, "urban_life", URBAN, [(jpeg_with_gps((1600, 1200)), "big.jpg")])
    rid = r.get_json()["id"]
    full, thumb = client.get(f"/api/reports/{rid}/photos/1"), client.get(f"/api/reports/{rid}/photos/1/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/webp"
    assert thumb.headers["X-Content-Type-Options"] == "nosniff"
    assert len(thumb.data) < len(full.data)
    shown = has_no_metadata(thumb.data)
    assert shown.format == "WEBP" and max(shown.size) == domain.THUMBNAIL_PX and shown.size == (320, 240)


# --- refusals: 422 naming the file, nothing stored ---------------------------------------------------------------
def bomb_png() -> bytes:
    """8000×6000 pixels (48 MP, more than 40) in a few kilobytes."""
    return encoded("PNG", Image.new("1", (8000, 6000)), optimize=True)


CASES = {
    "text_renamed": (lambda: b"just some notes, not a picture\n" * 20, "notes.jpg", "is not a JPEG, PNG or WebP"),
    "truncated": (lambda: jpeg_with_gps((800, 600))[:3000], "cut.jpg", "damaged or incomplete"),
    "bomb": (bomb_png, "bomb.png", "at most 40 megapixels"),
    "too_large": (lambda: os.urandom(9 * 1024 * 1024), "huge.jpg", "larger than 8 MB"),
    "gif": (lambda: encoded("GIF"), "anim.gif", "is not a JPEG, PNG or WebP"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_is_refused_naming_it_and_nothing_is_stored(client, engine, case):
    make, name, reason = CASES[case]
    data = make()
    if case == "bomb":
        assert len(data) < 100_000
    r = send(client, "urban_life", URBAN, [(encoded("JPEG"), "fine.jpg"), (data, name)])
    assert r.status_code == 422, r.get_json()
    assert r.content_type == "application/problem+json"
    (problem,) = r.get_json()["errors"]
    assert problem["field"] == "photo[2]" and name in problem["reason"] and reason in problem["reason"], problem
    assert count(engine) == 0 and count(engine, "report_photos") == 0


def test_a_fourth_photo_is_refused_naming_it(client, engine):
    files = [(encoded("JPEG"), f"p{n}.jpg") for n in range(1, 5)]
    r = send(client, "urban_life", URBAN, files)
    assert r.status_code == 422
    (problem,) = r.get_json()["errors"]
    assert problem["field"] == "photo[4]" and "p4.jpg" in problem["reason"] and "at most 3" in problem["reason"]
    assert count(engine) == 0 and count(engine, "report_photos") == 0


def test_photo_and_feature_problems_are_reported_together(client, engine):
    bad = {**URBAN, "properties": {"sentiment": "meh"}}
    r = send(client, "urban_life", bad, [(b"nope", "x.webp")])
    assert r.status_code == 422
    fields = {e["field"] for e in r.get_json()["errors"]}
    assert {"photo[1]", "properties.sentiment", "properties.theme"} <= fields
    assert count(engine) == 0


def test_multipart_bodies_are_bounded_and_checked(client, engine):
    limit = domain.MAX_PHOTOS * domain.MAX_BYTES + 262144 + 64 * 1024
    huge = [(b"\0" * (limit // 3 + 1), f"{n}.jpg") for n in range(3)]
    assert send(client, "urban_life", URBAN, huge).status_code == 413
    no_feature = client.post(
        "/api/layers/urban_life/reports",
        data={"photo": [(io.BytesIO(encoded("JPEG")), "a.jpg")]},
        content_type="multipart/form-data",
    )
    assert no_feature.status_code == 422 and no_feature.get_json()["errors"][0]["field"] == "feature"
    other = client.post(
        "/api/layers/urban_life/reports",
        data={"feature": json.dumps(URBAN), "extra": "x"},
        content_type="multipart/form-data",
    )
    assert other.status_code == 422 and other.get_json()["errors"][0]["field"] == "extra"
    # a browser on another site may post a form without a preflight: refused; our own origin is fine
    cross = send(client, "urban_life", URBAN, [], headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and cross.get_json()["errors"][0]["field"] == "Origin"
    assert count(engine) == 0
    assert send(client, "urban_life", URBAN, [], headers={"Origin": "http://localhost"}).status_code == 201
    assert client.post("/api/layers/urban_life/reports", json=URBAN).status_code == 201  # JSON as before


def test_the_idempotency_key_covers_the_photos_bytes(client, engine):
    key = {"Idempotency-Key": "photo-key-1"}
    first = send(client, "urban_life", URBAN, [(encoded("JPEG"), "a.jpg")], headers=key)
    replay = send(client, "urban_life", URBAN, [(encoded("JPEG"), "a.jpg")], headers=key)
    assert first.status_code == replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["id"] == first.get_json()["id"]
    other = send(client, "urban_life", URBAN, [(encoded("PNG"), "a.jpg")], headers=key)
    assert other.status_code == 409
    assert count(engine) == 1 and count(engine, "report_photos") == 1


# --- who sees a photo ----------------------------------------------------------------------------------------------
def test_a_photo_of_an_unpublished_report_is_seen_by_its_staff_only_until_verified(client, engine):
    r = send(client, "crime", CRIME, [(encoded("JPEG"), "bike.jpg")])
    assert r.status_code == 201 and r.get_json()["status"] == "submitted"
    rid = r.get_json()["id"]
    police, moderator, utility = bearer(engine, "police"), bearer(engine, "moderator"), bearer(engine, "utility")
    url = f"/api/reports/{rid}/photos/1"
    assert client.get(url).status_code == 404 and client.get(url + "/thumbnail").status_code == 404
    assert client.get(url, headers=utility).status_code == 404  # a role that does not handle crime reports
    for staff in (police, moderator):
        seen = client.get(url, headers=staff)
        assert seen.status_code == 200 and seen.headers["Content-Type"] == "image/jpeg"
        assert "private" in seen.headers["Cache-Control"] and "public" not in seen.headers["Cache-Control"]
    assert client.post(f"/api/reports/{rid}/transitions", json={"to": "verified"}, headers=police).status_code == 200
    assert client.get(url).status_code == 200 and client.get(url + "/thumbnail").status_code == 200
    assert client.get(f"/api/reports/{rid}/photos/2").status_code == 404


def test_a_moderator_hides_one_photo_and_its_sibling_stays(client, engine):
    r = send(client, "urban_life", URBAN, [(encoded("JPEG"), "face.jpg"), (encoded("PNG"), "street.png")])
    rid = r.get_json()["id"]
    moderator, police, admin = bearer(engine, "moderator"), bearer(engine, "police"), bearer(engine, "admin")
    hide = f"/api/reports/{rid}/photos/1/hide"
    assert client.post(hide).status_code == 401  # anonymous: the route's rule (web.access), before any lookup
    refused = client.post(hide, headers=police)
    assert refused.status_code == 403 and refused.get_json()["errors"][0]["field"] == "Authorization"
    assert client.get(f"/api/reports/{rid}/photos/1").status_code == 200  # nothing changed
    done = client.post(hide, headers=moderator)
    assert done.status_code == 200 and done.get_json()["hidden"] is True
    (row, sibling) = stored(engine, rid)
    assert row["hidden_at"] is not None and row["hidden_by"].startswith("token:") and sibling["hidden_at"] is None
    assert client.get(f"/api/reports/{rid}/photos/1").status_code == 404
    assert client.get(f"/api/reports/{rid}/photos/1/thumbnail").status_code == 404
    assert client.get(f"/api/reports/{rid}/photos/2").status_code == 200
    assert client.get(f"/api/reports/{rid}/photos/1", headers=police).status_code == 200  # handles urban_life
    assert client.get("/ogc/collections/urban_life/items").get_json()["numberReturned"] == 1  # report stays
    assert client.post(f"/api/reports/{rid}/photos/3/hide", headers=moderator).status_code == 404
    assert client.post(f"/api/reports/{rid}/photos/1/unhide", headers=admin).status_code == 200
    assert client.get(f"/api/reports/{rid}/photos/1").status_code == 200
    assert stored(engine, rid)[0]["hidden_by"] is None


def test_photos_of_a_hidden_report_are_not_public(client, engine):
    r = send(client, "urban_life", URBAN, [(encoded("JPEG"), "a.jpg")])
    rid = r.get_json()["id"]
    moderator = bearer(engine, "moderator")
    assert client.get(f"/api/reports/{rid}/photos/1").status_code == 200
    moved = client.post(f"/api/reports/{rid}/transitions", json={"to": "hidden"}, headers=moderator)
    assert moved.status_code == 200, moved.get_json()
    assert client.get(f"/api/reports/{rid}/photos/1").status_code == 404
    assert client.get(f"/api/reports/{rid}/photos/1", headers=moderator).status_code == 200


# --- the report form ------------------------------------------------------------------------------------------
@pytest.mark.browser
def test_the_form_sends_photos_and_names_a_refused_file(page_watch, engine):
    page, watch = page_watch
    open_form(page)
    fill_crime(page)
    expect(page.get_by_label(re.compile("^Photos"))).to_have_attribute("accept", "image/jpeg,image/png,image/webp")
    good = {"name": "street.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps()}
    bad = {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture at all\n" * 10}
    page.set_input_files("#photos", [good, bad])
    page.click("#submit")
    refused = page.locator("#err-photos li")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("notes.jpg")
    expect(page.locator("#photos")).to_have_attribute("aria-invalid", "true")
    assert count(engine) == 0 and count(engine, "report_photos") == 0
    page.set_input_files("#photos", [good])
    page.click("#submit")
    expect_result(page)
    (post_refused, post_sent) = watch.posts
    assert post_sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert post_refused.headers["idempotency-key"] != post_sent.headers["idempotency-key"]  # other files, new key
    (row,) = stored(engine, the_report(engine)["id"])
    has_no_metadata(bytes(row["data"]))
    assert [p for p in watch.problems() if "422" not in p] == []
