"""E-mail to reporters on each status change of their report: queued with the transition, sent by the worker.

- **Queued** (``status_changed``, in the transition's own transaction) when ``SMTP_URL`` is set and the reporter
  left an e-mail address: one ``mail_queue`` row naming the history entry. The row holds no personal data; the
  address, the status and the public comment are read when the message is sent. A staff action never waits on
  SMTP, and fails with nothing SMTP does.
- **Sent** (``Outbox.send_due``, each pass of ``mapper worker``, or ``mapper mail send``): due rows are claimed
  in batches of ``BATCH`` with ``FOR UPDATE SKIP LOCKED`` (several workers never take the same row), sent through
  one SMTP session, and marked sent — or failed, with the attempt counted, the error kept (never the address)
  and the next attempt ``retry_delay`` away — in the transaction that claimed them. Nothing is ever dropped for
  failing: a down server delays messages, and the first pass it is back sends them. Delivery is at-least-once:
  a worker killed after the server accepted a message but before its batch committed sends that batch's
  messages again (a narrow window; the alternative, at-most-once, would lose messages instead).
- **Said**: only what the tracking page shows — the report's number and layer, the new status in plain words,
  the public comment, the date, and the link ``PUBLIC_URL/track/<token>`` (the token unsealed under
  ``SECRET_KEY``) — never the internal note nor who acted; plain text, in the reporter's language (the app's
  gettext catalogs, ``mapper.catalogs``; the status labels are the ones pages show).
"""

from __future__ import annotations

import smtplib
import ssl
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from babel.support import NullTranslations, Translations
from flask import current_app, has_app_context
from sqlalchemy import Connection, Engine

from mapper import catalogs
from mapper.config import SmtpServer, smtp_server
from mapper.domain.layers import Registry
from mapper.services.tokens import open_tracking_token
from mapper.store import mail_queue as store

STATUS_CHANGE = "status"  # the kind of message a transition queues
BATCH = 10  # messages claimed (and committed) together: what a crash mid-batch could send twice
BATCHES_PER_PASS = 20
TIMEOUT_S = 10.0  # of each SMTP operation
RETRY_BASE_S, RETRY_MAX_S = 30.0, 3600.0
ERROR_MAX = 300  # characters of a kept error
# Refusals of one message (the session is still good); any other error means the server or the session failed.
MESSAGE_REFUSALS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
)


# --- queueing ------------------------------------------------------------------------------------------------
def mail_enabled() -> bool:
    """Whether this app sends e-mail (``SMTP_URL`` set); outside an app (a script calling services) it does not."""
    return has_app_context() and bool(current_app.config.get("SMTP_URL"))


def reporter_address(private: dict | None) -> str | None:
    """The reporter's e-mail address when they left one that can be written to (one addr-spec, ASCII local part,
    no line breaks), else None."""
    value = (private or {}).get("reporter_email")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        address = Address(addr_spec=value.strip())
    except Exception:  # the parser's defects, HeaderParseError, ValueError, IndexError: not an address
        return None
    return address.addr_spec if address.domain and address.username else None


def status_changed(conn: Connection, report: dict, history_id: int) -> None:
    """Queue the message for a report's new history entry, when e-mail is on and the reporter left an address
    (``report``: its row, with ``id`` and ``private``). Part of the caller's transaction."""
    if mail_enabled() and reporter_address(report["private"]):
        store.enqueue(conn, report["id"], history_id, STATUS_CHANGE)


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: 30 s, 1 min, 2 min, … at most an hour."""
    return min(RETRY_BASE_S * 2 ** max(attempts - 1, 0), RETRY_MAX_S)


# --- the message -----------------------------------------------------------------------------------------------
def compose(row: dict, layer_title: str, link: str, translations, sender: str, address: str) -> EmailMessage:
    """The plain-text message about one history entry (``row`` from ``store.claim_due``), in ``translations``'
    language: only what the reporter's tracking page shows."""
    _ = translations.gettext
    number = _("Your report %(number)s") % {"number": row["report_id"]}
    status = _(catalogs.value_label(row["status"]))
    when = row["changed_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    lines = [
        f"{number} — {layer_title}",
        "",
        f"{_('Status')}: {status}",
        _("updated %(time)s UTC") % {"time": when},
    ]
    if row["comment"]:
        lines += ["", row["comment"]]
    lines += [
        "",
        _("Follow your report at this address:"),
        link,
        _("Keep this link to yourself: it is the key to your report."),
        "",
        _("You get this message because you left your e-mail address with your report."),
    ]
    message = EmailMessage()
    message["Subject"] = f"{number}: {status}"
    message["From"] = sender
    message["To"] = address
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content("\n".join(lines) + "\n", cte="quoted-printable")  # 7-bit: any server takes it
    message["Content-Language"] = row["language"] if isinstance(translations, Translations) else "en"
    return message


def error_text(error: BaseException, address: str | None = None) -> str:
    """What is kept of a failure: its kind and text, without the recipient's address."""
    text = f"{type(error).__name__}: {error}"
    if address:
        at = text.lower().find(address.lower())
        while at >= 0:
            text = text[:at] + "<recipient>" + text[at + len(address) :]
            at = text.lower().find(address.lower())
    return text[:ERROR_MAX]


# --- sending ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MailPass:
    """One pass: messages sent, attempts failed, messages dropped (no address any more), messages still unsent."""

    sent: int
    failed: int
    skipped: int
    waiting: int


@dataclass
class Outbox:
    """Sends the queue's due messages through ``server`` (``SMTP_URL``) from ``sender`` (``MAIL_FROM``)."""

    engine: Engine
    registry: Registry
    server: SmtpServer
    sender: str
    public_url: str
    secret: str
    _translations: dict = field(default_factory=dict)

    @classmethod
    def from_settings(cls, engine: Engine, registry: Registry, settings: dict) -> Outbox | None:
        """The app's outbox (``settings``: its config, with the resolved ``SECRET_KEY``); None without ``SMTP_URL``."""
        server = smtp_server(settings)
        if server is None:
            return None
        return cls(
            engine, registry, server, settings["MAIL_FROM"], settings["PUBLIC_URL"].rstrip("/"), settings["SECRET_KEY"]
        )

    def translations(self, language: str | None):
        if language not in self._translations:
            found = Translations.load(str(catalogs.compiled()), [language or "en"], catalogs.DOMAIN)
            self._translations[language] = found if isinstance(found, Translations) else NullTranslations()
        return self._translations[language]

    def connect(self) -> smtplib.SMTP:
        server = self.server
        if server.security == "tls":
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT_S, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_S)
        try:
            if server.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if server.user:
                smtp.login(server.user, server.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def message_for(self, row: dict, address: str) -> EmailMessage:
        """The message of a claimed row (``Unwritable`` when its tracking token does not open under this secret)."""
        token = open_tracking_token(self.secret, bytes(row["tracking_sealed"]))
        if token is None:
            raise Unwritable("the tracking token does not open under this SECRET_KEY")
        tr = self.translations(row["language"])
        layer = self.registry.report_layer(row["layer"])
        title = catalogs.layer_title(layer, _gettext_with(tr)) if layer else row["layer"]
        return compose(row, title, f"{self.public_url}/track/{token}", tr, self.sender, address)

    def send_due(self, at: datetime | None = None) -> MailPass:
        """Send the messages due by ``at`` (default: now), batch by batch, until none is left, the pass has done
        ``BATCHES_PER_PASS`` batches or the server fails (the rest then waits for the next pass)."""
        tally = {"sent": 0, "failed": 0, "skipped": 0}
        session = Session(self.connect)
        try:
            for _ in range(BATCHES_PER_PASS):
                with self.engine.begin() as conn:
                    rows = store.claim_due(conn, BATCH, at)
                    server_failed = self._send_batch(conn, rows, session, tally)
                if server_failed or len(rows) < BATCH:
                    break
        finally:
            session.close()
        with self.engine.connect() as conn:
            return MailPass(tally["sent"], tally["failed"], tally["skipped"], store.waiting(conn))

    def _send_batch(self, conn: Connection, rows: list[dict], session: Session, tally: dict) -> bool:
        """Send claimed rows, marking each; True when the server failed (that row and the rest marked failed)."""
        for i, row in enumerate(rows):
            address = reporter_address({"reporter_email": row["address"]})
            if address is None:
                store.discard(conn, row["id"])
                tally["skipped"] += 1
                continue
            try:
                message = self.message_for(row, address)
                session.smtp().send_message(message)
            except MESSAGE_REFUSALS as e:
                _failed(conn, row, e, tally)
            except OSError as e:  # the server is down or the session broke: the rest of the batch waits too
                for later in rows[i:]:
                    _failed(conn, later, e, tally)
                session.close()
                return True
            except Exception as e:  # a message that cannot be written: kept, retried, to be looked at
                _failed(conn, row, e, tally)
            else:
                store.mark_sent(conn, row["id"])
                tally["sent"] += 1
        return False


class Unwritable(Exception):
    """A queued message that cannot be written (yet)."""


def _failed(conn: Connection, row: dict, error: BaseException, tally: dict) -> None:
    address = reporter_address({"reporter_email": row["address"]})
    store.mark_failed(conn, row["id"], error_text(error, address), retry_delay(row["attempts"] + 1))
    tally["failed"] += 1


class Session:
    """One SMTP session for a pass, opened at the first message and again after a failure closed it."""

    def __init__(self, connect):
        self.connect, self.open = connect, None

    def smtp(self) -> smtplib.SMTP:
        if self.open is None:
            self.open = self.connect()
        return self.open

    def close(self) -> None:
        if self.open is not None:
            with suppress(OSError):
                self.open.quit()
            self.open.close()
            self.open = None


def _gettext_with(translations):
    """``translations``' gettext taking placeholders as Flask-Babel's does (``catalogs.layer_title`` calls it)."""
    return lambda text, **values: translations.gettext(text) % values if values else translations.gettext(text)
