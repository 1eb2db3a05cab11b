"""``juki audit collector``: a stand-in for the log collector the trail is forwarded to.

For the demo and the tests. It keeps what it receives in one JSON-lines file, one event
a line, in seq order, and answers with the highest seq it holds: the acknowledgement
``logs.forward`` resumes after. It dedupes by seq: an event at or below that seq is
counted and dropped, and one that would leave a gap (seq above the next one) is not
stored — the answer tells the forwarder where to go on from. So whatever is sent twice,
and however often the collector stops, its file holds each event once, in order.

A batch is written with one ``write`` and fsynced before the answer. After a hard stop
(SIGKILL) in the middle of a write, a start drops the unfinished last line; the
forwarder sends those events again because they were never acknowledged.

HTTP (JSON): ``GET /acked`` → {"acked"}; ``POST /events`` {"events": [...]} → {"acked",
"stored", "duplicates", "gap"}; ``GET /_stats`` → counters. It holds no database and
listens on loopback only.
"""

from __future__ import annotations

import ipaddress
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.inert import dumps
from core.loopback import JsonHandler, JsonServer

MAX_BODY = 64 * 1024 * 1024


def _recover(path: Path) -> int:
    """The last complete event's seq; an unfinished last line is cut off."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
        data = data[:end]
    lines = data.splitlines()
    return int(json.loads(lines[-1])["seq"]) if lines else 0


class CollectorState:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.lock = threading.Lock()
        out.parent.mkdir(parents=True, exist_ok=True)
        self.acked = _recover(out)
        self.fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.counters = {"requests": 0, "stored": 0, "duplicates": 0, "gaps": 0}

    def accept(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            self.counters["requests"] += 1
            acked, lines, dup, gap = self.acked, [], 0, False
            for ev in events:
                seq = int(ev["seq"])
                if seq <= acked:
                    dup += 1
                    continue
                if seq != acked + 1:
                    gap = True
                    break
                lines.append(dumps(ev, sort_keys=True) + "\n")
                acked = seq
            if lines:
                os.write(self.fd, "".join(lines).encode("utf-8"))
                os.fsync(self.fd)
            self.acked = acked
            self.counters["stored"] += len(lines)
            self.counters["duplicates"] += dup
            self.counters["gaps"] += int(gap)
            return {"acked": acked, "stored": len(lines), "duplicates": dup, "gap": gap}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"acked": self.acked, **self.counters}


class CollectorServer(JsonServer):
    def __init__(self, address: tuple[str, int], state: CollectorState) -> None:
        super().__init__(address, _Handler)
        self.state = state


class _Handler(JsonHandler):
    server: CollectorServer
    server_version = "juki-collector"
    log_prefix = "audit-collector"

    def do_GET(self) -> None:
        if self.path == "/acked":
            self._send(200, {"acked": self.server.state.stats()["acked"]})
        elif self.path == "/_stats":
            self._send(200, self.server.state.stats())
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/events":
            self._send(404, {"error": "not found"})
            return
        try:
            body = self._json_body(MAX_BODY)
            events = body["events"]
            if not isinstance(events, list) or not all(
                isinstance(e, dict) and type(e.get("seq")) is int for e in events
            ):
                raise ValueError("events must be objects with an integer seq")
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, self.server.state.accept(events))


def _loopback(host: str) -> str:
    h = (host or "").strip().strip("[]")
    h = {"localhost": "127.0.0.1"}.get(h.lower(), h)
    try:
        ok = ipaddress.ip_address(h).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise BadInput(f"--host: 収集シミュレータはループバックでのみ待ち受けます (指定: {host})。")
    return h


def make_server(out: Path, host: str = "127.0.0.1", port: int = 0) -> CollectorServer:
    bind = _loopback(host)
    if not 0 <= port <= 65535:
        raise BadInput("--port: 0〜65535 で指定してください (0 は空いている番号)。")
    if out.is_dir():
        raise BadInput(f"--out (保存先): {out} はディレクトリです。")
    try:
        state = CollectorState(out)
    except (OSError, ValueError, KeyError) as exc:
        raise BadInput(f"--out (保存先): {out} を使えません ({exc})。") from exc
    try:
        return CollectorServer((bind, port), state)
    except OSError as exc:
        raise BadInput(f"--port: {bind}:{port} で待ち受けられません ({exc.strerror})。") from exc



def run(out_path: Path, out: Callable[[str], None], *, host: str, port: int) -> int:
    """Serve until SIGTERM or Ctrl+C; print the URL first."""
    server = make_server(out_path, host, port)
    out(f"操作ログ収集シミュレータ: {server.url} で待ち受けています"
        f" (受信済み #{server.state.acked} まで、保存先 {out_path})。")
    try:
        server.serve_until_stopped()
    finally:
        os.close(server.state.fd)
    out(f"停止しました (受信済み #{server.state.acked} まで)。")
    return 0
