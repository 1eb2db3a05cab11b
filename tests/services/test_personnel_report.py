"""The round's report (帳票): PDF and CSV from a round imported, applied and re-confirmed.

The round is made the way the office makes it (import, an admin's grant, a security
officer's verdict) on both backends; the files are read back as users' tools read them:
the PDF through ``pdftotext`` and ``pdffonts`` (poppler-utils), the CSV as Excel gets it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from auth.identity import Identity
from auth.roles import role_label
from core.actor import Actor
from core.db import Database
from core.errors import BadInput, Refused
from core.settings import Settings
from services.personnel.apply import apply_change
from services.personnel.confirm import confirm_change
from services.personnel.report import CSV_HEADER, export_round_report
from services.personnel.rounds import import_round, round_lines
from services.personnel.staff import link_account
from services.reports.pdf import ReportFontMissing
from tests.factories import ADMIN, account
from tests.services.personnel_setup import DAY, csv_file, events, last_seq, registry

needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdffonts")),
    reason="poppler-utils (pdftotext, pdffonts) not installed; dev/test installs it",
)
FORMULA = "=SUM(A1:A9)"


class Round:
    """A round of four people: a move in (grant, applied by kato, confirmed by sec), a
    leaver (revoked and disabled by mechanism, disputed by takaha), a hire whose name is
    a formula (a grant not applied yet) and a move out and back within the round."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.people: dict[str, Identity] = registry(db, settings)
        done = import_round(db, settings, ADMIN, name="idou.csv", today=DAY, data=csv_file(
            "2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員",
            "2026-04-01,1002,職員 suzuki,退職,市民課,,,",
            f"2026-04-01,5001,{FORMULA},採用,,市民課,,係員",
            "2026-04-01,1001,職員 sato,転出,市民課,税務課,係員,主事",
            "2026-04-15,1001,職員 sato,転入,税務課,市民課,主事,係員",
        ))
        self.round_id = done.round_id
        account(db, settings, "yamada", ["auditor"], name="山田 花子", department="総務課")
        link_account(db, ADMIN, "4001", "yamada")
        lines = round_lines(db, done.round_id)
        grant = next(x for x in lines if x.staff_no == "4001" and x.action == "grant")
        apply_change(db, self.people["kato"], grant.id, today=DAY)
        confirm_change(db, self.people["sec"], grant.id, "confirmed")
        revoke = next(x for x in lines if x.staff_no == "1002" and x.action == "revoke")
        confirm_change(db, self.people["takaha"], revoke.id, "disputed", "退職日は3月31日")
        self.lines = round_lines(db, done.round_id)


@pytest.fixture
def rnd(db: Database, settings: Settings) -> Round:
    return Round(db, settings)


def _pdftext(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def _report_events(db: Database, since: int = 0) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in events(db, since) if e["action"] == "access.report"]


@needs_poppler
def test_the_pdf_reads_back_in_japanese_with_wareki_dates_and_stamp_boxes(
    db: Database, settings: Settings, rnd: Round, tmp_path: Path
) -> None:
    out = tmp_path / "権限変更一覧.pdf"
    done = export_round_report(db, settings, rnd.people["sec"], rnd.round_id, "pdf", path=out)
    assert (done.path, done.format, done.rows) == (out, "pdf", len(rnd.lines))
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and done.sha256 == hashlib.sha256(data).hexdigest()
    assert os.stat(out).st_mode & 0o777 == 0o600
    text = _pdftext(out)
    assert f"権限変更一覧（異動処理 #{rnd.round_id}）" in text
    assert "発令日: 令和8年4月1日〜令和8年4月15日" in text  # the round's range, 和暦
    assert "印刷日: 令和" in text and "印刷日時: 令和" in text
    assert "確認印" in text and all(label in text for label in ("担当", "係長", "課長"))
    assert "山田 花子" in text and "職員 suzuki" in text and "4001" in text
    assert f"付与 {role_label('clerk')}" in text
    assert "削除" in text and "利用停止" in text
    assert "kato" in text and "os:admin" in text  # who applied: an admin, the mechanism
    assert "sec 確認済み" in text and "takaha 異議あり" in text
    assert "退職日は3月31日" in text
    assert "令和8年4月15日" in text  # sato back on the 15th
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert fonts and all(" yes " in f for f in fonts), fonts  # every font embedded
    assert b"FontFile2" in data
    [event] = _report_events(db)
    details = json.loads(event["details"])
    assert (event["actor"], event["outcome"], event["target"]) == (
        "sec", "success", f"round:{rnd.round_id}")
    assert details["sha256"] == done.sha256 and details["rows"] == len(rnd.lines)
    assert details["format"] == "pdf" and details["file"] == str(out.resolve())


def test_the_csv_has_a_bom_opens_with_csv_and_keeps_formulas_inert(
    db: Database, settings: Settings, rnd: Round
) -> None:
    done = export_round_report(db, settings, rnd.people["sec2"], rnd.round_id, "csv")
    assert done.path.parent == settings.resolved_data_dir / "reports"
    assert os.stat(done.path).st_mode & 0o777 == 0o600
    data = done.path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    assert data.count(b"\r\n") == len(rnd.lines) + 1
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == CSV_HEADER and len(rows) == len(rnd.lines) + 1
    by = {(r[4], r[7], r[9]): r for r in rows[1:]}
    yamada = by[("4001", "付与", "clerk")]
    assert yamada[2] == "令和8年4月1日" and yamada[3] == "2026-04-01"
    assert yamada[5] == "山田 花子" and yamada[12] == "kato" and yamada[13].startswith("令和")
    assert (yamada[15], yamada[17]) == ("sec", "確認済み")
    suzuki = by[("1002", "削除", "clerk")]
    assert (suzuki[6], suzuki[11], suzuki[12]) == ("suzuki", "異議あり", "os:admin")
    assert suzuki[18] == "退職日は3月31日"
    hire = next(r for r in rows[1:] if r[4] == "5001")
    assert hire[5] == "'" + FORMULA and hire[11] == "未適用" and hire[12] == ""
    sato = [r for r in rows[1:] if r[4] == "1001"]
    assert {r[3] for r in sato} == {"2026-04-01", "2026-04-15"}  # out and back in one round
    assert [e["outcome"] for e in _report_events(db)] == ["success"]


def test_who_may_print_and_a_refusal_is_recorded(
    db: Database, settings: Settings, rnd: Round, tmp_path: Path
) -> None:
    since = last_seq(db)
    with pytest.raises(Refused, match="権限変更一覧の出力"):
        export_round_report(db, settings, rnd.people["sato"], rnd.round_id, "csv",
                            path=tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
    [refused] = _report_events(db, since)
    assert (refused["actor"], refused["outcome"]) == ("sato", "refused")
    assert json.loads(refused["details"])["reason"] == "permission"
    # the admin who applies and the CLI operator may
    export_round_report(db, settings, rnd.people["kato"], rnd.round_id, "csv",
                        path=tmp_path / "kato.csv")
    export_round_report(db, settings, Actor.cli(), rnd.round_id, "csv",
                        path=tmp_path / "os.csv")
    assert [e["outcome"] for e in _report_events(db, since)] == ["refused", "success", "success"]


def test_bad_input_writes_and_records_nothing(
    db: Database, settings: Settings, rnd: Round, tmp_path: Path
) -> None:
    since = last_seq(db)
    with pytest.raises(BadInput, match="#999 はありません"):
        export_round_report(db, settings, ADMIN, 999, "pdf", path=tmp_path / "a.pdf")
    with pytest.raises(BadInput, match="形式"):
        export_round_report(db, settings, ADMIN, rnd.round_id, "xlsx", path=tmp_path / "a.x")
    no_font = settings.with_(report_font=str(tmp_path / "no-font.ttf"))
    with pytest.raises(ReportFontMissing, match="report_font"):
        export_round_report(db, no_font, ADMIN, rnd.round_id, "pdf", path=tmp_path / "a.pdf")
    with pytest.raises(BadInput, match="フォルダ"):
        export_round_report(db, settings, ADMIN, rnd.round_id, "csv",
                            path=tmp_path / "no" / "x.csv")
    assert list(tmp_path.glob("a.*")) == [] and _report_events(db, since) == []
