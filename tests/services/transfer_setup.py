"""Shared helpers of the transfer tests: the receiving simulator as a real process on
loopback (``juki transfer sim``) and a settings file pointing at it."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

# The test's allowlist: 個人番号, 性別, 氏名カナ and the rest of the catalogue stay home.
ITEMS = ("宛名番号", "住民票コード", "氏名", "生年月日", "住所", "異動事由", "異動日")


@dataclass
class Receiver:
    url: str
    port: int
    out: Path
    proc: subprocess.Popen[str]

    def stats(self) -> dict[str, Any]:
        return httpx.get(self.url + "_stats", timeout=5, trust_env=False).json()

    def control(self, **body: Any) -> dict[str, Any]:
        resp = httpx.post(self.url + "_control", json=body, timeout=5, trust_env=False)
        resp.raise_for_status()
        return resp.json()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode

    def lines(self) -> list[dict[str, Any]]:
        """The batches stored so far (complete lines only)."""
        if not self.out.exists():
            return []
        text = self.out.read_text("utf-8")
        return [json.loads(x) for x in text.split("\n")[:-1] if x.strip()]


def receivers(juki_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Receiver]]:
    """For a fixture: start ``juki transfer sim --port P --out FILE [ARGS]`` processes;
    each is stopped (SIGTERM) when the fixture ends."""
    started: list[Receiver] = []

    def start(out: Path | None = None, port: int = 0, *args: str) -> Receiver:
        out = out or tmp_path / "received.jsonl"
        err = tmp_path / f"transfer-sim-{uuid.uuid4().hex[:8]}.err"
        with open(err, "w") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "console.cli", "transfer", "sim",
                 "--port", str(port), "--out", str(out), *args],
                stdout=subprocess.PIPE, stderr=fh, stdin=subprocess.DEVNULL, text=True,
                env=juki_env, cwd=tmp_path,
            )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not found:
            proc.kill()
            proc.wait()
            pytest.fail(f"transfer sim did not start: {line!r} {err.read_text('utf-8')}")
        rec = Receiver(found.group(), int(found.group(1)), out, proc)
        started.append(rec)
        return rec

    yield start
    for rec in started:
        rec.stop()


def write_config(path: Path, url: str, items: tuple[str, ...] = ITEMS,
                 dest: str = "atena") -> Path:
    lines = [f"[destination.{dest}]", 'name = "宛名管理システム"', f'url = "{url}"', "",
             f"[destination.{dest}.items]"]
    lines += [f'"{item}" = "試験用の根拠 ({item}): 若葉市宛名管理システム運用規程第4条"'
              for item in items]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path
