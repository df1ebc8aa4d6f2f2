"""``mapper worker``: keeps area and hot spot scores current. Each pass asks, in one cheap statement, which
(layer, method) pairs kept by the worker (``domain.score_methods``: ``kept_by = "worker"``) read data whose version
(``layer_versions``, bumped by triggers) differs from the one their newest run saw (``params.data_versions``)
and last ran at least ``SCORE_REFRESH_S`` seconds ago; then, per such layer, it takes the layer's advisory lock
(another worker holding it is doing that layer: skip it), asks again under the lock and runs what is still
stale, in one transaction. Several workers may run; each run is made by exactly one.

Each pass also sends the e-mail queue's due messages (``notifications.Outbox``, when ``SMTP_URL`` is set)."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from mapper import db
from mapper.domain.layers import Layer, Registry
from mapper.services import notifications, scoring
from mapper.store import scores as store

WORKER_LOCK = "worker"
log = logging.getLogger("mapper.worker")


@dataclass
class Worker:
    engine: Engine
    registry: Registry
    refresh_s: float
    # (layer, method) → the data versions a refused run saw: not retried until they change
    refused: dict[tuple[str, str], dict] = field(default_factory=dict)
    outbox: notifications.Outbox | None = None  # None: no e-mail (SMTP_URL unset)

    def wanted(self, layers: list[Layer]) -> list[tuple[str, str, list[str]]]:
        return [(lyr.id, m, scoring.reads(lyr, m)) for lyr in layers for m in scoring.methods_of(lyr, "worker")]

    def run_once(self) -> list[scoring.RunSummary]:
        """One pass over every layer; the runs made (refusals included, with ``run_id`` None)."""
        layers = {lyr.id: lyr for lyr in self.registry}  # the report layers
        with db.cursor(self.engine) as cur:
            due = store.stale_runs(cur, self.wanted(list(layers.values())), self.refresh_s)
        done = []
        for layer_id in dict.fromkeys(lid for lid, _ in due):
            try:
                done += self.refresh_layer(layers[layer_id])
            except Exception:  # one layer's failure must not stop the others, nor the worker
                log.exception("scoring %s failed", layer_id)
        return done

    def refresh_layer(self, layer: Layer) -> list[scoring.RunSummary]:
        """Under the layer's lock, in one transaction, every method of the layer that is still stale."""
        with db.cursor(self.engine, commit=True) as cur:
            if not store.try_lock_layer(cur, WORKER_LOCK, layer.id):
                return []  # another worker is on it
            done = []
            for _, method in store.stale_runs(cur, self.wanted([layer]), self.refresh_s):
                seen = store.data_versions(cur, scoring.reads(layer, method))
                if self.refused.get((layer.id, method)) == seen:
                    continue
                cur.execute("SAVEPOINT score_run")
                try:
                    done.append(scoring.run_method(cur, layer, method))
                    self.refused.pop((layer.id, method), None)
                except scoring.ScoreRefused as e:
                    cur.execute("ROLLBACK TO SAVEPOINT score_run")
                    self.refused[(layer.id, method)] = seen
                    done.append(scoring.RunSummary(layer.id, method, None, 0, f"refused: {e}"))
                else:
                    cur.execute("RELEASE SAVEPOINT score_run")
            return done

    def send_mail(self) -> notifications.MailPass | None:
        """One pass over the e-mail queue (None when e-mail is off)."""
        return self.outbox.send_due() if self.outbox is not None else None

    def run_forever(self, poll_s: float, stop: threading.Event, report=print) -> None:
        """Passes every ``poll_s`` seconds until ``stop`` is set (``stop_on_signals`` sets it on SIGTERM/SIGINT)."""
        while not stop.is_set():
            try:
                for s in self.run_once():
                    report(f"{s.layer} {s.method}: {s.detail}" + (f" (run {s.run_id})" if s.run_id else ""))
            except Exception:  # the database may be restarting: try again next time
                log.exception("worker pass failed")
            try:  # mail goes out even when scoring fails
                mail = self.send_mail()
                if mail is not None and (mail.sent or mail.failed):
                    report(mail_line(mail))
            except Exception:
                log.exception("mail pass failed")
            stop.wait(poll_s)


def mail_line(mail: notifications.MailPass) -> str:
    return f"mail: sent {mail.sent}, failed {mail.failed}, waiting {mail.waiting}"


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (a run in progress finishes, or rolls back if the process is killed)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
