"""gunicorn's threaded worker, reading request headers without holding a thread.

The stock ``gthread`` worker hands a connection to a thread as soon as a first byte
arrives; the thread then reads the rest of the request line and headers with no time
limit. Fifty clients dripping a header every few seconds hold every thread, and health
probes go unanswered (issue 11, item 2). This worker reads headers in its event loop
(non-blocking, as they arrive) and gives the connection to a thread only once the
headers are complete; a client that has not finished them within
``GUNICORN_HEADER_TIMEOUT`` seconds (default 5) is disconnected. Then each socket
operation while reading the body and answering is bounded by ``GUNICORN_BODY_TIMEOUT``
(default 30, an idle limit per read or write, not a total: a large admin upload over
a slow link must still get through).

A buffering reverse proxy in front (docs/deployment.md) is the first defence: it reads
whole requests, bodies included, before they reach us. This is the second.
"""

from __future__ import annotations

import collections
import errno
import os
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.workers import gthread

HEADER_TIMEOUT = float(os.environ.get("GUNICORN_HEADER_TIMEOUT", "5"))
BODY_TIMEOUT = float(os.environ.get("GUNICORN_BODY_TIMEOUT", "30"))
#: Seconds a worker waits after accepting a connection (see ``accept``).
ACCEPT_PAUSE = float(os.environ.get("GUNICORN_ACCEPT_PAUSE", "0.0002"))
#: More than any request line and headers gunicorn accepts (its own limits then refuse).
MAX_HEADER_BYTES = 256 * 1024
_END_OF_HEADERS = b"\r\n\r\n"


class BufferedConnection(gthread.TConn):
    """A connection with the bytes the event loop read before a thread took it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.preread = bytearray()

    def init(self) -> None:
        super().init()
        self.give_preread()

    def give_preread(self) -> None:
        if self.preread and self.parser is not None:
            self.parser.unreader.unread(bytes(self.preread))
            self.preread.clear()


class HeaderBufferingWorker(gthread.ThreadWorker):
    def init_process(self) -> None:
        self.reading_headers: collections.deque[BufferedConnection] = collections.deque()
        super().init_process()

    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = BufferedConnection(self.cfg, client_sock, client_addr, listener.getsockname())
        self._read_headers(conn)
        # Every worker waits on the one listening socket, and the first awake drains a
        # burst of new connections alone: 16 kept-alive connections opened at once ended
        # 14 on one worker and 2 on the other, one core busy and one idle for as long as
        # they lived (a proxy's upstream pool, a load test). A short pause after each
        # accept (0.2 ms: even a proxy opening a connection per request is not held
        # back) lets the other workers take their share.
        time.sleep(ACCEPT_PAUSE)

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        # The next request on a kept-alive connection: its headers too, off the threads.
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_headers(conn)

    def _read_headers(self, conn: BufferedConnection) -> None:
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + HEADER_TIMEOUT
        self.reading_headers.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_header_bytes, conn))

    def _on_header_bytes(self, conn: BufferedConnection, client: Any) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._stop_reading(conn)
            self.nr_conns -= 1
            conn.close()
            return
        conn.preread.extend(data)
        if _END_OF_HEADERS in conn.preread or len(conn.preread) > MAX_HEADER_BYTES:
            self._stop_reading(conn)
            conn.data_ready = True
            conn.sock.setblocking(True)
            if conn.initialized:
                conn.give_preread()
            self.enqueue_req(conn)

    def _stop_reading(self, conn: BufferedConnection) -> None:
        self.reading_headers.remove(conn)
        try:
            self.poller.unregister(conn.sock)
        except (OSError, KeyError, ValueError):
            pass

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        # Appended in order of their deadline, all HEADER_TIMEOUT after they started.
        while self.reading_headers and self.reading_headers[0].timeout <= now:
            conn = self.reading_headers[0]
            self._stop_reading(conn)
            self.nr_conns -= 1
            conn.close()

    def handle_request(self, req: Any, conn: Any) -> Any:
        conn.sock.settimeout(BODY_TIMEOUT)  # reading the body, writing the answer
        return super().handle_request(req, conn)
