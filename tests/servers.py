"""The app under granian, the production server, with its real worker processes and settings of the test's own
(``MAPPER_*`` environment overrides), for tests that need a server configured unlike the session's live_server."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import requests

from mapper.config import PROJECT_ROOT

# Rate limits the suite's many reports never reach (tests/test_rate_limits.py runs servers with small ones).
SUITE_LIMITS = {f"RATELIMIT_{name}": "100000 per minute" for name in ("INTAKE", "TRACKING", "LOGIN")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def worker_pids(self) -> list[int]:
        """The server's descendant processes (granian's workers)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").iterdir():
                try:
                    children = [int(c) for c in (task / "children").read_text().split()]
                except FileNotFoundError:  # the thread ended while we looked
                    continue
                found += children
                todo += children
        return found

    def peak_rss_kb(self) -> int:
        """The largest peak resident size (VmHWM) of the server's workers, in KiB."""
        peaks = []
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]))
        return max(peaks)


@contextmanager
def granian(database_url: str, log_dir: Path, workers: int = 2, env: dict | None = None, **settings):
    """Serve ``mapper:create_app`` with ``workers`` workers; ``settings`` become ``MAPPER_<KEY>`` variables."""
    port = free_port()
    environ = dict(os.environ, MAPPER_DATABASE_URL=database_url, MAPPER_TILES_URL='""', MAPPER_SECRET_KEY="test")
    environ.update({f"MAPPER_{k}": v for k, v in SUITE_LIMITS.items()})
    environ.update({f"MAPPER_{k}": str(v) for k, v in settings.items()})
    environ.update(env or {})
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"granian-{port}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [
            str(PROJECT_ROOT / ".venv" / "bin" / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            "8",
            "--factory",
            "mapper:create_app",
        ],
        cwd=PROJECT_ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still booting
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"granian did not start; see {log_path}")
            time.sleep(0.2)
        # every worker has booted: one still importing the app would take no requests (and granian cannot stop
        # a worker halfway through its start)
        while log_path.read_text().count("Started worker-") < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"granian's workers did not all start; see {log_path}")
            time.sleep(0.2)
        yield Server(url, port, proc, log_path)
    finally:
        workers_left = Server(url, port, proc, log_path).worker_pids() if proc.poll() is None else []
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in workers_left:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class RawAnswer:
    status: int
    headers: dict
    body: bytes
    sent: int  # body bytes the client had sent when the answer came (or the server stopped reading)


def _read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    sock.settimeout(30)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def send_body(
    url: str,
    path: str,
    total: int,
    headers: dict,
    chunked: bool,
    declared: int | None = None,
    prefix: bytes = b"",
    chunk: int = 1 << 16,
) -> RawAnswer:
    """POST a body of ``total`` bytes (``prefix`` then spaces) over a raw socket, sending only while the server
    keeps reading and has not answered: the answer is taken as soon as it arrives. ``chunked`` sends it with
    ``Transfer-Encoding: chunked`` (no length); else ``Content-Length`` is ``declared`` (default ``total``)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {declared or total}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sent, pending, filler = 0, b"", b" " * chunk
    try:
        sock.setblocking(False)
        while True:
            readable, writable, _ = select.select([sock], [sock] if sent < total or pending else [], [], 30)
            if readable:
                break
            if not writable:
                raise TimeoutError("the server neither read nor answered for 30 s")
            if not pending:
                piece = (prefix[sent:] + filler)[: min(chunk, total - sent)]
                sent += len(piece)
                pending = (b"%x\r\n%s\r\n" % (len(piece), piece)) if chunked else piece
                if chunked and sent >= total:
                    pending += b"0\r\n\r\n"
            pending = pending[sock.send(pending) :]
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: its answer is already on its way
    sock.setblocking(True)
    try:
        status, answer_headers, body = _read_answer(sock)
    finally:
        sock.close()
    return RawAnswer(status, answer_headers, body, sent)
