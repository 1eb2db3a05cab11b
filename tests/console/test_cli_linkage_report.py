"""``juki linkage report`` as the operator runs it: a real subprocess, both backends.

Exit 0 writing a private CSV or PDF (dates in 西暦 or 和暦), recorded with the file's
SHA-256; exit 2 on a bad date, a period that ends before it starts, an unknown format,
a missing option, or a report font that is not there; never a traceback.
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
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import now
from core.db import Database
from core.settings import Settings
from logs.audit import events_after
from services.jp import format_wareki, format_wareki_short
from services.linkage.acts import propose_unlink
from services.linkage.decision import approve
from services.reports.output import local
from tests.factories import full_proposal, make_resident, matching_application, my_number, staff
from tests.services.linkage_setup import twelve_digit_runs


def _links(db: Database, settings: Settings) -> list[str]:
    """Two links made through the service, one of them unlinked again; their numbers."""
    people = staff(db, settings, ["clerk", "rev1", "rev2"])
    first, second = my_number(60000000001), my_number(60000000002)
    rid = make_resident(db)
    v = full_proposal(db, settings, people["clerk"], rid, first)
    approve(db, people["rev1"], v.id, version=v.version)
    rid2 = make_resident(db, family="佐藤", given="花子", family_kana="サトウ",
                         given_kana="ハナコ", sex="女")
    app = matching_application(name="佐藤 花子", kana="サトウ ハナコ", sex="女")
    v = full_proposal(db, settings, people["clerk"], rid2, second, application=app)
    link = approve(db, people["rev2"], v.id, version=v.version).link_id
    assert link is not None
    u = propose_unlink(db, settings, people["clerk"], link, reason="別人の番号")
    approve(db, people["rev1"], u.id, version=u.version)
    return [first, second]


def _report_events(db: Database) -> list[dict[str, Any]]:
    return [e for e in events_after(db, 0, 100_000) if e["action"] == "linkage.report"]


def test_csv_with_seireki_dates_to_a_named_file(
    db: Database, settings: Settings, juki: Any, tmp_path: Path
) -> None:
    numbers = _links(db, settings)
    today = local(now()).date()
    out = tmp_path / "紐付け記録.csv"
    done = juki("linkage", "report", "--from", (today - timedelta(days=1)).isoformat(),
                "--to", (today + timedelta(days=1)).isoformat(), "--format", "csv",
                "--output", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 件" in done.stdout and str(out) in done.stdout
    data = out.read_bytes()
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == 4
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["紐付けID", "種別", "状態"]
    assert sorted(r[1] for r in rows[1:]) == ["紐付け", "紐付け", "紐付け解除"]
    text = data.decode("utf-8-sig")
    assert all(n not in text for n in numbers) and twelve_digit_runs(text) == []
    assert "**** **** " + numbers[0][-4:] in text
    digest = hashlib.sha256(data).hexdigest()
    assert f"SHA-256: {digest}" in done.stdout
    event = _report_events(db)[-1]
    details = json.loads(event["details"])
    assert event["actor"].startswith("os:") and event["outcome"] == "success"
    assert details["sha256"] == digest and details["format"] == "csv"
    assert details["rows"] == 3 and details["file"] == str(out.resolve())
    assert details["from"] == (today - timedelta(days=1)).isoformat()
    assert juki("audit", "verify").returncode == 0


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
def test_pdf_with_wareki_dates_to_the_default_place(
    db: Database, settings: Settings, juki: Any
) -> None:
    numbers = _links(db, settings)
    today = local(now()).date()
    start, end = today - timedelta(days=3), today
    done = juki("linkage", "report", "--from", format_wareki(start),
                "--to", format_wareki_short(end), "--format", "pdf")
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"で書き出しました: (\S+\.pdf)", done.stdout)
    assert match, done.stdout
    path = Path(match.group(1))
    assert path.parent == settings.resolved_data_dir / "reports"
    assert os.stat(path).st_mode & 0o777 == 0o600
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "個人番号 紐付け記録" in text and "紐付け解除" in text
    assert f"対象期間: {format_wareki(start)}〜{format_wareki(end)}" in text
    assert "**** **** " + numbers[1][-4:] in text
    assert twelve_digit_runs(text) == [] and all(n not in text for n in numbers)
    details = json.loads(_report_events(db)[-1]["details"])
    assert details["format"] == "pdf" and details["rows"] == 3
    assert details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--from", "2025-13-01", "--to", "2025-12-31"], "--from (開始日)"),
        (["--from", "R7.12.1", "--to", "きのう"], "--to (終了日)"),
        (["--from", "平成31年5月1日", "--to", "2025-12-31"], "令和元年5月1日"),
        (["--from", "2025-12-31", "--to", "R7.12.1"], "開始日"),
        (["--from", "R7.12.1", "--to", "R7.12.31", "--format", "xlsx"], "入力が正しくありません"),
        (["--from", "2025-12-01"], "入力が正しくありません"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    db: Database, juki: Any, settings: Settings, args: list[str], words: str
) -> None:
    done = juki("linkage", "report", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    reports = settings.resolved_data_dir / "reports"
    assert not reports.exists() or not any(reports.iterdir())
    assert _report_events(db) == []


def test_a_missing_font_or_folder_exits_2_naming_what_to_fix(
    db: Database, juki: Any, juki_env: dict[str, str], tmp_path: Path
) -> None:
    env = dict(juki_env, JUKI_REPORT_FONT=str(tmp_path / "no-font.ttf"))
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "linkage", "report", "--from", "R7.1.1",
         "--to", "R7.12.31", "--format", "pdf", "--output", str(tmp_path / "x.pdf")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "report_font" in done.stderr and "JUKI_REPORT_FONT" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "x.pdf").exists()
    nowhere = juki("linkage", "report", "--from", "R7.1.1", "--to", "R7.12.31",
                   "--output", str(tmp_path / "no" / "dir" / "x.csv"))
    assert nowhere.returncode == 2 and "フォルダ" in nowhere.stderr
    assert _report_events(db) == []
