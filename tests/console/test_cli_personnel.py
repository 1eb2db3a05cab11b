"""``juki hr …`` and ``juki access …`` as the operator runs them: real subprocesses, both backends.

Exit 0 on success; exit 2 on bad input (a bad staff or change file names its line and
field, a bad policy names its rule, an unknown round, a missing report font) with
nothing written and no traceback.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from auth.accounts import list_users
from core.db import Database
from core.settings import Settings
from logs.audit import events_after
from services.personnel.models import ChangeRound, Staff
from tests.services.personnel_setup import HEADER, registry

STAFF_HEADER = "職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日\n"


def _count(db: Database, table: Any) -> int:
    with db.read() as s:
        return s.connection().execute(
            select(func.count()).select_from(table.__table__)).scalar_one()


def _user(db: Database, login: str) -> Any:
    return next(a for a in list_users(db) if a.login == login)


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _events(db: Database, action: str) -> list[dict[str, Any]]:
    return [e for e in events_after(db, 0, 100_000) if e["action"] == action]


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _bad(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def test_hr_staff_loads_the_registry_and_a_bad_row_is_named(
    db: Database, juki: Any, tmp_path: Path
) -> None:
    good = _write(tmp_path, "staff.csv", STAFF_HEADER
                  + "5001,青木 一郎,アオキ イチロウ,市民課,係員,正規,,在職,2026-01-10\n"
                  + "5002,井上 花子,イノウエ ハナコ,税務課,主事,会計年度任用,,在職,\n",
                  encoding="cp932")
    out = _ok(juki("hr", "staff", str(good)))
    assert "追加 2 人" in out and _count(db, Staff) == 2
    bad = _write(tmp_path, "bad.csv", STAFF_HEADER
                 + "5003,上田 三郎,ウエダ サブロウ,市民課,係員,正規,,在職,\n"
                 + "5004,江藤 四郎,エトウ シロウ,市民課,係員,正規,,行方不明,\n")
    err = _bad(juki("hr", "staff", str(bad)))
    assert "3行目" in err and "状態" in err
    assert _count(db, Staff) == 2  # nothing of the bad file
    assert "読めません" in _bad(juki("hr", "staff", str(tmp_path / "none.csv")))


def test_hr_import_a_good_file_and_a_file_with_one_bad_row(
    db: Database, settings: Settings, juki: Any, tmp_path: Path
) -> None:
    registry(db, settings)
    bad = _write(tmp_path, "bad.csv", HEADER
                 + "2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員\n"
                 + "2026-04-01,1002,職員 suzuki,昇任,市民課,市民課,係員,係長\n")
    err = _bad(juki("hr", "import", str(bad)))
    assert "3行目 異動区分" in err and "昇任" in err and "何も取り込んでいません" in err
    assert _count(db, ChangeRound) == 0
    assert [e["outcome"] for e in _events(db, "hr.import")] == ["refused"]

    good = _write(tmp_path, "idou.csv", HEADER
                  + "2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員\n"
                  + "2099-04-01,1002,職員 suzuki,退職,市民課,,,\n", encoding="cp932")
    out = _ok(juki("hr", "import", str(good)))
    assert "異動処理 #1: 2 行 (2 人)" in out and "付与・再開 1 件" in out
    assert _count(db, ChangeRound) == 1
    listed = _ok(juki("hr", "rounds"))
    assert "#1" in listed and "idou.csv" in listed and "令和8年4月1日" in listed
    lines = _ok(juki("hr", "rounds", "1"))
    assert "山田 花子" in lines and "付与" in lines and "職員 suzuki" in lines
    again = _bad(juki("hr", "import", str(good)))
    assert "取込済み" in again


def test_access_apply_due_revokes_and_disables_on_the_date(
    db: Database, settings: Settings, juki: Any, tmp_path: Path
) -> None:
    registry(db, settings)
    future = _write(tmp_path, "idou.csv", HEADER + "2099-04-10,1001,職員 sato,退職,市民課,,係員,\n")
    _ok(juki("hr", "import", str(future)))
    early = _ok(juki("access", "apply-due", "--date", "2099-04-09"))
    assert "権限の削除・停止 0 件" in early
    assert _user(db, "sato").roles == ("clerk",) and not _user(db, "sato").disabled
    due = _ok(juki("access", "apply-due", "--date", "2099-04-10"))
    assert "職員台帳への反映 1 件" in due and "権限の削除・停止 2 件" in due
    assert "終了したセッション 1 件" in due  # registry() signed sato in
    assert _user(db, "sato").roles == () and _user(db, "sato").disabled
    assert "--date (適用日)" in _bad(juki("access", "apply-due", "--date", "2099-13-01"))


def _round(db: Database, settings: Settings, juki: Any, tmp_path: Path) -> None:
    registry(db, settings)
    data = _write(tmp_path, "idou.csv", HEADER
                  + "2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員\n"
                  + "2026-04-01,1002,職員 suzuki,退職,市民課,,,\n")
    _ok(juki("hr", "import", str(data)))


def test_access_report_csv_to_a_named_file(
    db: Database, settings: Settings, juki: Any, tmp_path: Path
) -> None:
    _round(db, settings, juki, tmp_path)
    out = tmp_path / "権限変更一覧.csv"
    printed = _ok(juki("access", "report", "1", "--format", "csv", "--output", str(out)))
    assert "権限変更一覧（異動処理 #1） 3 件を CSV で書き出しました" in printed
    assert str(out) in printed
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == 4
    assert os.stat(out).st_mode & 0o777 == 0o600
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert sorted((r[4], r[7], r[9]) for r in rows[1:]) == [
        ("1002", "利用停止", ""), ("1002", "削除", "clerk"), ("4001", "付与", "clerk")]
    assert all(r[2] == "令和8年4月1日" for r in rows[1:])
    digest = hashlib.sha256(data).hexdigest()
    assert f"SHA-256: {digest}" in printed
    [event] = _events(db, "access.report")
    details = json.loads(event["details"])
    assert event["actor"].startswith("os:") and details["sha256"] == digest
    assert (details["round"], details["format"], details["rows"]) == (1, "csv", 3)
    assert juki("audit", "verify").returncode == 0


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
def test_access_report_pdf_to_the_default_place(
    db: Database, settings: Settings, juki: Any, tmp_path: Path
) -> None:
    _round(db, settings, juki, tmp_path)
    printed = _ok(juki("access", "report", "1"))  # PDF by default
    match = re.search(r"で書き出しました: (\S+\.pdf)", printed)
    assert match, printed
    path = Path(match.group(1))
    assert path.parent == settings.resolved_data_dir / "reports"
    assert os.stat(path).st_mode & 0o777 == 0o600
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "権限変更一覧（異動処理 #1）" in text and "発令日: 令和8年4月1日" in text
    assert "山田 花子" in text and "確認印" in text and "利用停止" in text
    details = json.loads(_events(db, "access.report")[-1]["details"])
    assert details["format"] == "pdf" and details["rows"] == 3
    assert details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_access_report_bad_input_exits_2_and_writes_nothing(
    db: Database, settings: Settings, juki: Any, juki_env: dict[str, str], tmp_path: Path
) -> None:
    _round(db, settings, juki, tmp_path)
    assert "#7 はありません" in _bad(juki("access", "report", "7"))
    assert "入力が正しくありません" in _bad(juki("access", "report", "1", "--format", "xlsx"))
    assert "入力が正しくありません" in _bad(juki("access", "report", "一"))
    env = dict(juki_env, JUKI_REPORT_FONT=str(tmp_path / "no-font.ttf"))
    no_font = subprocess.run(
        [sys.executable, "-m", "console.cli", "access", "report", "1",
         "--output", str(tmp_path / "x.pdf")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    err = _bad(no_font)
    assert "report_font" in err and "JUKI_REPORT_FONT" in err
    assert not (tmp_path / "x.pdf").exists()
    reports = settings.resolved_data_dir / "reports"
    assert not reports.exists() or not any(reports.iterdir())
    assert _events(db, "access.report") == []


def test_access_policy_check_names_the_bad_rule(juki: Any, tmp_path: Path) -> None:
    good = _write(tmp_path, "good.toml",
                  '[[rule]]\ndepartment = "市民課"\npost = "係員"\nroles = ["clerk"]\n')
    out = _ok(juki("access", "policy-check", str(good)))
    assert "ルール 1 件" in out and "市民課・係員 → clerk" in out
    assert "(既定)" in _ok(juki("access", "policy-check"))
    bad = _write(tmp_path, "bad.toml",
                 '[[rule]]\ndepartment = "市民課"\nroles = ["clerk"]\n\n'
                 '[[rule]]\ndepartment = "税務課"\nroles = ["wizard"]\n')
    err = _bad(juki("access", "policy-check", str(bad)))
    assert "ルール2" in err and "不明な役割 wizard" in err
    broken = _write(tmp_path, "broken.toml", "[[rule]\n")
    assert "TOML として読めません" in _bad(juki("access", "policy-check", str(broken)))


def test_hr_import_refuses_a_row_naming_another_person_than_its_staff_number(
    db: Database, settings: Settings, juki: Any, tmp_path: Path
) -> None:
    """Issue 18: the row for 1003 named 佐藤 花子 revoked 中村 翼's roles and disabled him."""
    registry(db, settings)  # 1003 is takaha's account, reviewer, 市民課 係長
    renamed = _write(tmp_path, "staff.csv", STAFF_HEADER
                     + "1003,中村 翼,ナカムラ ツバサ,市民課,係長,正規,,在職,2026-01-10\n")
    _ok(juki("hr", "staff", str(renamed)))
    row = "令和8年4月1日,1003,佐藤 花子,転出,市民課,税務課,係長,係長\n"
    err = _bad(juki("hr", "import", str(_write(tmp_path, "idou.csv", HEADER + row))))
    assert "2行目 氏名" in err and "佐藤 花子" in err and "何も取り込んでいません" in err
    assert _count(db, ChangeRound) == 0
    assert _user(db, "takaha").roles == ("reviewer",) and not _user(db, "takaha").disabled
    [refused] = _events(db, "hr.import")
    assert refused["outcome"] == "refused"
    assert "2行目 氏名" in json.loads(refused["details"])["reason"]
    right = "令和8年4月1日,1003,中村　翼,転出,市民課,税務課,係長,係長\n"
    _ok(juki("hr", "import", str(_write(tmp_path, "idou2.csv", HEADER + right))))
    assert _user(db, "takaha").disabled  # the right person, named right: applied


def test_hr_import_an_earlier_date_only_with_allow_earlier_and_it_is_recorded(
    db: Database, settings: Settings, juki: Any, tmp_path: Path
) -> None:
    registry(db, settings)
    first = _write(tmp_path, "first.csv", HEADER
                   + "2026-04-01,1001,職員 sato,転入,市民課,市民課,係員,係員\n")
    _ok(juki("hr", "import", str(first)))
    late = _write(tmp_path, "late.csv", HEADER
                  + "2026-03-15,1001,職員 sato,退職,市民課,,係員,\n")
    err = _bad(juki("hr", "import", str(late)))
    assert "2行目 発令日" in err and "令和8年3月15日" in err and "令和8年4月1日" in err
    assert "--allow-earlier" in err
    assert _count(db, ChangeRound) == 1 and not _user(db, "sato").disabled
    _ok(juki("hr", "import", "--allow-earlier", str(late)))
    assert _user(db, "sato").disabled
    imported = [e for e in _events(db, "hr.import") if e["outcome"] == "success"]
    assert json.loads(imported[-1]["details"])["earlier_confirmed"] == [
        {"line": 2, "staff_no": "1001", "effective_on": "2026-03-15",
         "applied_on": "2026-04-01"}]
