"""定期的・体系的な入力誤りの発見: the periodic check of every active My Number link.

Five findings (``juki linkage check`` lists them, masked, and exits 1 when any):

* 検査用数字の誤り — the stored number fails the check digit (a typo that got in by a
  path other than this workflow: migration, a restored backup, hand-written SQL);
* 番号の重複 — one number active on two residents (or one resident with two numbers);
* 番号を復号できない — the sealed number (core.sealed) does not open: edited in the
  database, or sealed under another key (then every link shows it). Named by link and
  the stored last four digits, so the officer knows which rows to restore;
* 4情報の変更 — the resident's 氏名・生年月日・性別・住所 differ from the fingerprint
  stored when the link was confirmed; a reviewer looks and confirms again (``reconfirm``).
* 承認の記録なし — an active link that is not the consequence of a link proposal for
  its resident and number approved by its required number of reviewers other than the
  proposer, and not marked 初期移行: written past the database's guard (migration 0013),
  by its owner or in a restored dump. It gets no baseline fingerprint.

Links made before this workflow (the 初期移行 of the demo register) have no fingerprint.
The first check records one for them from the register as it stands then (origin
基準記録) and says how many; from then on their changes show like any other. So
``juki db seed`` followed by ``juki linkage check`` takes the baseline at seed time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, and_, case, exists, func, or_, type_coerce
from sqlalchemy import select as sa_select

from auth.access import current_permissions
from auth.identity import Identity
from auth.roles import Perm
from core.actor import Actor
from core.clock import japan, now
from core.db import Database, columns, table
from core.errors import NotFound
from core.freetext import field_text
from core.sealed import SealingError, sealer_of
from services import gate
from services.linkage.items import changed_items, fingerprint
from services.linkage.models import (
    APPROVE,
    APPROVED,
    KIND_LINK,
    LinkFingerprint,
    LinkProposal,
    LinkReview,
)
from services.register.import_models import RegisterImportChange
from services.register.models import LINK_ACTIVE, LINK_MIGRATED, MyNumberLink, Resident
from services.register.mynumber import is_valid_my_number, mask_my_number

BAD_CHECK_DIGIT = "検査用数字の誤り"
NUMBER_ON_TWO = "番号の重複"
TWO_NUMBERS = "一人に複数の番号"
ITEMS_CHANGED = "4情報の変更"
CHECK_ACTION = "linkage.check"
UNREADABLE = "番号を復号できない"
NOT_DECIDED = "承認の記録なし"
FINDING_KINDS = (BAD_CHECK_DIGIT, NUMBER_ON_TWO, TWO_NUMBERS, UNREADABLE, ITEMS_CHANGED,
                 NOT_DECIDED)

ORIGIN_APPROVAL = "承認"
ORIGIN_BASELINE = "基準記録"
ORIGIN_RECONFIRM = "再確認"


@dataclass(frozen=True)
class Finding:
    kind: str  # one of FINDING_KINDS
    link_id: int
    resident_id: int
    resident_code: str
    number_masked: str  # **** **** 1234
    detail: str


@dataclass(frozen=True)
class CheckReport:
    links: int  # active links scanned
    findings: tuple[Finding, ...]
    baselined: int  # links that had no fingerprint and got one in this run
    checked_at: datetime

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(FINDING_KINDS, 0)
        for f in self.findings:
            out[f.kind] += 1
        return out


def _decided(link_t: Any) -> Any:
    """True for a link that may stand: 初期移行 naming no proposal, or named by the link
    proposal for its resident and number approved by its required number (at least 1) of
    distinct reviewers other than the proposer — the database trigger's rule, read back."""
    p_t, r_t = table(LinkProposal), table(LinkReview)
    approvals = (
        sa_select(func.count(r_t.c.reviewer_id.distinct()))
        .where(r_t.c.proposal_id == p_t.c.id, r_t.c.verdict == APPROVE,
               r_t.c.version == p_t.c.version, r_t.c.reviewer_id != p_t.c.proposer_id)
        .scalar_subquery()
    )
    required = case((p_t.c.required_approvals > 1, p_t.c.required_approvals), else_=1)
    approved = exists().where(
        p_t.c.id == link_t.c.proposal_id, p_t.c.kind == KIND_LINK, p_t.c.status == APPROVED,
        p_t.c.resident_id == link_t.c.resident_id, p_t.c.number == link_t.c.number,
        link_t.c.source != LINK_MIGRATED, approvals >= required,
    )
    migrated = and_(link_t.c.source == LINK_MIGRATED, link_t.c.proposal_id.is_(None))
    return case((or_(migrated, approved), 1), else_=0)


def check_links(db: Database, actor: Actor) -> CheckReport:
    """Scan every active link; record fingerprints that are missing; record the run.

    One write transaction (``services.gate``; a key that cannot open the numbers is
    refused and recorded): on SQLite the scan holds the write lock (a few seconds for
    50,000 links) so the baseline and the scan agree. Only the columns the check needs
    are read, as plain rows.
    """
    findings: list[Finding] = []
    current = now()
    link_t, res_t, fp_t = (table(MyNumberLink), table(Resident),
                           table(LinkFingerprint))
    stmt = (
        sa_select(
            link_t.c.id.label("link_id"), link_t.c.resident_id, link_t.c.last4,
            link_t.c.proposal_id, _decided(link_t).label("decided"),
            type_coerce(link_t.c.number, String).label("sealed"),
            res_t.c.resident_code, res_t.c.family_name, res_t.c.given_name,
            res_t.c.birth_date, res_t.c.sex, res_t.c.address,
            fp_t.c.link_id.label("fp_link"), fp_t.c.name_fp, fp_t.c.birth_fp, fp_t.c.sex_fp,
            fp_t.c.address_fp, fp_t.c.origin, fp_t.c.taken_at,
        )
        .select_from(
            link_t.join(res_t, res_t.c.id == link_t.c.resident_id)
            .outerjoin(fp_t, fp_t.c.link_id == link_t.c.id)
        )
        .where(link_t.c.status == LINK_ACTIVE)
        .order_by(link_t.c.id)
    )
    with gate.act(db, actor, CHECK_ACTION, perm=None, what="紐付けの定期確認",
                  target="my_number_link") as a:
        conn = a.s.connection()
        rows = _opened(conn, conn.execute(stmt).all())
        by_number: dict[str, list[Any]] = defaultdict(list)
        by_resident: dict[int, list[Any]] = defaultdict(list)
        baseline: list[dict[str, Any]] = []
        for row in rows:
            by_resident[row.resident_id].append(row)
            if row.number is None:
                findings.append(_finding(UNREADABLE, row,
                                         "保存された番号の暗号文を開けません: データベース上で"
                                         "書き換えられたか、別の暗号鍵で作られています。"))
            elif not is_valid_my_number(row.number):
                findings.append(_finding(BAD_CHECK_DIGIT, row,
                                         "12桁目の検査用数字が番号と合いません。"))
            if row.number is not None:
                by_number[row.number].append(row)
            if not row.decided:
                findings.append(_finding(NOT_DECIDED, row, _undecided(row.proposal_id)))
                continue
            if row.fp_link is None:
                baseline.append({
                    "link_id": row.link_id, "origin": ORIGIN_BASELINE, "proposal_id": None,
                    "taken_at": current, "taken_by": actor.login, **fingerprint(row),
                })
                continue
            changed = changed_items(row, row)
            if changed:
                taken = japan(row.taken_at).date().isoformat()
                findings.append(_finding(
                    ITEMS_CHANGED, row,
                    f"変わった項目: {'・'.join(changed)} (基準: {taken} {row.origin})",
                ))
        for pairs in by_number.values():
            if len({row.resident_id for row in pairs}) > 1:
                for row in pairs:
                    others = sorted(r.resident_code for r in pairs
                                    if r.resident_id != row.resident_id)
                    findings.append(_finding(
                        NUMBER_ON_TWO, row,
                        f"同じ番号が住民票コード {', '.join(others)} にも紐付いています。",
                    ))
        for pairs in by_resident.values():
            if len(pairs) > 1:
                for row in pairs:
                    findings.append(_finding(
                        TWO_NUMBERS, row, f"この住民に有効な紐付けが {len(pairs)} 件あります。",
                    ))
        for i in range(0, len(baseline), 5000):
            conn.execute(fp_t.insert(), baseline[i: i + 5000])
        report = CheckReport(len(rows), tuple(findings), len(baseline), current)
        a.record(
            outcome="alert" if findings else "success",
            severity="warning" if findings else "info",
            details={"links": report.links, "baselined": report.baselined,
                     "findings": {k: v for k, v in report.counts().items() if v},
                     "flagged_links": sorted({f.link_id for f in findings})[:200]},
        )
    return report


def _opened(conn: Any, rows: Sequence[Any]) -> list[SimpleNamespace]:
    """The rows with ``number`` opened one by one; None where a sealed value will not open.

    Read sealed, not through the column type, so one edited row becomes a finding instead
    of ending the whole check. A missing key file still ends it (``SealingError``)."""
    sealer = sealer_of(conn.dialect)
    sealer.ready()
    out = []
    for row in rows:
        try:
            number: str | None = sealer.open(row.sealed)
        except SealingError:
            number = None
        out.append(SimpleNamespace(**row._mapping, number=number))
    return out


def _undecided(proposal_id: int | None) -> str:
    if proposal_id is None:
        return "この紐付けを作った申請がなく、初期移行でもありません。"
    return (f"この紐付けが指す申請 #{proposal_id} は、この住民とこの番号について申請者以外の"
            "確認者が必要な人数で承認したものではありません。")


def _finding(kind: str, row: Any, detail: str) -> Finding:
    return Finding(
        kind=kind, link_id=row.link_id, resident_id=row.resident_id,
        resident_code=row.resident_code, number_masked=mask_my_number(row.number or row.last4),
        detail=detail,
    )


def reconfirm(db: Database, ident: Identity, link_id: int, *, comment: str) -> None:
    """A reviewer confirms a flagged link still belongs to its resident after a change.

    Needs LINK_REVIEW and a comment (what was checked); the fingerprint is taken again
    (origin 再確認) and the old and new origins are recorded.
    """
    with gate.act(db, ident, "linkage.reconfirm", perm=Perm.LINK_REVIEW,
                  what="紐付けの再確認", target=f"link:{link_id}") as a:
        field_text("コメント", comment, limit=2000, required="何を確かめたかを入力してください。")
        s = a.s
        link = s.get(MyNumberLink, link_id)
        if link is None:
            raise NotFound(f"紐付け #{link_id} が見つかりません。")
        if link.status != LINK_ACTIVE:
            a.refuse("この紐付けは解除されています。", "link_not_active", severity="info",
                     link=link_id)
        resident = s.get(Resident, link.resident_id)
        assert resident is not None
        fp = s.get(LinkFingerprint, link_id)
        before = changed_items(fp, resident) if fp is not None else ["(基準なし)"]
        if fp is None:
            fp = LinkFingerprint(link_id=link_id, origin=ORIGIN_RECONFIRM, proposal_id=None,
                                 taken_at=now(), taken_by=ident.login, **fingerprint(resident))
        else:
            for col, value in fingerprint(resident).items():
                setattr(fp, col, value)
            fp.origin, fp.taken_at, fp.taken_by = ORIGIN_RECONFIRM, now(), ident.login
        s.add(fp)
        a.record(target=f"resident:{link.resident_id}", details={
            "link": link_id, "number": mask_my_number(link.number),
            "changed": before, "comment_given": True,
        })


def drift_lines(db: Database, ident: Identity) -> list[str]:
    """For the home screen of reviewers (LINK_REVIEW): linked residents whose 4 items
    (氏名・生年月日・性別・住所) a register import changed since the link's fingerprint.

    Reads only the residents the import touched (``register_import_change``) that hold an
    active, fingerprinted link — the importer records the fingerprint before a change when
    a link had none — so the home screen stays cheap on a large register.
    """
    if Perm.LINK_REVIEW not in current_permissions(db, ident):
        return []
    link_t, res_t, fp_t = (table(MyNumberLink), table(Resident),
                           table(LinkFingerprint))
    changed = sa_select(columns(RegisterImportChange).resident_id).distinct()
    stmt = (
        sa_select(link_t.c.id, res_t.c.family_name, res_t.c.given_name, res_t.c.birth_date,
                  res_t.c.sex, res_t.c.address, fp_t.c.name_fp, fp_t.c.birth_fp,
                  fp_t.c.sex_fp, fp_t.c.address_fp)
        .select_from(link_t.join(res_t, res_t.c.id == link_t.c.resident_id)
                     .join(fp_t, fp_t.c.link_id == link_t.c.id))
        .where(link_t.c.status == LINK_ACTIVE, link_t.c.resident_id.in_(changed))
    )
    with db.read() as s:
        rows = s.connection().execute(stmt).all()
    n = sum(1 for row in rows if changed_items(row, row))
    if not n:
        return []
    return [f"住民記録の取込で4情報 (氏名・生年月日・性別・住所) が変わった紐付けが {n:,} 件"
            "あります (juki linkage check で確認し、再確認してください)。"]
