"""E-mail to reporters on each status change: queued by the transition (in its transaction), sent by the worker's
pass to a real SMTP server (aiosmtpd on a loopback port), retried with backoff while the server is down, never
lost and never sent twice; the message carries only what the tracking page shows."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from mapper import create_app
from mapper.config import ConfigurationError
from mapper.services import notifications
from mapper.services.notifications import Outbox
from mapper.services.tokens import create_api_token
from tests.conftest import count
from tests.servers import SUITE_LIMITS, free_port

PUBLIC_URL = "http://civic.example"
ADDRESS = "vecina@example.org"


class Sink:
    """An SMTP server's handler that keeps every message it accepts."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.rcpt_tos, message_from_bytes(envelope.original_content, policy=policy.default)))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def sink(smtp_port):
    """A real SMTP server on ``smtp_port``; ``sink.start()`` / ``sink.stop()`` bring it up and down."""
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.received = handler.received
    yield controller
    if getattr(controller, "_thread", None) is not None:
        controller.stop()


@pytest.fixture(scope="module")
def mail_app(database_url, smtp_port):
    settings = {"SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "PUBLIC_URL": PUBLIC_URL, "MAIL_FROM": "city@example.org"}
    return create_app({"DATABASE_URL": database_url, "TILES_URL": "", "SECRET_KEY": "test", **SUITE_LIMITS, **settings})


@pytest.fixture
def mail_client(mail_app, clean):
    return mail_app.test_client()


@pytest.fixture
def outbox(mail_app):
    return Outbox.from_settings(
        mail_app.extensions["mapper.engine"], mail_app.extensions["mapper.registry"], mail_app.config
    )


def report(client, email: str | None = ADDRESS, language: str = "en") -> dict:
    properties = {"sentiment": "negative", "theme": "lighting", "comment": "The street light is out"}
    if email is not None:
        properties["reporter_email"] = email
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
        "properties": properties,
    }
    made = client.post("/api/layers/urban_life/reports", json=feature, headers={"Accept-Language": language})
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def move(client, engine, rid: int, to: str, **body):
    police = {"Authorization": f"Bearer {create_api_token(engine, 'police', 'mail-test')}"}
    done = client.post(f"/api/reports/{rid}/transitions", json={"to": to, **body}, headers=police)
    assert done.status_code == 200, done.get_json()
    return done


def queue(engine, rid: int) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM mail_queue WHERE report_id = :r ORDER BY id"), {"r": rid})
        return [dict(r) for r in rows.mappings()]


def later(engine, seconds: float):
    with engine.connect() as conn:
        return conn.execute(text("SELECT now() + :s * interval '1 second'"), {"s": seconds}).scalar_one()


def body_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_the_reporter_gets_one_message_per_change_in_their_language(mail_client, engine, outbox, sink):
    sink.start()
    spanish = report(mail_client, language="es")
    rid = spanish["id"]
    move(mail_client, engine, rid, "verified", comment="Gracias por avisar", note="internal: unit 4 checks")
    move(mail_client, engine, rid, "in_progress", comment="Un equipo va en camino")
    move(mail_client, engine, rid, "resolved")
    silent = report(mail_client, email=None)
    move(mail_client, engine, silent["id"], "verified", comment="Thanks")
    assert len(queue(engine, rid)) == 3 and queue(engine, silent["id"]) == []
    assert sink.received == []  # nothing is sent by the transitions themselves
    # the queue holds no personal data: no address, no comment
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT row_to_json(q)::text FROM mail_queue q")).scalars().all()
    assert rows and not any(ADDRESS in r or "Gracias" in r for r in rows)

    done = outbox.send_due()
    assert (done.sent, done.failed, done.waiting) == (3, 0, 0)
    assert len(sink.received) == 3
    statuses = []
    for recipients, message in sink.received:
        assert recipients == [ADDRESS] and message["To"] == ADDRESS and message["From"] == "city@example.org"
        assert message["Subject"].startswith(f"Su informe {rid}") and message["Content-Language"] == "es"
        body = body_of(message)
        assert f"Su informe {rid}" in body
        assert "internal" not in body and "unit 4" not in body and "police" not in body and "token:" not in body
        statuses.append(re.search(r"^Estado: (.+)$", body, re.M).group(1).strip())
        (link,) = re.findall(rf"{re.escape(PUBLIC_URL)}/track/\S+", body)
        assert link == PUBLIC_URL + spanish["tracking_page"]
    assert statuses == ["verificado", "en curso", "resuelto"]
    assert "Gracias por avisar" in body_of(sink.received[0][1])
    assert "Un equipo va en camino" in body_of(sink.received[1][1])
    page = mail_client.get(link.removeprefix(PUBLIC_URL))  # the link opens the reporter's tracking page
    assert page.status_code == 200 and "Gracias por avisar" in page.get_data(as_text=True)
    # every message is sent once: the next pass finds nothing
    assert outbox.send_due() == notifications.MailPass(0, 0, 0, 0) and len(sink.received) == 3
    assert all(r["sent_at"] is not None and r["attempts"] == 0 for r in queue(engine, rid))


def test_without_smtp_url_nothing_is_queued(client, engine, app):
    assert app.config["SMTP_URL"] == ""
    made = report(client)
    move(client, engine, made["id"], "verified", comment="Thanks")
    assert count(engine, "mail_queue") == 0
    assert Outbox.from_settings(engine, app.extensions["mapper.registry"], app.config) is None


def test_a_down_server_delays_mail_but_loses_none(mail_client, engine, outbox, sink):
    made = report(mail_client)
    rid = made["id"]
    move(mail_client, engine, rid, "verified", comment="Seen")  # nothing listens on the port: answered at once
    move(mail_client, engine, rid, "in_progress", comment="On it")
    assert [r["attempts"] for r in queue(engine, rid)] == [0, 0]  # the transitions never tried to send

    failed = outbox.send_due()
    assert (failed.sent, failed.failed, failed.waiting) == (0, 2, 2)
    rows = queue(engine, rid)
    assert all(r["attempts"] == 1 and r["sent_at"] is None for r in rows)
    assert all("Connection" in r["last_error"] and ADDRESS not in r["last_error"] for r in rows)
    soon, cap = later(engine, 25), later(engine, 35)
    assert all(soon < r["next_attempt_at"] < cap for r in rows)  # retried 30 s later
    assert outbox.send_due().failed == 0  # not tried again before then

    sink.start()
    back = outbox.send_due(at=later(engine, 31))
    assert (back.sent, back.failed, back.waiting) == (2, 0, 0)
    assert [body_of(m).count(PUBLIC_URL + made["tracking_page"]) for _, m in sink.received] == [1, 1]
    assert ["Seen" in body_of(m) for _, m in sink.received] == [True, False]
    assert outbox.send_due(at=later(engine, 3600)).sent == 0 and len(sink.received) == 2  # none twice


def test_refused_messages_stay_queued_and_back_off(mail_client, engine, outbox, smtp_port):
    class Refusing(Sink):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return f"450 4.2.1 {address} is over quota"  # the server's text names the address

    controller = Controller(Refusing(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        rid = report(mail_client)["id"]
        move(mail_client, engine, rid, "verified")
        assert outbox.send_due().failed == 1
        assert outbox.send_due(at=later(engine, 31)).failed == 1
    finally:
        controller.stop()
    (row,) = queue(engine, rid)
    assert row["attempts"] == 2 and row["sent_at"] is None
    assert "over quota" in row["last_error"] and ADDRESS not in row["last_error"]
    assert later(engine, 55) < row["next_attempt_at"] < later(engine, 65)  # 30 s, then 60 s
    assert [notifications.retry_delay(n) for n in (1, 2, 3, 8, 50)] == [30, 60, 120, 3600, 3600]


def test_a_deleted_reports_messages_go_with_it(mail_client, engine):
    rid = report(mail_client)["id"]
    move(mail_client, engine, rid, "verified")
    assert count(engine, "mail_queue") == 1
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM reports WHERE id = :r"), {"r": rid})
    assert count(engine, "mail_queue") == 0


def test_mapper_mail_send_and_the_worker_send_the_queue(mail_client, engine, sink, smtp_port, cli_env):
    env = {**cli_env, "MAPPER_SECRET_KEY": "test", "MAPPER_PUBLIC_URL": PUBLIC_URL}
    env["MAPPER_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    sink.start()
    rid = report(mail_client)["id"]
    move(mail_client, engine, rid, "verified")
    out = subprocess.run(["mapper", "mail", "send"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "mail: sent 1, failed 0, waiting 0" in out.stdout and len(sink.received) == 1
    move(mail_client, engine, rid, "resolved")
    out = subprocess.run(["mapper", "worker", "--once"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "mail: sent 1, failed 0, waiting 0" in out.stdout and len(sink.received) == 2
    off = subprocess.run(["mapper", "mail", "send"], env=cli_env | {"MAPPER_SECRET_KEY": "test"}, capture_output=True)
    assert off.returncode != 0 and b"SMTP_URL is not set" in off.stderr


def test_the_running_worker_sends_mail_as_make_run_starts_it(mail_client, engine, sink, smtp_port, cli_env):
    env = {**cli_env, "MAPPER_SECRET_KEY": "test", "MAPPER_PUBLIC_URL": PUBLIC_URL, "MAPPER_WORKER_POLL_S": "0.5"}
    env["MAPPER_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    sink.start()
    worker = subprocess.Popen(["mapper", "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert f"e-mail through 127.0.0.1:{smtp_port}" in worker.stdout.readline()
        rid = report(mail_client)["id"]
        move(mail_client, engine, rid, "verified", comment="Noted")
        deadline = time.monotonic() + 60
        while not sink.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(sink.received) == 1 and "Noted" in body_of(sink.received[0][1])
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert "Traceback" not in err and queue(engine, rid)[0]["sent_at"] is not None


def test_concurrent_senders_send_each_message_once(mail_client, engine, mail_app, sink):
    sink.start()
    rids = [report(mail_client)["id"] for _ in range(12)]
    for rid in rids:
        move(mail_client, engine, rid, "verified")
    senders = [
        Outbox.from_settings(
            mail_app.extensions["mapper.engine"], mail_app.extensions["mapper.registry"], mail_app.config
        )
        for _ in range(3)
    ]
    with ThreadPoolExecutor(3) as pool:
        passes = list(pool.map(lambda outbox: outbox.send_due(), senders))
    assert sum(p.sent for p in passes) == 12 and sum(p.failed for p in passes) == 0
    subjects = sorted(m["Subject"] for _, m in sink.received)
    assert subjects == sorted(f"Your report {rid}: verified" for rid in rids)  # each once, none twice


def test_an_erased_address_drops_its_messages(mail_client, engine, outbox, sink):
    sink.start()
    rid = report(mail_client)["id"]
    move(mail_client, engine, rid, "verified")
    with engine.begin() as conn:
        conn.execute(text("UPDATE reports SET private = private - 'reporter_email' WHERE id = :r"), {"r": rid})
    assert outbox.send_due() == notifications.MailPass(0, 0, 1, 0) and sink.received == []


@pytest.mark.parametrize(
    "value", [None, "", "not an address", "a@b.org\r\nBcc: x@y.org", "<a@b.org>", "a@", "@b.org", "a@b@c.org", 42]
)
def test_only_a_single_plain_address_is_written_to(value):
    assert notifications.reporter_address({"reporter_email": value}) is None


def test_addresses_and_settings():
    assert notifications.reporter_address({"reporter_email": " Ana@Example.org "}) == "Ana@Example.org"
    error = notifications.error_text(OSError("refused for ana@example.org"), "Ana@Example.org")
    assert error == "OSError: refused for <recipient>"
    from mapper.config import smtp_server

    server = smtp_server({"SMTP_URL": "smtp+starttls://me%40city:s%3Acret@mail.city:2525", "PUBLIC_URL": PUBLIC_URL})
    assert (server.host, server.port, server.security, server.user, server.password) == (
        "mail.city",
        2525,
        "starttls",
        "me@city",
        "s:cret",
    )
    assert smtp_server({"SMTP_URL": "smtps://mail.city", "PUBLIC_URL": PUBLIC_URL}).port == 465
    assert smtp_server({"SMTP_URL": ""}) is None
    for bad in ("http://mail.city", "smtp://", "smtp://mail.city:99999"):
        with pytest.raises(ConfigurationError, match="SMTP_URL"):
            smtp_server({"SMTP_URL": bad, "PUBLIC_URL": PUBLIC_URL})
    with pytest.raises(ConfigurationError, match="PUBLIC_URL"):
        smtp_server({"SMTP_URL": "smtp://mail.city:25"})
