"""``juki assess …`` and ``juki inspect …`` as the operator runs them: a real subprocess.

Exit 0 when done, 1 on a failed check (a year started twice, a year not started), 2 on
bad input (a date or year that is not one, a future date, an empty summary); never a
traceback.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from core.actor import Actor
from core.db import Database
from core.settings import Settings
from services.jp import format_wareki
from services.personnel.inventory import office_day
from tests.conftest import Juki
from tests.factories import account, make_resident


def _clean(*results) -> None:  # type: ignore[no-untyped-def]
    for r in results:
        assert "Traceback" not in r.stderr, r.stderr


def test_threshold_and_incidents(db: Database, settings: Settings, juki: Juki) -> None:
    for _ in range(3):
        make_resident(db)
    account(db, settings, "c1", ["clerk"], by=Actor.cli())
    today = office_day()
    first = juki("assess", "threshold")
    assert first.returncode == 0, first.stderr
    assert f"しきい値判断（{format_wareki(today)} 時点）" in first.stdout
    assert "対象人数: 3 人（住民 3、消除済みで保存中 0）" in first.stdout
    assert "取扱者数: 1 人" in first.stdout
    assert ("判断: 1,000人未満 / 500人未満 / 発生なし → "
            "特定個人情報保護評価の実施が義務付けられない（任意実施）") in first.stdout

    added = juki("assess", "incident", "add", "--date", today.isoformat(),
                 "--summary", "住民票の写しの誤交付", "--serious")
    assert added.returncode == 0, added.stderr
    assert "重大事故 #1" in added.stdout
    listed = juki("assess", "incident", "list")
    assert listed.returncode == 0 and "住民票の写しの誤交付" in listed.stdout
    second = juki("assess", "threshold", "--as-of", today.isoformat())
    assert "重大事故（過去1年）: 1 件 → 発生あり" in second.stdout

    bad_date = juki("assess", "threshold", "--as-of", "R8.13.40")
    future = juki("assess", "threshold", "--as-of", (today + timedelta(days=2)).isoformat())
    empty = juki("assess", "incident", "add", "--date", "2026-01-01", "--summary", " ")
    missing = juki("assess", "incident", "add", "--date", "2026-01-01")
    assert [r.returncode for r in (bad_date, future, empty, missing)] == [2, 2, 2, 2]
    assert "--as-of" in bad_date.stderr and "基準日" in future.stderr
    assert "概要" in empty.stderr
    _clean(first, added, listed, second, bad_date, future, empty, missing)


def test_inspect_start_list_report(db: Database, settings: Settings, juki: Juki,
                                   tmp_path: Path) -> None:
    account(db, settings, "c1", ["clerk"], by=Actor.cli())
    start = juki("inspect", "start", "R8")
    assert start.returncode == 0, start.stderr
    assert "令和8年度の自己点検を始めました（承認期限 令和9年3月31日）" in start.stdout
    assert "所属 1（市民課）" in start.stdout
    again = juki("inspect", "start", "2026")
    listed = juki("inspect", "list")
    assert "#1\t市民課\t回答中\t回答 0/18\t未承認" in listed.stdout
    out = tmp_path / "k.csv"
    csv = juki("inspect", "report", "令和8", "--format", "csv", "--output", str(out))
    pdf = juki("inspect", "report", "2026", "--format", "pdf", "--output",
               str(tmp_path / "k.pdf"))
    assert (csv.returncode, pdf.returncode) == (0, 0), csv.stderr + pdf.stderr
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert (tmp_path / "k.pdf").read_bytes().startswith(b"%PDF")
    assert "SHA-256:" in csv.stdout
    not_started = juki("inspect", "report", "2030")
    bad_year = juki("inspect", "start", "来年")
    bad_format = juki("inspect", "report", "2026", "--format", "xls")
    assert [r.returncode for r in (again, not_started, bad_year, bad_format)] == [1, 1, 2, 2]
    assert "既に始まっています" in again.stderr
    assert "令和12年度の自己点検はまだ始まっていません" in not_started.stderr
    _clean(start, again, listed, csv, pdf, not_started, bad_year, bad_format)
