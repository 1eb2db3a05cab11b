"""The yearly self-inspection through the service, both backends.

Answered per department by its own staff with evidence notes, signed off by a second
person with the review permission who answered none of its items; refusals recorded;
the home screen's lines; the report as CSV and PDF.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from auth.accounts import disable_user
from auth.identity import Identity
from core.db import Database
from core.errors import BadInput, Refused
from core.settings import Settings
from logs.audit import events_after
from services.assessment import inspection
from services.assessment.inspection_report import CSV_HEADER, export_report
from services.assessment.models import InspectionAnswer
from tests.factories import ADMIN, enrol

YEAR = 2026


@pytest.fixture
def people(db: Database, settings: Settings) -> dict[str, Identity]:
    out = {}
    for login, roles, dept in (("c1", ["clerk"], "市民課"), ("rev3", ["reviewer"], "市民課"),
                               ("rev", ["reviewer"], "市民課"),
                               ("sec", ["security_officer"], "総務課"),
                               ("aud", ["auditor"], "監査室")):
        out[login] = enrol(db, settings, login, roles, department=dept, client="192.0.2.9")
    return out


def _last(db: Database) -> tuple[str, str, dict[str, object]]:
    ev = events_after(db, 0, 10_000)[-1]
    return ev["action"], ev["outcome"], json.loads(ev["details"])


def _answered(db: Database) -> int:
    with db.read() as s:
        return s.execute(select(func.count()).select_from(InspectionAnswer)).scalar_one()


def _fill(db: Database, who: Identity, sheet_id: int, items: list[inspection.Item]) -> None:
    for item in items:
        inspection.answer(db, who, sheet_id, item.code, "実施", f"{item.code} の記録あり")


def test_answer_then_a_second_person_signs_off(
    db: Database, settings: Settings, people: dict[str, Identity]
) -> None:
    insp = inspection.start_inspection(db, settings, ADMIN, YEAR)
    # Departments of accounts that hold the lookup permission: 市民課 only.
    assert [s.department for s in insp.sheets] == ["市民課"]
    assert insp.due_on == date(2027, 3, 31) and insp.label == "令和8年度"
    sheet = insp.sheets[0]
    items = list(insp.items)
    assert {i.area for i in items} >= {"入手", "使用", "委託", "提供・移転", "接続",
                                       "保管・消去", "手作業", "研修"}

    # Evidence is required (except 該当なし); nothing written, refusal recorded.
    with pytest.raises(BadInput, match="根拠・備考"):
        inspection.answer(db, people["rev"], sheet.id, items[0].code, "実施", "")
    assert _answered(db) == 0
    assert _last(db)[:2] == ("inspection.answer", "refused")
    # Another department's member cannot answer 市民課's sheet; a clerk answers nothing.
    with pytest.raises(Refused, match="自分の所属"):
        inspection.answer(db, people["sec"], sheet.id, items[0].code, "実施", "x")
    assert _last(db)[2]["reason"] == "other_department"
    with pytest.raises(Refused, match="権限がありません"):
        inspection.answer(db, people["c1"], sheet.id, items[0].code, "実施", "x")
    assert _answered(db) == 0

    _fill(db, people["rev"], sheet.id, items[:-1])
    # Incomplete: not yet.
    with pytest.raises(Refused, match="未回答の項目が 1 件"):
        inspection.sign_off(db, people["sec"], sheet.id)
    last = items[-1]
    view = inspection.answer(db, people["rev3"], sheet.id, last.code, "該当なし")
    assert view.complete and view.state_label == "承認待ち"

    # rev3 answered an item: self-sign-off is refused and recorded.
    with pytest.raises(Refused, match="自分が回答した点検表は承認できません"):
        inspection.sign_off(db, people["rev3"], sheet.id)
    assert _last(db)[:2] == ("inspection.sign_off", "refused")
    assert _last(db)[2]["reason"] == "self_sign_off"
    # A clerk lacks the review permission.
    with pytest.raises(Refused, match="権限がありません"):
        inspection.sign_off(db, people["c1"], sheet.id)

    done = inspection.sign_off(db, people["sec"], sheet.id, "確認しました")
    assert (done.signed_by, done.state_label) == ("sec", "承認済み")
    action, outcome, details = _last(db)
    assert (action, outcome, details["department"]) == ("inspection.sign_off", "success",
                                                         "市民課")
    assert details["answered_by"] == ["rev", "rev3"]
    # The first sign-off stands; answers are frozen.
    with pytest.raises(Refused, match="既に sec さんが承認済み"):
        inspection.sign_off(db, _reviewer2(db, settings), sheet.id)
    with pytest.raises(Refused, match="承認済みのため変更できません"):
        inspection.answer(db, people["rev"], sheet.id, items[0].code, "未実施", "やり直し")


def _reviewer2(db: Database, settings: Settings) -> Identity:
    return enrol(db, settings, "rev2", ["reviewer"], department="総務課", client="192.0.2.9")


def test_waiting_lines_for_those_who_answer_and_those_who_sign(
    db: Database, settings: Settings, people: dict[str, Identity]
) -> None:
    assert inspection.waiting_lines(db, settings, people["rev"]) == []
    insp = inspection.start_inspection(db, settings, ADMIN, YEAR)
    sheet, items = insp.sheets[0], list(insp.items)
    before = date(2027, 3, 1)
    assert inspection.waiting_lines(db, settings, people["rev"], before) == [
        f"自己点検（令和8年度・市民課）の未回答が {len(items)} 項目あります"
        "（期限 令和9年3月31日）。"]
    for who in ("sec", "aud", "c1"):  # another department, no review permission
        assert inspection.waiting_lines(db, settings, people[who], before) == []
    _fill(db, people["rev"], sheet.id, items)
    assert inspection.waiting_lines(db, settings, people["rev"], before) == []
    assert inspection.waiting_lines(db, settings, people["sec"], before) == [
        "自己点検の承認待ちの点検表が 1 件あります（F6）。"]
    # Past the deadline, not signed off: overdue for those who answer.
    late = date(2027, 4, 1)
    assert inspection.waiting_lines(db, settings, people["rev"], late) == [
        "自己点検（令和8年度・市民課）が期限（令和9年3月31日）を過ぎても承認されていません"
        "（未回答 0 項目）。"]
    inspection.sign_off(db, people["sec"], sheet.id)
    assert inspection.waiting_lines(db, settings, people["rev"], late) == []
    assert inspection.waiting_lines(db, settings, people["sec"], late) == []


def test_start_rules_items_file_and_dates(
    db: Database, settings: Settings, people: dict[str, Identity], tmp_path: Path
) -> None:
    inspection.start_inspection(db, settings, ADMIN, YEAR, departments=["市民課", "総務課"])
    with pytest.raises(Refused, match="既に始まっています"):
        inspection.start_inspection(db, settings, ADMIN, YEAR)
    with pytest.raises(Refused):
        inspection.start_inspection(db, settings, people["c1"], YEAR + 1)
    bad = tmp_path / "items.toml"
    bad.write_text('[[item]]\ncode="a"\narea="入手"\nquestion="q"\n'
                   '[[item]]\ncode="a"\narea="使用"\nquestion="q2"\n', encoding="utf-8")
    with pytest.raises(BadInput, match="2件目の code「a」が重複"):
        inspection.load_items(settings.with_(inspection_items=str(bad)))
    good = tmp_path / "good.toml"
    good.write_text('[[item]]\ncode="X-1"\narea="研修"\nquestion="受講したか"\n',
                    encoding="utf-8")
    insp = inspection.start_inspection(db, settings.with_(inspection_items=str(good),
                                                          inspection_due="10-31"),
                                       ADMIN, YEAR + 1)
    assert [i.code for i in insp.items] == ["X-1"] and insp.due_on == date(2027, 10, 31)
    with pytest.raises(BadInput, match="inspection_due"):
        inspection.due_date(settings.with_(inspection_due="3/31"), YEAR)
    assert [inspection.parse_year(t) for t in ("2026", "令和8", "R8", "令和8年度", "令和元")] \
        == [2026, 2026, 2026, 2026, 2019]
    with pytest.raises(BadInput, match="年度"):
        inspection.parse_year("来年")


def test_report_csv_and_pdf(db: Database, settings: Settings,
                            people: dict[str, Identity], tmp_path: Path) -> None:
    insp = inspection.start_inspection(db, settings, ADMIN, YEAR)
    sheet, items = insp.sheets[0], list(insp.items)
    inspection.answer(db, people["rev"], sheet.id, items[0].code, "一部実施",
                      "=HYPERLINK(\"x\") 台帳は一部のみ")
    out = tmp_path / "r.csv"
    done = export_report(db, settings, ADMIN, YEAR, "csv", out)
    text = out.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff") and "\r\n" in text
    lines = text.lstrip("\ufeff").split("\r\n")
    assert lines[0] == ",".join(f'"{h}"' for h in CSV_HEADER)
    assert lines[1].startswith(f'"令和8年度","市民課","{items[0].code}"')
    assert '"一部実施","\'=HYPERLINK' in lines[1]  # the formula is made inert
    assert done.rows == len(items) and (out.stat().st_mode & 0o777) == 0o600
    pdf = tmp_path / "r.pdf"
    written = export_report(db, settings, ADMIN, YEAR, "pdf", pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"FontFile2" in data  # the font is embedded
    action, outcome, details = _last(db)
    assert (action, outcome, details["sha256"], details["format"]) == \
        ("inspection.report", "success", written.sha256, "pdf")
    with pytest.raises(Refused):
        export_report(db, settings, _norights(db, settings), YEAR, "csv", tmp_path / "n.csv")
    assert not (tmp_path / "n.csv").exists()


def _norights(db: Database, settings: Settings) -> Identity:
    """A signed-in account disabled since: it holds no permission any more."""
    ident = enrol(db, settings, "gone", ["auditor"], department="監査室", client="192.0.2.9")
    disable_user(db, ADMIN, "gone")
    return ident
