"""``juki transfer …`` as the operator runs it: a real subprocess, both backends.

Bad input (an unknown DEST, a date that is not one, a settings file that does not pass)
exits 2 with a Japanese message naming the field and writes nothing; a transfer the
receiver does not acknowledge exits 1 and is recorded; never a traceback.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from core.db import Database
from logs.audit import iter_all
from services.transfer.models import RUN_OPEN, TransferRun
from tests.services.transfer_setup import ITEMS, Receiver, receivers, write_config


@pytest.fixture
def start_receiver(
    juki_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., Receiver]]:
    yield from receivers(juki_env, tmp_path)


def _with(juki: Any, **env: str) -> Any:
    return replace(juki, env={**juki.env, **env})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runs(db: Database) -> list[TransferRun]:
    with db.read() as s:
        return list(s.exec(select(TransferRun)).all())


def _no_traceback(done: Any) -> None:
    assert "Traceback" not in done.stderr + done.stdout


def test_send_then_list_and_check(
    db: Database, juki: Any, start_receiver: Callable[..., Receiver], tmp_path: Path
) -> None:
    assert juki("db", "seed", "--residents", "15", "--seed", "1").returncode == 0
    rec = start_receiver()
    cfg = write_config(tmp_path / "transfer.toml", rec.url)
    run = _with(juki, JUKI_TRANSFER_CONFIG=str(cfg), JUKI_TRANSFER_BATCH_SIZE="4")
    done = run("transfer", "send", "atena")
    assert done.returncode == 0, done.stderr
    assert "宛名管理システム (atena) への転送 #1 を終えました: 15 件、4 バッチ" in done.stdout
    assert "全件 (初回)" in done.stdout
    assert sum(len(line["records"]) for line in rec.lines()) == 15
    again = run("transfer", "send", "atena", "--since", "令和8年10月1日")
    assert again.returncode == 0 and "0 件" in again.stdout, again.stderr
    listed = run("transfer", "list", "atena")
    assert listed.returncode == 0 and "#2\tatena\tdone\t0件" in listed.stdout
    checked = run("transfer", "check")
    assert checked.returncode == 0 and str(cfg) in checked.stdout
    assert all(item in checked.stdout for item in ITEMS)


@pytest.mark.parametrize(("args", "said"), [
    (("transfer", "send", "kokuzei"), "DEST (転送先): 「kokuzei」"),
    (("transfer", "send", "atena", "--since", "2026-02-30"), "--since (基準日)"),
    (("transfer", "send", "atena", "--since", "2999-01-01"), "--since (基準日): 未来"),
    (("transfer", "sim", "--host", "0.0.0.0", "--out", "x.jsonl"), "--host"),
])
def test_bad_input_exits_2_naming_the_field_and_writes_nothing(
    db: Database, juki: Any, args: tuple[str, ...], said: str
) -> None:
    before = sum(1 for _ in iter_all(db))
    done = juki(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
    _no_traceback(done)
    assert _runs(db) == []
    assert sum(1 for _ in iter_all(db)) == before


def test_a_bad_settings_file_exits_2_naming_destination_and_item(
    db: Database, juki: Any, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "bad.toml", "http://127.0.0.1:9/", ("宛名番号", "本籍"))
    done = _with(juki, JUKI_TRANSFER_CONFIG=str(cfg))("transfer", "send", "atena")
    assert done.returncode == 2
    assert "転送先 atena: 項目 「本籍」 は転送できる項目の一覧にありません" in done.stderr
    _no_traceback(done)
    assert _runs(db) == []
    checked = juki("transfer", "check", str(cfg))
    assert checked.returncode == 2 and "「本籍」" in checked.stderr
    missing = _with(juki, JUKI_TRANSFER_CONFIG=str(tmp_path / "none.toml"))(
        "transfer", "send", "atena")
    assert missing.returncode == 2 and "transfer_config" in missing.stderr


def test_a_receiver_that_is_down_exits_1_recorded_and_the_run_stays_open(
    db: Database, juki: Any, tmp_path: Path
) -> None:
    assert juki("db", "seed", "--residents", "8", "--seed", "1").returncode == 0
    cfg = write_config(tmp_path / "transfer.toml", f"http://127.0.0.1:{_free_port()}/")
    done = _with(juki, JUKI_TRANSFER_CONFIG=str(cfg), JUKI_TRANSFER_ATTEMPTS="2")(
        "transfer", "send", "atena")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "受信側に接続できません" in done.stderr and "再開します" in done.stderr
    _no_traceback(done)
    (run,) = _runs(db)
    assert run.status == RUN_OPEN and run.records == 8
    (ev,) = [e for e in iter_all(db) if e["action"] == "transfer.send"]
    details = json.loads(ev["details"]) if isinstance(ev["details"], str) else ev["details"]
    assert ev["outcome"] == "failure" and details["destination"] == "atena"
    assert details["items"] == list(ITEMS) and details["records"] == 8
