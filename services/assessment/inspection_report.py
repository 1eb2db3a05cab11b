"""The self-inspection's record (自己点検結果) as PDF or CSV, written and recorded.

PDF: A4 portrait, the ``report_font`` embedded, dates in 和暦; per department the items
with answer, evidence note and who answered when, then who signed off and when. CSV:
UTF-8 with BOM, CRLF, cells made inert (``services.reports.csv``). The file is written
0600 and recorded as ``inspection.report`` with its SHA-256; if the record cannot be
written the file is removed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.clock import now
from core.db import Database
from core.errors import BadInput
from core.settings import Settings
from logs.outputs import refuse_bad_output
from services import gate
from services.assessment.inspection import (
    ANSWERS,
    VIEW_PERMS,
    SheetView,
    get_inspection,
    sheets_of,
    year_label,
)
from services.gate import Who
from services.jp.wareki import format_wareki
from services.reports.csv import csv_bytes
from services.reports.delivery import deliver, printed_by, report_path
from services.reports.output import local, wareki_datetime
from services.reports.pdf import Column, DocumentMeta, JapaneseDocument

ACTION = "inspection.report"
WHAT = "自己点検結果の出力"
FORMATS = ("pdf", "csv")
CSV_HEADER = ("年度", "所属", "番号", "区分", "点検項目", "回答", "根拠・備考", "回答者",
              "回答日時", "承認者", "承認日時", "承認コメント")
PDF_COLUMNS = (
    Column("番号", 0.8), Column("区分", 1.2), Column("点検項目", 4.6), Column("回答", 1.1),
    Column("根拠・備考", 3.6), Column("回答者・日時", 2.2),
)


@dataclass(frozen=True)
class InspectionReport:
    path: Path
    format: str
    rows: int
    sha256: str
    fiscal_year: int


def csv_rows(sheets: list[SheetView]) -> list[list[str]]:
    return [
        [year_label(sh.fiscal_year), sh.department, r.item.code, r.item.area, r.item.question,
         r.answer or "未回答", r.note, r.answered_by, wareki_datetime(r.answered_at),
         sh.signed_by, wareki_datetime(sh.signed_at), sh.sign_comment]
        for sh in sheets for r in sh.rows
    ]


def render_pdf(sheets: list[SheetView], year: int, due: str, printed_by: str,
               font: str) -> bytes:
    title = f"自己点検結果（{year_label(year)}）"
    doc = JapaneseDocument(
        DocumentMeta(title=title, printed_at=now(), printed_by=printed_by,
                     header_note=f"承認期限: {due}"),
        font_path=font, wide=False,
    )
    doc.heading(title)
    signed = sum(1 for sh in sheets if sh.signed_at is not None)
    doc.paragraph(
        f"承認期限: {due}　所属: {len(sheets)}（承認済み {signed}、未承認 {len(sheets) - signed}）",
        f"印刷日: {format_wareki(local(now()).date())}",
        "各所属の回答は、回答者とは別の確認者が承認します。",
    )
    for sh in sheets:
        counts = Counter(r.answer for r in sh.rows)
        doc.heading(f"{sh.department}（{sh.state_label}）")
        doc.paragraph(
            "回答: " + "、".join(f"{a} {counts[a]}" for a in ANSWERS)
            + f"、未回答 {counts['']}",
            (f"承認: {sh.signed_by} {wareki_datetime(sh.signed_at)}"
             + (f"　コメント: {sh.sign_comment}" if sh.sign_comment else ""))
            if sh.signed_at is not None else "承認: 未承認",
        )
        doc.table(PDF_COLUMNS, [
            [r.item.code, r.item.area, r.item.question, r.answer or "未回答", r.note,
             [r.answered_by, wareki_datetime(r.answered_at)] if r.answered_by else "—"]
            for r in sh.rows
        ])
        doc.spacer(3)
    return doc.render()


def default_path(settings: Settings, year: int, fmt: str) -> Path:
    """<data_dir>/reports/inspection_<year>_<printed>.<fmt> (``reports.delivery``)."""
    return report_path(settings, f"inspection_{year}", fmt)


def export_report(db: Database, settings: Settings, who: Who, year: int, fmt: str,
                  path: str | Path | None = None, *, force: bool = False) -> InspectionReport:
    """Write the year's record as PDF or CSV and record it with the file's SHA-256. A
    ``path`` there already is replaced only with ``force`` and only when it is a regular
    file (refusal recorded)."""
    if fmt not in FORMATS:
        raise BadInput(f"形式: {' / '.join(FORMATS)} のいずれかを指定してください。")
    with gate.act(db, who, ACTION, perm=VIEW_PERMS, what=WHAT, target=f"inspection:{year}",
                  write=False) as a:
        actor = a.actor
    insp = get_inspection(db, year)
    if path:
        refuse_bad_output(db, actor, ACTION, Path(path), force=force, target=f"inspection:{year}")
    sheets = sheets_of(db, who, year)
    rows = csv_rows(sheets)
    data = csv_bytes(CSV_HEADER, rows) if fmt == "csv" else render_pdf(
        sheets, year, format_wareki(insp.due_on), printed_by(who), settings.report_font)
    # The ending every report shares is reports.delivery.deliver: what stays here, in
    # the same shape as the other report's, is this report's own arguments.
    target = Path(path) if path else default_path(settings, year, fmt)
    digest = deliver(db, who, ACTION, perm=VIEW_PERMS, what=WHAT, target=f"inspection:{year}",
                     path=target, data=data, force=force,
                     details={"fiscal_year": year, "format": fmt, "rows": len(rows)})
    return InspectionReport(path=target, format=fmt, rows=len(rows), sha256=digest,
                            fiscal_year=year)
