"""Shared helpers of the transfer tests: the receiving simulator as a real process on
loopback (``juki transfer sim``, started through ``tests.procs``) and a settings file
pointing at it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.procs import Loopback, launch, servers

# The test's allowlist: 個人番号, 性別, 氏名カナ and the rest of the catalogue stay home.
ITEMS = ("宛名番号", "住民票コード", "氏名", "生年月日", "住所", "異動事由", "異動日")


@dataclass
class Receiver(Loopback):
    out: Path

    def stats(self) -> dict[str, Any]:
        return self.get("_stats")

    def control(self, **body: Any) -> dict[str, Any]:
        return self.post("_control", body)

    def lines(self) -> list[dict[str, Any]]:
        """The batches stored so far (complete lines only)."""
        if not self.out.exists():
            return []
        text = self.out.read_text("utf-8")
        return [json.loads(x) for x in text.split("\n")[:-1] if x.strip()]


def receivers(juki_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Receiver]]:
    """For a fixture: start ``juki transfer sim --port P --out FILE [ARGS]`` processes;
    each is stopped (SIGTERM) when the fixture ends."""

    def start(out: Path | None = None, port: int = 0, *args: str) -> Receiver:
        out = out or tmp_path / "received.jsonl"
        return Receiver(*launch(["transfer", "sim", "--port", str(port), "--out", str(out),
                                 *args], env=juki_env, cwd=tmp_path, name="transfer-sim"),
                        out=out)

    yield from servers(start)


def write_config(path: Path, url: str, items: tuple[str, ...] = ITEMS,
                 dest: str = "atena") -> Path:
    lines = [f"[destination.{dest}]", 'name = "宛名管理システム"', f'url = "{url}"', "",
             f"[destination.{dest}.items]"]
    lines += [f'"{item}" = "試験用の根拠 ({item}): 若葉市宛名管理システム運用規程第4条"'
              for item in items]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path
