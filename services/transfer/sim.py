"""``juki transfer sim``: a receiving system (宛名管理システム …) stand-in, for the demo and tests.

It stores each batch it receives as one JSON line in ``--out`` (written with one
``write`` and fsynced before the answer) and dedupes by the batch's idempotency key: a
key it already holds is acknowledged again and not stored. After a hard stop in the
middle of a write, a start drops the unfinished last line and reads the keys it holds
from the file, so however often it stops, the file holds each batch once.

HTTP (JSON):

* ``POST /batches`` {"key", "destination", "run", "seq", "of", "items", "records": [...]}
  → 200 {"key", "acked": true, "duplicate", "records"}; 400 {"error"} for a body it
  cannot read; 500 when told to fail.
* ``GET /_stats`` → {"batches", "records", "duplicates", "requests", "mode", "delay"}.
* ``POST /_control`` {"mode": "ok" | "fail" | "slow" | "crash", "delay": s}: ``fail``
  answers 500, ``slow`` waits ``delay`` seconds before storing, ``crash`` stores the next
  new batch and then dies at once without answering (a receiver killed between storing
  and acknowledging).

It listens on loopback only and holds no database.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.clock import iso, now
from core.errors import BadInput
from core.inert import dumps
from core.loopback import JsonHandler, JsonServer
from services.jukinet.sim import loopback_host

MODES = ("ok", "fail", "slow", "crash")
MAX_BODY = 64 * 1024 * 1024


def _recover(path: Path) -> set[str]:
    """The keys of the complete batches in ``path``; an unfinished last line is cut off."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
        data = data[:end]
    return {json.loads(line)["key"] for line in data.splitlines() if line.strip()}


class ReceiverState:
    def __init__(self, out: Path, mode: str = "ok", delay: float = 0.0) -> None:
        self.out = out
        self.lock = threading.Lock()
        out.parent.mkdir(parents=True, exist_ok=True)
        self.keys = _recover(out)
        self.fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.mode, self.delay = mode, delay
        self.counters = {"requests": 0, "stored": 0, "records": 0, "duplicates": 0}

    def accept(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.counters["requests"] += 1
            key = body["key"]
            if key in self.keys:
                self.counters["duplicates"] += 1
                return {"key": key, "acked": True, "duplicate": True,
                        "records": len(body["records"])}
            line = {**{k: body.get(k) for k in ("key", "destination", "run", "seq", "of",
                                                "items", "records")},
                    "received_at": iso(now())}
            os.write(self.fd, (dumps(line, sort_keys=True) + "\n").encode("utf-8"))
            os.fsync(self.fd)
            self.keys.add(key)
            self.counters["stored"] += 1
            self.counters["records"] += len(body["records"])
            if self.mode == "crash":
                os._exit(137)  # stored, never acknowledged: the sender must send it again
            return {"key": key, "acked": True, "duplicate": False,
                    "records": len(body["records"])}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"batches": len(self.keys), **self.counters, "mode": self.mode,
                    "delay": self.delay}

    def control(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise ValueError("JSON object expected")
        mode, delay = body.get("mode", self.mode), body.get("delay", self.delay)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
            raise ValueError("delay must be a number >= 0")
        with self.lock:
            self.mode, self.delay = mode, float(delay)


class ReceiverServer(JsonServer):
    def __init__(self, address: tuple[str, int], state: ReceiverState) -> None:
        super().__init__(address, _Handler)
        self.state = state


def _valid(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("JSON object expected")
    key = body.get("key")
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ValueError("key must be a non-empty string")
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("records must be a list of objects")
    return body


class _Handler(JsonHandler):
    server: ReceiverServer
    server_version = "juki-transfer-sim"
    log_prefix = "transfer-sim"

    def do_GET(self) -> None:  # as the 住基ネット simulator's: /_stats is each one's own state
        if self.path == "/_stats":
            self._send(200, self.server.state.stats())
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        state = self.server.state
        try:
            body = self._json_body(MAX_BODY)
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return
        if self.path == "/_control":
            try:
                state.control(body)
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, state.stats())
            return
        if self.path != "/batches":
            self._send(404, {"error": "not found"})
            return
        with state.lock:
            mode, delay = state.mode, state.delay
        if mode == "fail":
            self._send(500, {"error": "simulated failure (transfer-sim)"})
            return
        if mode == "slow" and delay > 0:
            time.sleep(delay)
        try:
            batch = _valid(body)
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, state.accept(batch))


def make_server(out: Path, host: str = "127.0.0.1", port: int = 0, *, mode: str = "ok",
                delay: float = 0.0) -> ReceiverServer:
    bind = loopback_host(host)
    if not 0 <= port <= 65535:
        raise BadInput("--port: 0〜65535 で指定してください (0 は空いている番号)。")
    if delay < 0:
        raise BadInput("--delay: 0秒以上で指定してください。")
    if out.is_dir():
        raise BadInput(f"--out (保存先): {out} はディレクトリです。")
    try:
        state = ReceiverState(out, mode, delay)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"--out (保存先): {out} を使えません ({exc})。") from exc
    try:
        return ReceiverServer((bind, port), state)
    except OSError as exc:
        os.close(state.fd)
        raise BadInput(f"--port: {bind}:{port} で待ち受けられません ({exc.strerror})。") from exc



def run(out_path: Path, out: Callable[[str], None], *, host: str, port: int,
        fail: bool = False, delay: float = 0.0) -> int:
    """Serve until SIGTERM or Ctrl+C; print the URL first."""
    mode = "fail" if fail else ("slow" if delay > 0 else "ok")
    server = make_server(out_path, host, port, mode=mode, delay=delay)
    out(f"転送受信シミュレータ: {server.url} で待ち受けています"
        f" (受信済み {len(server.state.keys):,} バッチ、保存先 {out_path})。")
    try:
        server.serve_until_stopped()
    finally:
        os.close(server.state.fd)
    out(f"停止しました (受信済み {len(server.state.keys):,} バッチ)。")
    return 0
