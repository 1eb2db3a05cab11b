"""The record kept (紐付け記録): every link and unlink in a period, who proposed, who confirmed.

docs/domain.md, "My Number" — more than one person confirms, and the record of who
proposed and who confirmed is kept. This module turns that record into rows (for a
screen, and for ``services.linkage.report_export``, which makes the CSV or PDF file of
``juki linkage report``) and says who may read it.

Which rows a period holds (dates are whole office days, Japan time, both ends included):

* each approved proposal decided in the period — a 紐付け (the link it made) or a
  紐付け解除 (the link it revoked) — with the link's status now, the source, reference,
  the identity checks (番号確認 / 身元確認 documents), the proposer and the time of the
  proposal, every review (reviewer, verdict, time; a review voided by a later change of
  the proposal is listed and marked as such) and the time of the decision;
* each link made in the period without such a proposal: the 初期移行 links of the
  register this console took over (shown as 初期移行, no proposer, no reviewer) and any
  link that got in by another path (shown with 「申請・確認の記録なし」, which is what an
  auditor looks for); likewise a link revoked in the period without an unlink proposal.
  ``include_migration=False`` (CLI ``--exclude-migration``) leaves the 初期移行 links out;
  the other unrecorded links are always listed.

What a row never shows: the full My Number (only ``**** **** 1234``; any 12-digit run in
free text — a reference, a reason — is masked the same way). A resident under DV等支援措置
is shown, to a reader without ``Perm.OPEN_RESTRICTED`` — and in a file made by the CLI,
whose OS operator holds no such permission — as the marker and the name only
(``services.restricted.withheld``): no 住民票コード, number, reference, checked documents or
reason; the act itself (link, proposer, reviewers, times) stays, and a row without a
proposal still says so.

Who may: the record lists residents across the whole city, so a clerk who only proposes
may not; a caller needs ``Perm.LINK_REVIEW`` (the reviewers who keep the record) or
``Perm.AUDIT_READ`` (auditors and the security officer who check it). The CLI runs as the
OS operator (``Actor.cli()``), like the other admin commands: whoever can run ``juki`` on
the host already holds the database credentials. Every report is recorded as
``linkage.report`` with the period, format, row count and, for a file, its path and
SHA-256; a refusal (``services.gate``) is recorded too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, and_, exists, select

from auth.access import NOT_ALLOWED
from auth.identity import Identity
from auth.models import User
from auth.roles import Perm
from core.actor import Actor
from core.clock import aware
from core.db import Database, table
from core.errors import BadInput
from core.freetext import mask_my_numbers
from logs.audit import record_alone
from services import gate
from services.jp.wareki import format_wareki
from services.linkage.models import (
    APPROVED,
    KIND_LABELS,
    KIND_LINK,
    KIND_UNLINK,
    VERDICT_LABELS,
    LinkProposal,
    LinkReview,
)
from services.register.models import LINK_ACTIVE, LINK_REVOKED, MyNumberLink, Resident
from services.register.mynumber import mask_my_number
from services.reports.output import day_bounds, wareki_datetime
from services.restricted import withheld

ACTION = "linkage.report"
FORMATS = ("csv", "pdf")
MIGRATION = "初期移行"
STATUS_LABELS = {LINK_ACTIVE: "有効", LINK_REVOKED: "解除済み"}
NO_RECORD = "申請・確認の記録なし"
TARGET = "my_number_link"


@dataclass(frozen=True)
class ReviewEntry:
    """One reviewer's verdict on the proposal behind a row."""

    login: str
    name: str
    verdict: str  # approve / reject
    at: datetime
    counted: bool  # False: the proposal changed after this review, which voided it

    @property
    def label(self) -> str:
        """rev1 (職員 rev1) 承認 令和7年12月12日 14:05 [変更前の版・無効]."""
        who = f"{self.login} ({self.name})" if self.name else self.login
        out = f"{who} {VERDICT_LABELS.get(self.verdict, self.verdict)} {wareki_datetime(self.at)}"
        return out if self.counted else out + " [変更前の版・無効]"


@dataclass(frozen=True)
class ReportRow:
    """One link or unlink in the record; the number only masked (withheld: see above)."""

    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({
        "link_id", "kind", "status", "resident_id", "resident_name", "source",
        "proposal_id", "proposer_login", "proposer_name", "reviews", "proposed_at",
        "decided_at", "at", "migrated"})

    link_id: int
    kind: str  # link / unlink (KIND_LINK / KIND_UNLINK)
    status: str  # the link's status now: active / revoked
    resident_id: int
    resident_code: str  # 住民票コード
    resident_name: str  # as written
    number_masked: str  # **** **** 1234
    source: str  # 申請書 / 窓口 / 住基ネット照会 (the proposal's), or the link's (初期移行 …)
    reference: str
    number_check: str  # 番号確認の書類
    identity_checks: tuple[str, ...]  # 身元確認の書類
    proposal_id: int | None  # None: no proposal (初期移行 or another path)
    proposer_login: str
    proposer_name: str
    reviews: tuple[ReviewEntry, ...]
    proposed_at: datetime | None  # submitted (created, if never submitted)
    decided_at: datetime | None
    at: datetime  # when the row's act took effect (the decision, or the link's own time)
    note: str  # the unlink reason, or why the record is missing
    migrated: bool = False  # an 初期移行 link without a proposal
    restricted: bool = False  # DV等支援措置
    withheld: bool = False  # restricted, and the reader may see the name only

    # Label properties like the 棚卸し line's (a pair by shape): each reads its own table.
    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def proposer_label(self) -> str:
        if not self.proposer_login:
            return ""
        return (f"{self.proposer_login} ({self.proposer_name})" if self.proposer_name
                else self.proposer_login)


# --- who may ----------------------------------------------------------------------------


Who = Identity | Actor


@contextmanager
def reading(db: Database, who: Who, query: dict[str, Any]) -> Iterator[tuple[gate.Act, bool]]:
    """The gate for reading the record (``services.gate``, a read): an Identity needs
    LINK_REVIEW or AUDIT_READ (the refusal recorded with ``query``: period and format).
    Yields the act and whether the reader sees restricted residents whole; the CLI's OS
    operator holds no DV permission, so their files show them withheld. A key that
    cannot open the numbers read inside is refused and recorded."""
    with gate.act(db, who, ACTION, perm=None, what="紐付け記録の出力", target=TARGET,
                  write=False) as a:
        if not (a.holds(Perm.LINK_REVIEW) or a.holds(Perm.AUDIT_READ)):
            a.refuse(NOT_ALLOWED.format(what="紐付け記録の出力"), "permission",
                     permission=f"{Perm.LINK_REVIEW} | {Perm.AUDIT_READ}", **query)
        yield a, a.ident is not None and a.holds(Perm.OPEN_RESTRICTED)


def period_query(start: date, end: date, fmt: str) -> dict[str, str]:
    """The request as a refused event names it."""
    return {"from": start.isoformat(), "to": end.isoformat(), "format": fmt}


def check_period(start: date, end: date) -> None:
    """BadInput unless start ≤ end."""
    if start > end:
        raise BadInput(
            f"期間: 開始日 ({format_wareki(start)}) が終了日 ({format_wareki(end)}) より後です。"
            "--from には --to 以前の日を指定してください。"
        )


# --- rows -------------------------------------------------------------------------------


def _scrub(text: str) -> str:
    """Free text with any 12-digit run masked like a My Number (rows stored before the
    services masked typed text themselves)."""
    return mask_my_numbers(text or "")


def _identity(value: str) -> tuple[str, ...]:
    try:
        items = json.loads(value or "[]")
    except ValueError:
        return ()
    return tuple(_scrub(str(i)) for i in items) if isinstance(items, list) else ()


def _name(res: Any) -> str:
    return f"{res.family_name}\u3000{res.given_name}"


def _unrecorded_note(migrated: bool) -> str:
    return MIGRATION + " (" + NO_RECORD + ")" if migrated else NO_RECORD


def _shown(row: ReportRow, may_see: bool) -> ReportRow:
    """The row as its reader may see it; a withheld row without a proposal still says so
    (the reason typed for an unlink, free text about the resident, does not stay)."""
    out = withheld(row, may_see=may_see)
    if out.withheld and out.proposal_id is None:
        out = replace(out, note=_unrecorded_note(out.migrated))
    return out


def build_rows(
    conn: Connection, start: date, end: date, *, include_migration: bool = True,
    may_see: bool = False,
) -> list[ReportRow]:
    """The rows of the period read on ``conn``, oldest act first; no permission check,
    nothing recorded.

    For callers inside ``reading`` (``linkage_report``, ``export_report``); a screen
    calls ``linkage_report``. Restricted residents are withheld unless ``may_see``.
    """
    check_period(start, end)
    lo, hi = day_bounds(start, end)
    p_t, r_t, l_t = (table(LinkProposal), table(Resident),
                     table(MyNumberLink))
    v_t, u_t = table(LinkReview), table(User)
    decided = (
        select(
            p_t.c.id, p_t.c.kind, p_t.c.link_id, p_t.c.source, p_t.c.reference,
            p_t.c.number_check, p_t.c.identity_checks, p_t.c.note, p_t.c.proposer_login,
            p_t.c.version, p_t.c.created_at, p_t.c.submitted_at, p_t.c.decided_at,
            u_t.c.name.label("proposer_name"),
            l_t.c.number, l_t.c.status.label("link_status"),
            r_t.c.id.label("resident_id"), r_t.c.resident_code, r_t.c.family_name,
            r_t.c.given_name, r_t.c.dv_support,
        )
        .select_from(
            p_t.join(l_t, l_t.c.id == p_t.c.link_id)
            .join(r_t, r_t.c.id == l_t.c.resident_id)
            .outerjoin(u_t, u_t.c.id == p_t.c.proposer_id)
        )
        .where(p_t.c.status == APPROVED, p_t.c.decided_at >= lo, p_t.c.decided_at < hi)
    )

    def has_proposal(kind: str) -> Any:
        return exists().where(and_(
            p_t.c.link_id == l_t.c.id, p_t.c.kind == kind, p_t.c.status == APPROVED,
        ))

    link_cols = (
        l_t.c.id, l_t.c.number, l_t.c.status, l_t.c.source, l_t.c.linked_at,
        l_t.c.revoked_at, l_t.c.revoke_reason,
        r_t.c.id.label("resident_id"), r_t.c.resident_code, r_t.c.family_name,
        r_t.c.given_name, r_t.c.dv_support,
    )
    joined = l_t.join(r_t, r_t.c.id == l_t.c.resident_id)
    unrecorded_links = (
        select(*link_cols).select_from(joined)
        .where(l_t.c.linked_at >= lo, l_t.c.linked_at < hi, ~has_proposal(KIND_LINK))
    )
    if not include_migration:
        unrecorded_links = unrecorded_links.where(l_t.c.source != MIGRATION)
    unrecorded_revokes = (
        select(*link_cols).select_from(joined)
        .where(l_t.c.status == LINK_REVOKED, l_t.c.revoked_at >= lo, l_t.c.revoked_at < hi,
               ~has_proposal(KIND_UNLINK))
    )
    rows: list[ReportRow] = []
    proposals = conn.execute(decided).all()
    reviews: dict[int, list[Any]] = defaultdict(list)
    ids = [p.id for p in proposals]
    for i in range(0, len(ids), 1000):
        chunk = ids[i: i + 1000]
        for v in conn.execute(
            select(v_t.c.proposal_id, v_t.c.reviewer_login, v_t.c.verdict, v_t.c.version,
                   v_t.c.created_at, u_t.c.name)
            .select_from(v_t.outerjoin(u_t, u_t.c.id == v_t.c.reviewer_id))
            .where(v_t.c.proposal_id.in_(chunk))
            .order_by(v_t.c.created_at, v_t.c.id)
        ):
            reviews[v.proposal_id].append(v)
    linked = conn.execute(unrecorded_links).all()
    revoked = conn.execute(unrecorded_revokes).all()
    for p in proposals:
        rows.append(ReportRow(
            link_id=p.link_id, kind=p.kind, status=p.link_status,
            resident_id=p.resident_id, resident_code=p.resident_code, resident_name=_name(p),
            number_masked=mask_my_number(p.number),
            source=p.source, reference=_scrub(p.reference), number_check=p.number_check,
            identity_checks=_identity(p.identity_checks), proposal_id=p.id,
            proposer_login=p.proposer_login, proposer_name=_scrub(p.proposer_name or ""),
            reviews=tuple(
                ReviewEntry(login=v.reviewer_login, name=_scrub(v.name or ""),
                            verdict=v.verdict, at=aware(v.created_at),
                            counted=v.version == p.version)
                for v in reviews.get(p.id, ())
            ),
            proposed_at=aware(p.submitted_at or p.created_at), decided_at=aware(p.decided_at),
            at=aware(p.decided_at),
            note=_scrub(p.note) if p.kind == KIND_UNLINK else "",
            restricted=bool(p.dv_support),
        ))
    for link, kind in [(row, KIND_LINK) for row in linked] + [(row, KIND_UNLINK)
                                                              for row in revoked]:
        migrated = link.source == MIGRATION and kind == KIND_LINK
        note = _unrecorded_note(migrated)
        if kind == KIND_UNLINK and link.revoke_reason:
            note += f": {_scrub(link.revoke_reason)}"
        at = link.linked_at if kind == KIND_LINK else link.revoked_at
        rows.append(ReportRow(
            link_id=link.id, kind=kind, status=link.status, resident_id=link.resident_id,
            resident_code=link.resident_code, resident_name=_name(link),
            number_masked=mask_my_number(link.number), source=link.source, reference="",
            number_check="", identity_checks=(), proposal_id=None, proposer_login="",
            proposer_name="", reviews=(), proposed_at=None, decided_at=None, at=aware(at),
            note=note, migrated=migrated, restricted=bool(link.dv_support),
        ))
    rows = [_shown(r, may_see) for r in rows]
    rows.sort(key=lambda r: (r.at, r.link_id, r.kind != KIND_LINK))
    return rows


def summary(rows: Sequence[ReportRow]) -> dict[str, int]:
    return {
        "links": sum(1 for r in rows if r.kind == KIND_LINK),
        "unlinks": sum(1 for r in rows if r.kind == KIND_UNLINK),
        "migrated": sum(1 for r in rows if r.migrated),
        "unrecorded": sum(1 for r in rows if r.proposal_id is None and not r.migrated),
        "restricted": sum(1 for r in rows if r.restricted),
        "withheld": sum(1 for r in rows if r.withheld),
    }


def report_details(start: date, end: date, fmt: str, rows: Sequence[ReportRow],
                   include_migration: bool) -> dict[str, Any]:
    """What the event of a report says: the period, format, row count and summary."""
    return {**period_query(start, end, fmt), "rows": len(rows),
            "include_migration": include_migration, **summary(rows)}


def linkage_report(
    db: Database, ident: Who, *, start: date, end: date, include_migration: bool = True
) -> list[ReportRow]:
    """The record of the period for a screen; needs LINK_REVIEW or AUDIT_READ; recorded.

    ``ident`` is the signed-in user (an ``Identity``), or ``Actor.cli()`` for the OS
    operator of the CLI. BadInput (not recorded) when start is after end. The rows are
    read in a read transaction and the event recorded after it, so a long period never
    holds SQLite's write lock while it is read.
    """
    check_period(start, end)
    with reading(db, ident, period_query(start, end, "screen")) as (a, may_see):
        rows = build_rows(a.s.connection(), start, end, include_migration=include_migration,
                          may_see=may_see)
    record_alone(db, a.actor, ACTION, target=TARGET,
                 details=report_details(start, end, "screen", rows, include_migration))
    return rows
