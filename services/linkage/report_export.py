"""The record kept (紐付け記録) as a file: the CSV and PDF layouts, and ``export_report``,
which writes one and records it (``juki linkage report``; the rows and who may read them
are ``services.linkage.report``'s).

A file is written 0600 and atomically (``services.reports.output``); its event commits
after the file is in place and holds its SHA-256, and a file whose event cannot be
recorded is removed: no report leaves without its record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from core.actor import Actor
from core.clock import now
from core.db import Database
from core.errors import BadInput
from core.files import make_dirs
from core.settings import Settings
from logs.audit import record_alone
from logs.outputs import refuse_bad_output
from services.linkage.report import (
    ACTION,
    TARGET,
    ReportRow,
    Who,
    build_rows,
    check_period,
    period_query,
    reading,
    report_details,
    summary,
)
from services.reports.csv import csv_bytes
from services.reports.output import local, period_text, wareki_datetime, write_private
from services.reports.pdf import Column, DocumentMeta, JapaneseDocument

FORMATS = ("csv", "pdf")
TITLE = "個人番号 紐付け記録"


@dataclass(frozen=True)
class ReportMeta:
    """What a PDF prints besides the rows: period, who printed it, when, with which font."""

    start: date
    end: date
    printed_by: str
    printed_at: datetime
    font: str  # the TrueType file (the setting ``report_font``)
    include_migration: bool = True
    office: str = ""  # e.g. 若葉市 市民課 (PDF metadata)


@dataclass(frozen=True)
class ReportFile:
    """A written report: where, what, and the SHA-256 recorded in the audit trail."""

    path: Path
    format: str
    rows: int
    sha256: str
    start: date
    end: date


CSV_HEADER = (
    "紐付けID", "種別", "状態", "住民票コード", "氏名", "個人番号", "取得元", "申請書等の番号",
    "番号確認", "身元確認", "申請ID", "申請者", "申請日時", "確認者 (判断・日時)", "決定日時",
    "反映日時", "備考",
)


def _note(row: ReportRow) -> str:
    parts = [row.note] if row.note else []
    if row.restricted:
        parts.append("支援措置対象 (氏名のほかは表示しません)" if row.withheld else "支援措置対象")
    return "; ".join(parts)


def csv_row(row: ReportRow) -> list[str]:
    """One row as the CSV's cells (in ``CSV_HEADER`` order)."""
    return [
        str(row.link_id), row.kind_label, row.status_label, row.resident_code,
        row.resident_name, row.number_masked, row.source, row.reference, row.number_check,
        "、".join(row.identity_checks), "" if row.proposal_id is None else str(row.proposal_id),
        row.proposer_label, wareki_datetime(row.proposed_at),
        " / ".join(r.label for r in row.reviews), wareki_datetime(row.decided_at),
        wareki_datetime(row.at), _note(row),
    ]


def render_csv(rows: Sequence[ReportRow]) -> bytes:
    """The CSV bytes: UTF-8 with BOM, CRLF, every cell inert (``services.reports.csv``)."""
    return csv_bytes(CSV_HEADER, (csv_row(r) for r in rows))


def write_csv(rows: Sequence[ReportRow], path: str | Path, *, force: bool = False) -> str:
    """Write the CSV privately (0600, atomic; an existing file only with ``force``);
    return its SHA-256 (hex). Records nothing."""
    return write_private(path, render_csv(rows), force=force)


PDF_COLUMNS = (
    Column("紐付け・申請", 1.25),
    Column("種別・状態", 1.5),
    Column("住民 (氏名・住民票コード)", 3.0),
    Column("個人番号", 1.9),
    Column("取得元・申請書等の番号", 2.6),
    Column("確認した書類", 3.2),
    Column("申請者・申請日時", 2.9),
    Column("確認者・判断・日時", 4.2),
    Column("決定・反映日時", 2.3),
    Column("備考", 2.6),
)


def _pdf_cells(row: ReportRow) -> list[list[str]]:
    checks = []
    if row.number_check:
        checks.append(f"番号確認: {row.number_check}")
    if row.identity_checks:
        checks.append(f"身元確認: {'、'.join(row.identity_checks)}")
    return [
        [f"#{row.link_id}", f"申請 #{row.proposal_id}" if row.proposal_id else ""],
        [row.kind_label, row.status_label],
        [row.resident_name, row.resident_code],
        [row.number_masked],
        [row.source, row.reference],
        checks,
        [row.proposer_label, wareki_datetime(row.proposed_at)],
        [r.label for r in row.reviews],
        [wareki_datetime(row.decided_at or row.at)],
        [_note(row)],
    ]


def _restricted_line(counts: dict[str, int]) -> str:
    if counts["withheld"]:
        return "支援措置対象者は氏名のみ表示しています。"
    if counts["restricted"]:
        return "支援措置対象者を含みます (取扱注意)。"
    return ""


def render_pdf(rows: Sequence[ReportRow], meta: ReportMeta) -> bytes:
    """The PDF bytes: A4 landscape, the font embedded, every page numbered and dated."""
    period = period_text(meta.start, meta.end)
    doc = JapaneseDocument(
        DocumentMeta(title=TITLE, printed_at=meta.printed_at, printed_by=meta.printed_by,
                     header_note=f"対象期間: {period}", author=meta.office),
        font_path=meta.font,
    )
    counts = summary(rows)
    doc.paragraph(
        f"対象期間: {period} (日本時間、両端の日を含む)",
        f"件数: {len(rows)} 件 (紐付け {counts['links']} 件、紐付け解除 {counts['unlinks']} 件。"
        f"うち初期移行 {counts['migrated']} 件、申請・確認の記録のないもの "
        f"{counts['unrecorded']} 件)",
        "初期移行の紐付け: " + ("含む" if meta.include_migration else "含まない"),
        "個人番号は下4桁のみ表示しています。" + _restricted_line(counts),
    )
    doc.spacer(2)
    doc.table(
        PDF_COLUMNS, [_pdf_cells(r) for r in rows],
        empty="対象期間に紐付け・紐付け解除の記録はありません。",
    )
    return doc.render()


def write_pdf(rows: Sequence[ReportRow], path: str | Path, meta: ReportMeta, *,
              force: bool = False) -> str:
    """Write the PDF privately (0600, atomic; an existing file only with ``force``);
    return its SHA-256 (hex). Records nothing."""
    return write_private(path, render_pdf(rows, meta), force=force)


def default_path(settings: Settings, start: date, end: date, fmt: str) -> Path:
    """<data_dir>/reports/linkage-report_<from>_<to>_<printed>.<fmt> (folder made 0700)."""
    folder = settings.resolved_data_dir / "reports"
    make_dirs(folder)
    stem = (f"linkage-report_{start.isoformat()}_{end.isoformat()}_"
            f"{local(now()).strftime('%Y%m%dT%H%M%S')}")
    path, n = folder / f"{stem}.{fmt}", 1
    while path.exists():  # two reports in one second keep both files
        n += 1
        path = folder / f"{stem}-{n}.{fmt}"
    return path


def _printed_by(who: Who) -> str:
    if isinstance(who, Actor):
        return who.login
    return f"{who.login} ({who.name})" if who.name else who.login


def export_report(
    db: Database,
    settings: Settings,
    who: Who,
    *,
    start: date,
    end: date,
    fmt: str,
    path: str | Path | None = None,
    include_migration: bool = True,
    force: bool = False,
) -> ReportFile:
    """Write the record of the period as CSV or PDF and record it (with the file's SHA-256).

    ``who``: an ``Identity`` (needs LINK_REVIEW or AUDIT_READ) or the CLI operator's
    ``Actor``. The file is written 0600 (``path``, or a new name under data_dir/reports);
    the audit event commits after the file is in place, and if it cannot be recorded
    the file is removed: no report leaves without its record. A ``path`` that is there
    already is replaced only with ``force``, and never when it is not a regular file
    (refusal recorded). A bad format or period, a missing folder or font: BadInput, not
    recorded (nothing was read).
    """
    if fmt not in FORMATS:
        raise BadInput(f"形式: {' / '.join(FORMATS)} のいずれかを指定してください。")
    check_period(start, end)
    query = period_query(start, end, fmt)
    with reading(db, who, query) as (a, _):
        pass  # who may, before the output path is looked at
    if path:
        refuse_bad_output(db, a.actor, ACTION, Path(path), force=force, target=TARGET)
    with reading(db, who, query) as (a, may_see):
        rows = build_rows(a.s.connection(), start, end, include_migration=include_migration,
                          may_see=may_see)
    if fmt == "csv":
        data = render_csv(rows)
    else:
        data = render_pdf(rows, ReportMeta(
            start=start, end=end, printed_by=_printed_by(who), printed_at=now(),
            font=settings.report_font, include_migration=include_migration,
        ))
    target = Path(path) if path else default_path(settings, start, end, fmt)
    digest = write_private(target, data, force=force)
    try:
        record_alone(db, a.actor, ACTION, target=TARGET, details={
            **report_details(start, end, fmt, rows, include_migration),
            "sha256": digest, "file": str(target.resolve()), "bytes": len(data),
        })
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return ReportFile(path=target, format=fmt, rows=len(rows), sha256=digest, start=start,
                      end=end)
