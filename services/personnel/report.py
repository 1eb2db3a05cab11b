"""The report of a change round (帳票): every rights change, who applied it, who confirmed it.

docs/domain.md §10 — after each round of personnel changes the section prints the changed
rights, a different person re-confirms each revocation and addition, and the record is
kept. ``export_round_report`` writes that record as a PDF (A4, Japanese, the report font
embedded, dates in 和暦, blank 確認印 boxes for the paper round of stamps) or a CSV
(UTF-8 with BOM, CRLF, cells made inert so Excel opens and never runs them).

One row per rights change of the round, in the round's order (発令日, person, revoke
before grant): 発令日, 職員番号, 氏名, the linked account's login, 付与 / 削除 / 利用停止 /
利用再開 and the role (by its Japanese label), why (the 異動区分 and the move), the state
(未適用, 確認待ち, 確認済み, 異議あり, 取消), who applied it and when, and who re-confirmed
it, when, with which verdict and comment.

Who may: the round names staff and their rights across departments. A signed-in user
needs ``Perm.ACCESS_ADMIN`` (who imports and applies), ``Perm.ACCESS_CONFIRM`` (who
re-confirms) or ``Perm.AUDIT_READ`` (who checks); a refusal is recorded. The CLI runs as
the OS operator (``Actor.cli()``), like the other admin commands. Every file written is
recorded as ``access.report`` with the round, format, row count, path and SHA-256; if the
record cannot be written the file is removed, so no report leaves without its record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus.flowables import Flowable

from auth.roles import Perm, role_label
from core.actor import Actor
from core.clock import now
from core.db import Database
from core.errors import BadInput, NotFound
from core.settings import Settings
from logs.outputs import refuse_bad_output
from services import gate
from services.gate import Who
from services.jp.wareki import format_wareki
from services.personnel.models import ACTION_LABELS, CONFIRMED, DISPUTED, VERDICT_LABELS
from services.personnel.rounds import RightsLine, RoundSummary, get_round, round_lines
from services.reports.csv import csv_bytes
from services.reports.delivery import deliver, printed_by, report_path
from services.reports.output import local, period_text, wareki_datetime
from services.reports.pdf import Column, DocumentMeta, JapaneseDocument

ACTION = "access.report"
FORMATS = ("pdf", "csv")
PERMS = (Perm.ACCESS_ADMIN, Perm.ACCESS_CONFIRM, Perm.AUDIT_READ)
STAMPS = ("担当", "係長", "課長")  # the foot's row of 確認印 boxes, left to right
WHAT = "権限変更一覧の出力"


@dataclass(frozen=True)
class RoundReport:
    """A written report: where, what, and the SHA-256 recorded in the audit trail."""

    path: Path
    format: str
    rows: int
    sha256: str
    round_id: int


# --- who may ----------------------------------------------------------------------------


def _check(db: Database, who: Who, round_id: int, fmt: str) -> Actor:
    """The actor to record; an Identity needs one of ``PERMS`` now (refusal recorded, with
    the round and format asked for)."""
    with gate.act(db, who, ACTION, perm=None, what=WHAT, target=f"round:{round_id}",
                  write=False) as a:
        a.need(PERMS, WHAT, round=round_id, format=fmt)
    return a.actor


def _round(db: Database, round_id: int) -> RoundSummary:
    """The round, or BadInput naming it (an unknown number is a typing mistake: exit 2)."""
    try:
        return get_round(db, round_id)
    except NotFound:
        raise BadInput(f"異動処理: #{round_id} はありません（juki hr rounds で一覧）。") from None


# --- cells ------------------------------------------------------------------------------


def _role(line: RightsLine) -> str:
    return role_label(line.role) if line.role else "（アカウント）"


def _change(line: RightsLine) -> str:
    """付与 窓口担当 / 利用停止 (アカウント)."""
    return f"{ACTION_LABELS.get(line.action, line.action)} {_role(line)}"


def _applied(line: RightsLine) -> list[str]:
    if not line.applied_by:
        return []
    out = [line.applied_by, wareki_datetime(line.applied_at)]
    return [*out, line.note] if line.note else out


def _confirmed(line: RightsLine) -> list[str]:
    if not line.confirmed_by:
        return []
    out = [f"{line.confirmed_by} {VERDICT_LABELS.get(line.verdict, line.verdict)}",
           wareki_datetime(line.confirmed_at)]
    return [*out, f"コメント: {line.comment}"] if line.comment else out


CSV_HEADER = (
    "異動処理", "明細ID", "発令日", "発令日(西暦)", "職員番号", "氏名", "ログイン名", "変更",
    "役割", "役割コード", "異動の内容", "状態", "適用者", "適用日時", "適用メモ", "確認者",
    "確認日時", "確認結果", "コメント",
)


def csv_row(line: RightsLine) -> list[str]:
    """One rights change as the CSV's cells (in ``CSV_HEADER`` order)."""
    return [
        str(line.round_id), str(line.id), format_wareki(line.effective_on),
        line.effective_on.isoformat(), line.staff_no, line.name, line.login,
        line.action_label, _role(line), line.role, line.reason, line.state_label,
        line.applied_by, wareki_datetime(line.applied_at), line.note, line.confirmed_by,
        wareki_datetime(line.confirmed_at), VERDICT_LABELS.get(line.verdict, line.verdict),
        line.comment,
    ]


def render_csv(lines: Sequence[RightsLine]) -> bytes:
    """UTF-8 with BOM, CRLF, every cell inert (``services.reports.csv``)."""
    return csv_bytes(CSV_HEADER, (csv_row(x) for x in lines))


PDF_COLUMNS = (
    Column("発令日", 1.7),
    Column("職員番号・氏名", 2.3),
    Column("ログイン名", 1.5),
    Column("変更（付与・削除）", 2.2),
    Column("異動の内容", 3.6),
    Column("状態", 1.2),
    Column("適用者・適用日時", 2.4),
    Column("再確認者・結果・日時", 3.0),
    Column("確認印", 1.3),
)


def _pdf_cells(line: RightsLine) -> list[Any]:
    return [
        [format_wareki(line.effective_on)],
        [line.staff_no, line.name],
        [line.login or "（なし）"],
        [_change(line)],
        [line.reason],
        [line.state_label],
        _applied(line),
        _confirmed(line),
        ["", "", ""],  # blank: room for a stamp
    ]


class _StampBoxes(Flowable):
    """A row of empty 確認印 boxes with their titles, at the right of the page."""

    def __init__(self, labels: Sequence[str], font: str, box: float = 18 * mm,
                 title_h: float = 6 * mm) -> None:
        super().__init__()
        self.labels, self.font, self.box, self.title_h = tuple(labels), font, box, title_h
        self.hAlign = "RIGHT"

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        self.width = self.box * len(self.labels) + 14 * mm
        self.height = self.title_h + self.box
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        x0 = 14 * mm
        c.setLineWidth(0.6)
        c.setFont(self.font, 9)
        c.drawString(0, self.box + self.title_h / 2 - 3, "確認印")
        for i, label in enumerate(self.labels):
            x = x0 + i * self.box
            c.rect(x, 0, self.box, self.box + self.title_h)
            c.line(x, self.box, x + self.box, self.box)
            c.drawCentredString(x + self.box / 2, self.box + 1.8 * mm, label)


class _RoundDocument(JapaneseDocument):
    def stamp_boxes(self, labels: Sequence[str]) -> None:
        self._story.append(_StampBoxes(labels, self.font))


@dataclass(frozen=True)
class PdfMeta:
    printed_by: str
    printed_at: datetime
    font: str
    office: str = ""


def title(round_id: int) -> str:
    return f"権限変更一覧（異動処理 #{round_id}）"


def render_pdf(rnd: RoundSummary, lines: Sequence[RightsLine], meta: PdfMeta) -> bytes:
    """A4 landscape, the font embedded, 和暦 dates, a 確認印 column and stamp boxes."""
    period = period_text(rnd.first_on, rnd.last_on)
    doc = _RoundDocument(
        DocumentMeta(title=title(rnd.id), printed_at=meta.printed_at,
                     printed_by=meta.printed_by, header_note=f"発令日: {period}",
                     author=meta.office),
        font_path=meta.font,
    )
    acts = Counter(x.action for x in lines)
    verdicts = Counter(x.verdict for x in lines)
    doc.heading(title(rnd.id))
    doc.paragraph(
        f"発令日: {period}",
        f"異動ファイル: {rnd.source_name}（{rnd.rows} 行）　取込: {rnd.imported_by} "
        f"{wareki_datetime(rnd.imported_at)}",
        f"権限の変更: {len(lines)} 件（" + "、".join(
            f"{label} {acts[a]} 件" for a, label in ACTION_LABELS.items()) + "）",
        f"再確認: 確認済み {verdicts[CONFIRMED]} 件、異議あり {verdicts[DISPUTED]} 件、"
        f"未確認 {len(lines) - verdicts[CONFIRMED] - verdicts[DISPUTED]} 件",
        f"印刷日: {format_wareki(local(meta.printed_at).date())}",
        "削除・利用停止は発令日に自動で適用され、付与・利用再開は管理者が適用します。"
        "適用した変更は、適用者とも本人とも異なる者が再確認します。",
    )
    doc.spacer(2)
    doc.table(PDF_COLUMNS, [_pdf_cells(x) for x in lines],
              empty="この異動処理に権限の変更はありません。")
    doc.spacer(6)
    doc.stamp_boxes(STAMPS)
    return doc.render()


def default_path(settings: Settings, round_id: int, fmt: str) -> Path:
    """<data_dir>/reports/access-report_round-<N>_<printed>.<fmt> (``reports.delivery``)."""
    return report_path(settings, f"access-report_round-{round_id}", fmt)


def export_round_report(
    db: Database, settings: Settings, who: Who, round_id: int, fmt: str,
    path: str | Path | None = None, *, force: bool = False,
) -> RoundReport:
    """Write the round's report as PDF or CSV and record it (with the file's SHA-256).

    BadInput for an unknown format or round, a missing report font or an unusable
    output path (nothing written, nothing recorded); Refused (recorded) for a user
    without the permission. The file is written 0600 (``path``, or a new name under
    data_dir/reports). A ``path`` there already is replaced only with ``force`` and only
    when it is a regular file: a refused one is recorded.
    """
    if fmt not in FORMATS:
        raise BadInput(f"形式: {' / '.join(FORMATS)} のいずれかを指定してください。")
    actor = _check(db, who, round_id, fmt)
    rnd = _round(db, round_id)
    if path:
        refuse_bad_output(db, actor, ACTION, Path(path), force=force, target=f"round:{round_id}")
    lines = round_lines(db, round_id)
    data = render_csv(lines) if fmt == "csv" else render_pdf(rnd, lines, PdfMeta(
        printed_by=printed_by(who), printed_at=now(), font=settings.report_font))
    # The ending every report shares is reports.delivery.deliver: what stays here, in
    # the same shape as the other report's, is this report's own arguments.
    target = Path(path) if path else default_path(settings, round_id, fmt)
    digest = deliver(db, who, ACTION, perm=PERMS, what=WHAT, target=f"round:{round_id}",
                     path=target, data=data, force=force,
                     details={"round": round_id, "format": fmt, "rows": len(lines)})
    return RoundReport(path=target, format=fmt, rows=len(lines), sha256=digest,
                       round_id=round_id)


__all__ = [
    "ACTION",
    "CSV_HEADER",
    "FORMATS",
    "RoundReport",
    "csv_row",
    "default_path",
    "export_round_report",
    "render_csv",
    "render_pdf",
    "title",
]
