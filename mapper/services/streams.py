"""File-like readers over generated text, for COPY … FROM STDIN."""

from __future__ import annotations

import queue
import threading


class ChunkReader:
    """A file-like object whose text comes from an iterator of chunks. With ``ahead`` a producer thread
    builds the next chunk while the server loads the current one (psycopg2 releases the GIL while sending)."""

    def __init__(self, chunks, ahead: bool = True):
        self._buf, self._pos = "", 0
        if ahead:
            self._queue: queue.Queue = queue.Queue(maxsize=2)
            threading.Thread(target=self._produce, args=(chunks,), daemon=True).start()
            self._next = self._queue.get
        else:
            it = iter(chunks)
            self._next = lambda: next(it, None)

    def _produce(self, chunks) -> None:
        try:
            for chunk in chunks:
                self._queue.put(chunk)
            self._queue.put(None)
        except BaseException as e:  # handed to the reader, which fails the COPY
            self._queue.put(e)

    def read(self, size: int = -1) -> str:
        while self._pos >= len(self._buf):
            item = self._next()
            if item is None:
                self._next = lambda: None
                return ""
            if isinstance(item, BaseException):
                raise item
            self._buf, self._pos = item, 0
        end = len(self._buf) if size < 0 else self._pos + size
        out = self._buf[self._pos : end]
        self._pos += len(out)
        return out

    readline = read
