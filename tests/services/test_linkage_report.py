"""The record kept (紐付け記録): rows, CSV and PDF built from links made through the service.

Links are made the way the office makes them — propose, a second person approves; an
unlink proposed and approved; a review voided by a change — plus links planted in the
tables as the takeover (初期移行) and a stray path would leave them. Both backends.
The files are read back as a user's tools read them: the CSV bytes as Excel gets them,
the PDF through ``pdftotext`` and ``pdffonts`` (poppler-utils).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from auth.identity import Identity
from core.clock import now
from core.db import Database
from core.errors import BadInput, Refused
from core.settings import Settings
from logs.audit import verify
from services.jp import format_wareki
from services.linkage.acts import amend, propose_unlink
from services.linkage.decision import approve, reject
from services.linkage.report import linkage_report
from services.linkage.report_export import (
    CSV_HEADER,
    ReportMeta,
    export_report,
    render_csv,
    write_pdf,
)
from services.register.models import MyNumberLink
from services.reports.output import local
from services.reports.pdf import ReportFontMissing
from tests.factories import (
    enrol,
    full_proposal,
    initial_link,
    make_resident,
    matching_application,
    my_number,
    staff,
)
from tests.services.linkage_setup import as_schema_owner, events, twelve_digit_runs

INJECTION = '=HYPERLINK("http://evil.example/","開く")'
REASON_NUMBER = "983205673214"  # a full number typed into the unlink reason

needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdffonts")),
    reason="poppler-utils (pdftotext, pdffonts) not installed; dev/test installs it",
)


def _plant(db: Database, resident_id: int, number: str, at: datetime, source: str) -> int:
    """An 初期移行 link as the application's account may write one; any other link
    without a proposal only as the schema's owner can, past the guard."""
    if source == "初期移行":
        return initial_link(db, resident_id, number, at=at)
    with as_schema_owner(db) as conn:
        return conn.execute(MyNumberLink.__table__.insert().values(  # type: ignore[attr-defined]
            resident_id=resident_id, number=number, last4=number[-4:], linked_at=at,
            source=source, status="active", revoke_reason="")).inserted_primary_key[0]


class World:
    """Three service-made links (one later unlinked, one with a voided review), a
    rejected proposal, a DV resident, an 初期移行 link and a link with no record."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.people: dict[str, Identity] = staff(db, settings, ["clerk", "rev1", "rev2", "aud"])
        clerk, rev1, rev2 = (self.people[k] for k in ("clerk", "rev1", "rev2"))
        self.today = local(now()).date()

        self.yamada = make_resident(db)
        self.n_yamada = my_number(70000000001)
        v = full_proposal(db, settings, clerk, self.yamada, self.n_yamada)
        self.yamada_link = approve(db, rev1, v.id, version=v.version).link_id
        self.yamada_proposal = v.id

        # A reference that is a formula, and a review voided by a change (threshold 2).
        two = settings.with_(linkage_approvals=2)
        self.suzuki = make_resident(db, family="鈴木", given="花子", given_kana="ハナコ",
                                    family_kana="スズキ", sex="女")
        self.n_suzuki = my_number(70000000002)
        app = matching_application(name="鈴木 花子", kana="スズキ ハナコ", sex="女")
        v = full_proposal(db, two, clerk, self.suzuki, self.n_suzuki, application=app)
        approve(db, rev1, v.id, version=v.version)
        v = amend(db, two, clerk, v.id, version=v.version, reference=INJECTION)
        approve(db, rev1, v.id, version=v.version)
        self.suzuki_link = approve(db, rev2, v.id, version=v.version).link_id

        # Linked, then unlinked by its own proposal and a second person.
        self.sato = make_resident(db, family="佐藤", given="次郎", family_kana="サトウ",
                                  given_kana="ジロウ")
        self.n_sato = my_number(70000000003)
        app = matching_application(name="佐藤 次郎", kana="サトウ ジロウ")
        v = full_proposal(db, settings, clerk, self.sato, self.n_sato, application=app)
        self.sato_link = approve(db, rev2, v.id, version=v.version).link_id
        u = propose_unlink(db, settings, clerk, self.sato_link,
                           reason=f"別人の番号 ({REASON_NUMBER}) を登録していたため")
        approve(db, rev1, u.id, version=u.version)

        # Rejected: no link, so not in the record.
        self.tanaka = make_resident(db, family="田中", given="一郎", family_kana="タナカ",
                                    given_kana="イチロウ")
        app = matching_application(name="田中 一郎", kana="タナカ イチロウ")
        v = full_proposal(db, settings, clerk, self.tanaka, my_number(70000000004),
                          application=app)
        reject(db, rev1, v.id, version=v.version, comment="本人確認書類の期限切れ")

        # DV等支援措置: linked through the service (approved by a reviewer who may see the
        # items); to a reader without the DV permission the row is the name only.
        self.people["dvrev"] = enrol(db, settings, "dvrev", ["reviewer", "dv_officer"])
        self.dv = make_resident(db, family="秘匿", given="保護", family_kana="ヒトク",
                                given_kana="ホゴ", dv=True)
        app = matching_application(name="秘匿 保護", kana="ヒトク ホゴ")
        self.n_dv = my_number(70000000005)
        v = full_proposal(db, settings, clerk, self.dv, self.n_dv, application=app)
        self.dv_link = approve(db, self.people["dvrev"], v.id, version=v.version).link_id

        # Planted: the takeover, and a link that bypassed the workflow, both today.
        at = datetime.now(UTC)
        self.migrated = make_resident(db, family="移行", given="太郎")
        self.migrated_link = _plant(db, self.migrated, my_number(70000000006), at, "初期移行")
        self.stray = make_resident(db, family="経路", given="不明")
        self.stray_link = _plant(db, self.stray, my_number(70000000007), at, "申請")

    @property
    def numbers(self) -> list[str]:
        return [self.n_yamada, self.n_suzuki, self.n_sato, REASON_NUMBER]

    def period(self) -> dict[str, date]:
        return {"start": self.today - timedelta(days=1), "end": self.today + timedelta(days=1)}


@pytest.fixture
def world(db: Database, settings: Settings) -> World:
    return World(db, settings)


def test_rows_hold_who_proposed_and_who_confirmed(db: Database, world: World) -> None:
    rows = linkage_report(db, world.people["rev1"], **world.period())
    by_key = {(r.link_id, r.kind): r for r in rows}
    assert set(by_key) == {
        (world.yamada_link, "link"), (world.suzuki_link, "link"), (world.sato_link, "link"),
        (world.sato_link, "unlink"), (world.dv_link, "link"), (world.migrated_link, "link"),
        (world.stray_link, "link"),
    }
    assert [r.at for r in rows] == sorted(r.at for r in rows)

    yamada = by_key[(world.yamada_link, "link")]
    assert yamada.proposal_id == world.yamada_proposal
    assert yamada.resident_name == "山田\u3000太郎" and yamada.status == "active"
    assert yamada.number_masked == "**** **** " + world.n_yamada[-4:]
    assert (yamada.source, yamada.reference) == ("窓口", "R7-窓口-0012")
    assert yamada.number_check == "個人番号カード"
    assert yamada.identity_checks == ("個人番号カード",)
    assert yamada.proposer_login == "clerk" and yamada.proposer_name == "職員 clerk"
    assert [(v.login, v.verdict, v.counted) for v in yamada.reviews] == [("rev1", "approve", True)]
    assert yamada.proposed_at is not None and yamada.decided_at is not None
    assert yamada.proposed_at <= yamada.reviews[0].at <= yamada.decided_at

    suzuki = by_key[(world.suzuki_link, "link")]
    assert [(v.login, v.counted) for v in suzuki.reviews] == [
        ("rev1", False), ("rev1", True), ("rev2", True)]
    assert "変更前の版・無効" in suzuki.reviews[0].label
    assert suzuki.reference == INJECTION

    linked = by_key[(world.sato_link, "link")]
    unlinked = by_key[(world.sato_link, "unlink")]
    assert linked.status == unlinked.status == "revoked"
    assert unlinked.kind_label == "紐付け解除" and unlinked.status_label == "解除済み"
    assert [v.login for v in unlinked.reviews] == ["rev1"]
    assert REASON_NUMBER not in unlinked.note and "**** **** 3214" in unlinked.note

    dv = by_key[(world.dv_link, "link")]
    assert dv.restricted and dv.withheld and dv.resident_name == "秘匿\u3000保護"
    assert (dv.resident_code, dv.number_masked, dv.reference) == ("", "", "")

    migrated = by_key[(world.migrated_link, "link")]
    assert migrated.migrated and migrated.source == "初期移行"
    assert migrated.proposal_id is None and migrated.proposer_login == "" and not migrated.reviews
    stray = by_key[(world.stray_link, "link")]
    assert not stray.migrated and "申請・確認の記録なし" in stray.note


def test_the_period_is_office_days_in_japan_time(db: Database, settings: Settings) -> None:
    people = staff(db, settings, ["rev1"])
    rid = make_resident(db)
    # 2025-03-31 15:30 UTC is 2025-04-01 00:30 in Japan.
    link = _plant(db, rid, my_number(70000000011), datetime(2025, 3, 31, 15, 30, tzinfo=UTC),
                  "初期移行")
    ident = people["rev1"]
    april = linkage_report(db, ident, start=date(2025, 4, 1), end=date(2025, 4, 1))
    march = linkage_report(db, ident, start=date(2025, 3, 1), end=date(2025, 3, 31))
    assert [r.link_id for r in april] == [link] and march == []
    without = linkage_report(db, ident, start=date(2025, 4, 1), end=date(2025, 4, 1),
                             include_migration=False)
    assert without == []
    with pytest.raises(BadInput, match="開始日"):
        linkage_report(db, ident, start=date(2025, 4, 2), end=date(2025, 4, 1))


def test_who_may_read_the_record(db: Database, settings: Settings, world: World) -> None:
    assert linkage_report(db, world.people["aud"], **world.period())  # AUDIT_READ
    assert linkage_report(db, world.people["rev2"], **world.period())  # LINK_REVIEW
    with pytest.raises(Refused, match="権限"):
        linkage_report(db, world.people["clerk"], **world.period())
    with pytest.raises(Refused):
        export_report(db, settings, world.people["clerk"], fmt="csv", **world.period())
    refused = [e for e in events(db, "linkage.report") if e["outcome"] == "refused"]
    assert len(refused) == 2 and all(e["actor"] == "clerk" for e in refused)
    shown = [e for e in events(db, "linkage.report") if e["outcome"] == "success"]
    assert [e["actor"] for e in shown] == ["aud", "rev2"]
    assert '"format":"screen"' in shown[0]["details"]


def _cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_file_is_excel_friendly_inert_and_recorded(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    out = tmp_path / "record.csv"
    done = export_report(db, settings, world.people["aud"], fmt="csv", path=out,
                         **world.period())
    data = out.read_bytes()
    assert done.rows == 7 and done.sha256 == hashlib.sha256(data).hexdigest()
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 8 and b"\n" not in data.replace(b"\r\n", b"")
    rows = _cells(data)
    assert rows[0] == list(CSV_HEADER) and len(rows) == 8
    col = {name: i for i, name in enumerate(CSV_HEADER)}
    suzuki = next(r for r in rows if r[col["紐付けID"]] == str(world.suzuki_link))
    assert suzuki[col["申請書等の番号"]] == "'" + INJECTION
    assert not any(c.startswith(("=", "+", "-", "@")) for r in rows for c in r)
    assert "令和" in suzuki[col["決定日時"]]
    assert "[変更前の版・無効]" in suzuki[col["確認者 (判断・日時)"]]
    text = data.decode("utf-8-sig")
    for number in world.numbers:
        assert number not in text
    assert twelve_digit_runs(text) == []
    assert "支援措置対象 (氏名のほかは表示しません)" in text
    assert "**** **** " + world.n_dv[-4:] not in text
    assert "**** **** " + world.n_yamada[-4:] in text

    event = events(db, "linkage.report")[-1]
    assert event["outcome"] == "success" and done.sha256 in event["details"]
    assert '"format":"csv"' in event["details"] and '"rows":7' in event["details"]
    assert verify(db).ok
    # The bytes are the rendering of the rows: the same rows render the same file.
    rows_now = linkage_report(db, world.people["aud"], **world.period())
    assert render_csv(rows_now) == data


def _pdftotext(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


@needs_poppler
def test_pdf_reads_back_in_japanese_with_the_font_embedded(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    out = tmp_path / "record.pdf"
    done = export_report(db, settings, world.people["rev1"], fmt="pdf", path=out,
                         **world.period())
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and done.sha256 == hashlib.sha256(data).hexdigest()
    assert os.stat(out).st_mode & 0o777 == 0o600
    text = _pdftotext(out)
    assert "個人番号 紐付け記録" in text and "山田" in text and "佐藤" in text
    assert "紐付け解除" in text and "初期移行" in text
    assert format_wareki(world.today) in text or format_wareki(
        world.today - timedelta(days=1)) in text
    assert re.search(r"令和(元|\d+)年\d+月\d+日 \d\d:\d\d", text)
    assert "**** **** " + world.n_yamada[-4:] in text
    assert re.search(r"1 / \d+ ページ", text) and "印刷者: rev1" in text
    for number in world.numbers:
        assert number not in text.replace(" ", "")
    assert twelve_digit_runs(text) == [] and "支援措置対象者は氏名のみ表示しています" in text
    assert "**** **** " + world.n_dv[-4:] not in text
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert fonts and all(" yes yes " in line for line in fonts), fonts
    assert any("IPAexGothic" in line for line in fonts)
    assert b"/FontFile2" in data
    event = events(db, "linkage.report")[-1]
    assert '"format":"pdf"' in event["details"] and done.sha256 in event["details"]


def test_an_empty_period_still_makes_a_document(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    people = staff(db, settings, ["aud"])
    period = {"start": date(2020, 1, 1), "end": date(2020, 1, 31)}
    csv_out = export_report(db, settings, people["aud"], fmt="csv", path=tmp_path / "e.csv",
                            **period)
    assert csv_out.rows == 0 and len(_cells(csv_out.path.read_bytes())) == 1
    pdf_out = export_report(db, settings, people["aud"], fmt="pdf", path=tmp_path / "e.pdf",
                            **period)
    assert pdf_out.rows == 0 and pdf_out.path.read_bytes().startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        assert "記録はありません" in _pdftotext(pdf_out.path)


def test_a_missing_font_names_the_setting_and_writes_nothing(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-font.ttf")
    out = tmp_path / "record.pdf"
    before = len(events(db, "linkage.report"))
    with pytest.raises(ReportFontMissing) as info:
        export_report(db, settings.with_(report_font=missing), world.people["rev1"],
                      fmt="pdf", path=out, **world.period())
    assert isinstance(info.value, BadInput)
    assert "report_font" in info.value.message and "JUKI_REPORT_FONT" in info.value.message
    assert missing in info.value.message
    assert not out.exists() and len(events(db, "linkage.report")) == before
    garbage = tmp_path / "garbage.ttf"
    garbage.write_bytes(b"not a font at all")
    meta = ReportMeta(start=date(2025, 1, 1), end=date(2025, 1, 2), printed_by="x",
                      printed_at=now(), font=str(garbage))
    with pytest.raises(ReportFontMissing, match="report_font"):
        write_pdf([], tmp_path / "g.pdf", meta)
