"""The shared loopback JSON server: a JSON answer, a bounded body, an IPv6 URL."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from core.loopback import JsonHandler, JsonServer

LIMIT = 64


class _Echo(JsonHandler):
    log_prefix = "loopback-test"

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean

    def do_POST(self) -> None:
        try:
            body = self._json_body(LIMIT)
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, {"echo": body})


def _serve(host: str) -> Iterator[JsonServer]:
    server = JsonServer((host, 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[JsonServer]:
    yield from _serve("127.0.0.1")


def test_json_is_answered_as_utf8_json(server: JsonServer) -> None:
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
    r = httpx.post(server.url + "echo", json={"名前": "髙橋"}, timeout=5)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == {"echo": {"名前": "髙橋"}}


@pytest.mark.parametrize("content", [b"x" * (LIMIT + 1), b"", b"{not json"])
def test_a_body_too_large_missing_or_not_json_is_refused(
    server: JsonServer, content: bytes
) -> None:
    r = httpx.post(server.url, content=content, timeout=5)
    assert r.status_code == 400
    assert r.json()["error"]


def test_too_large_says_so(server: JsonServer) -> None:
    r = httpx.post(server.url, content=b"[" + b"1," * LIMIT + b"1]", timeout=5)
    assert r.json() == {"error": "body missing or too large"}


def test_ipv6_url_has_brackets() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        gen = _serve("::1")
        server = next(gen)
    except OSError:
        pytest.skip("::1 is not available")
    try:
        assert server.url == f"http://[::1]:{server.server_address[1]}/"
        r = httpx.post(server.url, json=[1], timeout=5)
        assert r.json() == {"echo": [1]}
    finally:
        gen.close()


def test_a_sigterm_before_serving_still_stops_cleanly(tmp_path: object) -> None:
    """A simulator prints its URL, then serves: a test (or systemd) may send SIGTERM in
    between. It must stop as if it came while serving — not die by the signal."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = (
        "import os, signal\n"
        "from core.loopback import JsonHandler, JsonServer\n"
        "server = JsonServer(('127.0.0.1', 0), JsonHandler)\n"
        "print(server.url, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGTERM)  # before serve_until_stopped\n"
        "server.serve_until_stopped()\n"
        "print('stopped', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.splitlines()[-1] == "stopped"
