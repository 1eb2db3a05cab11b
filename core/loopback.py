"""The small JSON-over-HTTP server the loopback simulators and the log collector share.

``logs.collector``, ``services.transfer.sim`` and ``services.jukinet.sim`` each serve a
few JSON routes on loopback for the demo and the tests. What they have in common lives
here so it is written once: binding an IPv6 host, the URL to print, one log line per
request on stderr, a JSON answer, and reading a bounded JSON body. Routes, statuses and
messages stay in each module. Standard library only (``core`` is the lowest layer).
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.inert import clean_line


class _Stop(Exception):
    """Raised by the SIGTERM handler to leave ``serve_forever``."""


class JsonServer(ThreadingHTTPServer):
    """A threading server that also binds IPv6 hosts (``::1``) and says its own URL."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        # SIGTERM is taken from the moment the socket exists: a simulator prints its URL
        # before it serves, and a SIGTERM in between must stop it like one while serving.
        self._stop_asked = False
        self._serving = False
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._stop_asked = True
        if self._serving:
            raise _Stop

    def serve_until_stopped(self) -> None:
        """Serve until SIGTERM or Ctrl+C, then close the socket: the ``run`` of every
        simulator and of the collector (a test stops them with SIGTERM, a person with
        Ctrl+C). The SIGTERM handler (main thread only) is put back after."""
        try:
            self._serving = True
            if not self._stop_asked:
                self.serve_forever(poll_interval=0.2)
        except (_Stop, KeyboardInterrupt):
            pass
        finally:
            self._serving = False
            self.server_close()

    def server_close(self) -> None:
        """Close the socket and give SIGTERM back to whoever had it before."""
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
        super().server_close()

    @property
    def url(self) -> str:
        """``http://host:port/``, an IPv6 host in brackets, so it can be pasted as is."""
        raw, port = self.server_address[0], self.server_address[1]
        host = raw if isinstance(raw, str) else bytes(raw).decode()
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"


class JsonHandler(BaseHTTPRequestHandler):
    """JSON answers and bodies; subclasses add the routes (``do_GET`` / ``do_POST``)."""

    sys_version = ""
    #: What each stderr line starts with, so the simulators' logs can be told apart.
    log_prefix = "loopback"
    #: One request per connection (``Connection: close``): a client that times out and
    #: retries never finds a half-used connection.
    close_each = False

    def log_message(self, format: str, *args: Any) -> None:
        """One short line per request on stderr: request line and status, never a body;
        inert (the request line is the peer's text, as the stdlib's own logger treats it)."""
        sys.stderr.write(f"{self.log_prefix}: " + clean_line(format % args) + "\n")

    def _send(self, status: int, body: Any, *, raw: bytes | None = None) -> None:
        """Answer ``body`` as UTF-8 JSON (or ``raw`` bytes as they are, to simulate a
        garbled answer); a client that already gave up is not an error."""
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if self.close_each:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to tell it
        if self.close_each:
            self.close_connection = True

    def _json_body(self, max_bytes: int, *, allow_empty: bool = False) -> Any:
        """The request's JSON body, read by its Content-Length so a huge or endless body
        is never read. ValueError (the caller answers 400) for a body that is missing
        (unless ``allow_empty``: then None), larger than ``max_bytes``, or not JSON."""
        length = int(self.headers.get("Content-Length") or 0)
        if allow_empty:
            if length < 0 or length > max_bytes:
                raise ValueError("body too large")
            return json.loads(self.rfile.read(length) or b"null")
        if not 0 < length <= max_bytes:
            raise ValueError("body missing or too large")
        return json.loads(self.rfile.read(length))
