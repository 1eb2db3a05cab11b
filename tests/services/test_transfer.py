"""Transfers to connected systems (issue 7 item 1): the allowlist, the "changed since"
rule, and the proof — the receiver a real process on loopback, killed mid-transfer and
restarted, and at the end every permitted record there exactly once and no other item.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlmodel import select

from core.actor import Actor
from core.db import Database
from core.errors import BadInput
from core.settings import Settings
from logs.audit import iter_all, verify
from services.register.models import LINK_ACTIVE, MyNumberLink, Resident, ResidentChange
from services.register.seed import seed_register
from services.transfer.catalogue import CATALOGUE, IDENTIFYING
from services.transfer.config import load_config, parse_config
from services.transfer.models import BATCH_SENT, RUN_DONE, RUN_OPEN, TransferBatch, TransferRun
from services.transfer.send import TransferFailed, send_transfer
from tests.procs import wait_for
from tests.services.transfer_setup import ITEMS, Receiver, receivers, write_config

SECRET = "極秘メモ-TRANSFER-LEAK-CANARY"


@pytest.fixture
def start_receiver(
    juki_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., Receiver]]:
    yield from receivers(juki_env, tmp_path)


def _settings(settings: Settings, config: Path, **more: object) -> Settings:
    return replace(settings, transfer_config=str(config), transfer_batch_size=5,
                   transfer_attempts=2, transfer_timeout_seconds=5.0, **more)


def _resident_ids(db: Database) -> list[int]:
    with db.read() as s:
        return sorted(s.exec(select(Resident.id)).all())  # type: ignore[arg-type]


def _received_ids(rec: Receiver) -> list[int]:
    return [int(r["宛名番号"]) for line in rec.lines() for r in line["records"]]


def _events(db: Database, action: str) -> list[dict]:
    found = [dict(e) for e in iter_all(db) if e["action"] == action]
    for e in found:
        if isinstance(e["details"], str):
            e["details"] = json.loads(e["details"])
    return found


# --- the settings file ---------------------------------------------------------------


def test_the_built_in_destinations_list_each_item_with_its_basis() -> None:
    cfg = load_config(Settings())
    assert {"atena", "chukan", "renkei"} <= set(cfg.destinations)
    atena = cfg.get("atena")
    assert atena.name == "宛名管理システム"
    for item in ("氏名", "氏名カナ", "生年月日", "性別", "住所", "住民票コード", "世帯番号",
                 "異動事由", "異動日"):
        assert item in atena.items
    for dest in cfg.destinations.values():
        assert set(dest.items) <= set(CATALOGUE)
        assert all(dest.basis[i].strip() for i in dest.items)
        assert any(i in dest.items for i in IDENTIFYING)
    assert "個人番号" not in atena.items  # only the number linkage system gets the number
    assert "個人番号" in cfg.get("renkei").items
    # Some register items can never leave: there is no reader for them.
    assert not {"本籍", "筆頭者", "在留カード等の番号"} & set(CATALOGUE)


@pytest.mark.parametrize(("toml", "said"), [
    ('[destination.atena]\nname = "宛"\nurl = "http://127.0.0.1:1/"\n'
     '[destination.atena.items]\n"宛名番号" = "根拠"\n"本籍" = "根拠"\n',
     ["転送先 atena", "「本籍」", "一覧にありません"]),
    ('[destination.atena]\nname = "宛"\nurl = "http://127.0.0.1:1/"\n'
     '[destination.atena.items]\n"宛名番号" = ""\n', ["転送先 atena", "「宛名番号」", "根拠"]),
    ('[destination.atena]\nname = "宛"\nurl = "ftp://x/"\n'
     '[destination.atena.items]\n"宛名番号" = "根拠"\n', ["転送先 atena", "url"]),
    ('[destination.atena]\nname = "宛"\nurl = "http://127.0.0.1:1/"\n'
     '[destination.atena.items]\n"氏名" = "根拠"\n', ["転送先 atena", "記録を特定する項目"]),
    ('[destination.atena]\nname = "宛"\nurl = "http://127.0.0.1:1/"\nfields = 1\n'
     '[destination.atena.items]\n"宛名番号" = "根拠"\n', ["転送先 atena", "fields"]),
    ('[destination.Atena]\nname = "宛"\nurl = "http://127.0.0.1:1/"\n'
     '[destination.Atena.items]\n"宛名番号" = "根拠"\n', ["転送先 Atena", "英小文字"]),
    ("destination = [", ["TOML として読めません"]),
    ("", ["[destination.<名前>] が1つもありません"]),
])
def test_a_bad_settings_file_is_refused_naming_destination_and_field(
    toml: str, said: list[str]
) -> None:
    with pytest.raises(BadInput) as caught:
        parse_config(toml, "t.toml")
    for part in said:
        assert part in caught.value.message
    assert "t.toml" in caught.value.message


def test_an_unknown_destination_is_bad_input_naming_the_known_ones() -> None:
    with pytest.raises(BadInput) as caught:
        load_config(Settings()).get("kokuzei")
    assert "DEST (転送先)" in caught.value.message and "atena" in caught.value.message


# --- the allowlist, end to end ------------------------------------------------------------


def test_a_field_added_to_the_resident_does_not_leave(
    db: Database, settings: Settings, start_receiver: Callable[..., Receiver], tmp_path: Path
) -> None:
    """A new column in the resident table and an extra value on every loaded row: neither
    is on the list, so neither is ever serialised; nor is the 個人番号 (not on the list)."""
    seed_register(db, Actor.cli(), residents=30, seed=3)
    with db.write() as s:
        s.execute(text("ALTER TABLE resident ADD COLUMN secret_note VARCHAR(100)"))
        s.execute(text("UPDATE resident SET secret_note = :v"), {"v": SECRET})
        numbers = set(s.exec(select(MyNumberLink.number).where(
            MyNumberLink.status == LINK_ACTIVE)).all())
    assert numbers  # the seed links numbers; they must stay home

    def smuggle(target: Resident, context: object) -> None:
        target.__dict__["secret_note"] = SECRET
        target.__dict__["個人番号"] = next(iter(numbers))

    rec = start_receiver()
    cfg = write_config(tmp_path / "transfer.toml", rec.url)
    event.listen(Resident, "load", smuggle)
    try:
        with db.read() as s:  # the model does carry the extra values now
            row = s.exec(select(Resident)).first()
            assert row is not None and row.__dict__["secret_note"] == SECRET
        done = send_transfer(db, _settings(settings, cfg), Actor.cli(), "atena")
    finally:
        event.remove(Resident, "load", smuggle)
    assert done.records == 30
    lines = rec.lines()
    assert sum(len(line["records"]) for line in lines) == 30
    for line in lines:
        assert line["items"] == list(ITEMS)
        for r in line["records"]:
            assert sorted(r) == sorted(ITEMS)  # exactly the list
    raw = rec.out.read_text("utf-8")
    assert SECRET not in raw and "secret_note" not in raw
    assert not any(n in raw for n in numbers)


# --- which residents -------------------------------------------------------------------


def test_changed_since_the_last_run_and_since_a_date(
    db: Database, settings: Settings, start_receiver: Callable[..., Receiver], tmp_path: Path
) -> None:
    seed_register(db, Actor.cli(), residents=40, seed=4)
    rec = start_receiver()
    st = _settings(settings, write_config(tmp_path / "transfer.toml", rec.url))
    first = send_transfer(db, st, Actor.cli(), "atena")
    assert (first.rule, first.records) == ("all", 40)
    assert sorted(_received_ids(rec)) == _resident_ids(db)

    again = send_transfer(db, st, Actor.cli(), "atena")
    assert (again.rule, again.records, again.batches) == ("after_run", 0, 0)
    assert len(_received_ids(rec)) == 40  # nothing new went

    late, dated = _resident_ids(db)[7], _resident_ids(db)[21]
    with db.write() as s:
        # A 届出 keyed in late: an old 異動日, entered after the last run.
        s.add(ResidentChange(resident_id=late, kind="職権修正", occurred_on=date(2020, 1, 6)))
    third = send_transfer(db, st, Actor.cli(), "atena")
    assert (third.rule, third.records) == ("after_run", 1)
    assert _received_ids(rec)[40:] == [late]

    with db.write() as s:
        s.add(ResidentChange(resident_id=dated, kind="転居", occurred_on=date(2026, 10, 5),
                             notified_on=date(2026, 10, 9)))
    by_date = send_transfer(db, st, Actor.cli(), "atena", since=date(2026, 10, 1))
    assert (by_date.rule, by_date.records) == ("since", 1)
    assert _received_ids(rec)[41:] == [dated]
    sent = rec.lines()[-1]["records"][0]  # the latest 異動 by 異動日
    assert (sent["異動事由"], sent["異動日"]) == ("転居", "2026-10-05")

    events = _events(db, "transfer.send")
    assert [e["outcome"] for e in events] == ["success"] * 4
    assert [e["details"]["records"] for e in events] == [40, 0, 1, 1]
    d = events[0]["details"]
    assert d["destination"] == "atena" and d["items"] == list(ITEMS)
    assert set(d["basis"]) == set(ITEMS) and d["endpoint"] == rec.url + "batches"
    assert len(d["batch_keys"]) == d["batches"] == 8
    assert verify(db).ok


# --- the proof: receiver killed mid-transfer, restarted -------------------------------------


def test_killed_receiver_restarted_every_record_arrives_once_and_nothing_else(
    db: Database, juki_env: dict[str, str], start_receiver: Callable[..., Receiver],
    tmp_path: Path,
) -> None:
    seed_register(db, Actor.cli(), residents=120, seed=7)
    expected = _resident_ids(db)
    rec = start_receiver(None, 0, "--delay", "0.1")
    cfg = write_config(tmp_path / "transfer.toml", rec.url)
    env = {**juki_env, "JUKI_TRANSFER_CONFIG": str(cfg), "JUKI_TRANSFER_BATCH_SIZE": "5",
           "JUKI_TRANSFER_ATTEMPTS": "2", "JUKI_TRANSFER_TIMEOUT_SECONDS": "3"}
    send = [sys.executable, "-m", "console.cli", "transfer", "send", "atena"]

    # 1. The receiver is killed (SIGKILL) while the sender is in the middle of the run.
    sender = subprocess.Popen(send, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    wait_for(lambda: len(rec.lines()) >= 4, 60, "four batches to arrive")
    rec.kill()
    out, err = sender.communicate(timeout=60)
    assert sender.returncode == 1, (out, err)
    assert "中断しました" in err and "juki transfer send atena" in err
    first = len(rec.lines())
    assert 4 <= first < 24

    # 2. Restarted on the same port and file; this time it dies right after storing a
    #    batch, before it can acknowledge it: the sender must not count that batch.
    rec = start_receiver(rec.out, rec.port)
    rec.control(mode="crash")
    crashed = subprocess.run(send, env=env, cwd=tmp_path, capture_output=True, text=True,
                             timeout=60)
    assert crashed.returncode == 1, crashed.stderr
    assert "再開します" in crashed.stdout
    rec.proc.wait(10)
    assert len(rec.lines()) == first + 1  # stored, never acknowledged

    # 3. Restarted again: the retry resumes and finishes.
    rec = start_receiver(rec.out, rec.port)
    done = subprocess.run(send, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "再開します" in done.stdout and "120 件" in done.stdout
    assert rec.stats()["duplicates"] == 1  # the batch stored at the crash came again

    lines = rec.lines()
    keys = [line["key"] for line in lines]
    assert len(keys) == len(set(keys)) == 24  # each batch stored once
    got = Counter(_received_ids(rec))
    assert sorted(got) == expected and set(got.values()) == {1}  # each record once
    for line in lines:
        for r in line["records"]:
            assert set(r) <= set(ITEMS)  # no other item ever arrived
    with db.read() as s:
        run = s.exec(select(TransferRun)).one()
        assert run.status == RUN_DONE and run.attempts == 3
        states = s.exec(select(TransferBatch.status)).all()
    assert set(states) == {BATCH_SENT} and len(states) == 24
    events = _events(db, "transfer.send")
    assert [e["outcome"] for e in events] == ["failure", "failure", "success"]
    assert all(e["details"]["run"] == run.id for e in events)
    assert events[-1]["details"]["records"] == 120
    assert sorted(events[-1]["details"]["batch_keys"]) == sorted(keys)
    assert verify(db).ok


def test_a_stopped_transfer_is_recorded_and_left_open(
    db: Database, settings: Settings, start_receiver: Callable[..., Receiver], tmp_path: Path
) -> None:
    seed_register(db, Actor.cli(), residents=12, seed=2)
    rec = start_receiver(None, 0, "--fail")
    st = _settings(settings, write_config(tmp_path / "transfer.toml", rec.url))
    with pytest.raises(TransferFailed) as caught:
        send_transfer(db, st, Actor.cli(), "atena")
    assert "HTTP 500" in caught.value.message and caught.value.exit_code == 1
    assert rec.lines() == []
    with db.read() as s:
        run = s.exec(select(TransferRun)).one()
        assert run.status == RUN_OPEN and "HTTP 500" in run.last_error
    (ev,) = _events(db, "transfer.send")
    assert ev["outcome"] == "failure" and ev["details"]["acked_batches"] == 0
    assert ev["details"]["tries"] == 2
    rec.control(mode="ok")
    done = send_transfer(db, st, Actor.cli(), "atena")
    assert done.resumed and done.records == 12 and len(rec.lines()) == 3


def test_a_changed_allowlist_closes_the_open_run_and_sends_with_the_new_list(
    db: Database, settings: Settings, start_receiver: Callable[..., Receiver], tmp_path: Path
) -> None:
    seed_register(db, Actor.cli(), residents=10, seed=9)
    rec = start_receiver(None, 0, "--fail")
    st = _settings(settings, write_config(tmp_path / "transfer.toml", rec.url))
    with pytest.raises(TransferFailed):
        send_transfer(db, st, Actor.cli(), "atena")
    rec.control(mode="ok")
    fewer = ("宛名番号", "氏名")
    st = _settings(settings, write_config(tmp_path / "fewer.toml", rec.url, fewer))
    done = send_transfer(db, st, Actor.cli(), "atena")
    assert not done.resumed and done.records == 10
    assert all(sorted(r) == sorted(fewer) for line in rec.lines() for r in line["records"])
    assert [e["action"] for e in iter_all(db) if e["action"].startswith("transfer.")] == [
        "transfer.send", "transfer.abandon", "transfer.send"]


def test_two_senders_at_once_plan_one_run_and_each_record_arrives_once(
    db: Database, juki_env: dict[str, str], start_receiver: Callable[..., Receiver],
    tmp_path: Path,
) -> None:
    """Two `juki transfer send atena` started together: one plans the run, the other
    resumes it (the open-run index); what both send is deduped by key; one success."""
    seed_register(db, Actor.cli(), residents=60, seed=11)
    rec = start_receiver(None, 0, "--delay", "0.2")
    cfg = write_config(tmp_path / "transfer.toml", rec.url)
    env = {**juki_env, "JUKI_TRANSFER_CONFIG": str(cfg), "JUKI_TRANSFER_BATCH_SIZE": "5"}
    procs = [subprocess.Popen([sys.executable, "-m", "console.cli", "transfer", "send", "atena"],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    with db.read() as s:
        assert len(s.exec(select(TransferRun)).all()) == 1
    keys = [line["key"] for line in rec.lines()]
    assert len(keys) == len(set(keys)) == 12
    got = Counter(_received_ids(rec))
    assert sorted(got) == _resident_ids(db) and set(got.values()) == {1}
    assert [e["outcome"] for e in _events(db, "transfer.send")] == ["success"]
