"""A real TLS server on 127.0.0.1 for probe tests, presenting certificates made in the test."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests import pki


@contextmanager
def tls_server(tmp_path: Path, certs: list[pki.Issued]) -> Iterator[int]:
    """Serve TLS on 127.0.0.1 presenting ``certs`` (leaf first); yields the port.

    Each connection completes the handshake and is closed; what the client sends after
    the handshake is recorded in ``received`` so tests can check nothing was.
    """
    cert_file = tmp_path / f"server-{id(certs)}.pem"
    key_file = tmp_path / f"server-{id(certs)}.key"
    cert_file.write_text("".join(c.pem for c in certs))
    key_file.write_text(certs[0].key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    tls_server.received = []  # type: ignore[attr-defined]

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    try:
                        data = tls.recv(1024)
                    except (OSError, ssl.SSLError):
                        data = b""
                    tls_server.received.append(data)  # type: ignore[attr-defined]
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
