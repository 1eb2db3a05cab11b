"""住民記録照会 — opening one resident's record, and revealing its 個人番号.

``open_record`` returns every item of docs/domain.md §2 with Japanese labels, dates as
和暦 with the 西暦 beside them (``format_both``), the household's members and the
異動履歴 newest first; the 個人番号 only masked. ``reveal_my_number`` shows the number
itself to a user who holds ``Perm.REVEAL_MY_NUMBER`` and types a reason; the screen
re-masks it at ``expires_at`` (``settings.reveal_seconds``).

DV等支援措置 (``resident.dv_support``): opening such a record, or revealing its number,
also needs ``Perm.OPEN_RESTRICTED`` and a typed reason. Without the permission the
record does not open and the attempt is recorded as a refused event of severity high;
a permitted opening is recorded with severity high and the reason.

The household tab lists every member; a restricted member, to a reader without
``Perm.OPEN_RESTRICTED``, as the marker and the name only (``services.restricted``).

Every opening and every reveal is recorded in the same write transaction that reads
the record (``register.open``, ``register.reveal_my_number``: actor, purpose, target
``resident:<id>``). A reveal's details hold the reason and the last four digits only.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from auth.identity import Identity
from auth.roles import Perm
from core.db import Database
from core.errors import NotFound
from core.freetext import field_text
from core.settings import Settings
from services import gate
from services.disclosure import (
    REASON_MAX,
    Revealed,
    reason_line,
    restricted_refusal,
    shown_for_a_while,
)
from services.jp import format_both
from services.linkage.models import DRAFT, PENDING, LinkProposal
from services.lookup.query import check_purpose
from services.lookup.types import Change, Member, ResidentRecord
from services.register.models import (
    CITY,
    HEAD,
    LINK_ACTIVE,
    PREFECTURE,
    STATUS_REMOVED,
    Household,
    MyNumberLink,
    Resident,
    ResidentChange,
)
from services.register.mynumber import mask_my_number
from services.restricted import withheld

ACTION_OPEN = "register.open"
ACTION_REVEAL = "register.reveal_my_number"
NOT_RECORDED = "（記載なし）"


def _target(resident_id: int) -> str:
    return f"resident:{resident_id}"


def _date(d: date | None, empty: str = NOT_RECORDED) -> str:
    return format_both(d) if d is not None else empty


def _or(value: str, empty: str = NOT_RECORDED) -> str:
    return value if value else empty


def _items(
    r: Resident, household: Household | None, head: Resident | None, masked: str
) -> tuple[tuple[str, str], ...]:
    """(label, value) for every item of docs/domain.md §2, in the order of a 住民票."""
    items: list[tuple[str, str]] = [
        ("氏名", f"{r.family_name} {r.given_name}"),
        ("氏名の振り仮名", f"{r.family_kana} {r.given_kana}"),
        ("生年月日", format_both(r.birth_date)),
        ("性別", r.sex),
        ("世帯主", f"{head.family_name} {head.given_name}" if head else NOT_RECORDED),
        ("続柄", r.relationship),
        ("住所", f"{PREFECTURE}{CITY}{r.address}"),
        ("世帯番号", household.household_no if household else NOT_RECORDED),
        ("住民となった年月日", format_both(r.became_resident_on)),
        ("住所を定めた年月日", format_both(r.address_set_on)),
        ("届出日", _date(r.notified_on)),
        ("転入前住所", _or(r.previous_address)),
    ]
    if not r.is_foreign:
        items += [("本籍", _or(r.honseki)), ("筆頭者", _or(r.honseki_head))]
    items += [
        ("住民票コード", r.resident_code),
        ("個人番号", masked or "（紐付けなし）"),
        ("状態", r.status),
    ]
    if r.status == STATUS_REMOVED:
        items += [("消除日", _date(r.removed_on)), ("消除事由", _or(r.removal_reason))]
        if r.moved_to:
            items.append(("転出先", r.moved_to))
    if r.is_foreign:
        items += [
            ("国籍・地域", _or(r.nationality)),
            ("在留資格", _or(r.residence_status)),
            ("在留期間の満了日", _date(r.stay_expires_on, "（期限なし）")),
            ("在留カード等の番号", _or(r.residence_card_no)),
            ("通称", _or(r.alias, "（なし）")),
        ]
        if r.alias:
            items.append(("通称の振り仮名", _or(r.alias_kana)))
    if r.dv_support:
        items.append(("DV等支援措置", "対象（閲覧は記録されます）"))
    return tuple(items)


def _members(s: Session, household_id: int, may_see: bool) -> tuple[Member, ...]:
    """The household tab: a restricted member is the name only unless ``may_see``."""
    people = s.exec(select(Resident).where(Resident.household_id == household_id)).all()
    people = sorted(people, key=lambda p: (p.relationship != HEAD, p.id or 0))
    return tuple(
        withheld(Member(
            resident_id=p.id or 0, name=f"{p.family_name} {p.given_name}",
            relationship=p.relationship, birth_date=p.birth_date, sex=p.sex,
            status=p.status, restricted=bool(p.dv_support),
        ), may_see=may_see)
        for p in people
    )


def _changes(s: Session, resident_id: int) -> tuple[Change, ...]:
    rows = s.exec(
        select(ResidentChange)
        .where(ResidentChange.resident_id == resident_id)
        .order_by(col(ResidentChange.occurred_on).desc(), col(ResidentChange.id).desc())
    ).all()
    return tuple(
        Change(kind=c.kind, occurred_on=c.occurred_on, notified_on=c.notified_on,
               before=c.before_summary, after=c.after_summary)
        for c in rows
    )


def _active_link(s: Session, resident_id: int) -> MyNumberLink | None:
    return s.exec(
        select(MyNumberLink).where(
            MyNumberLink.resident_id == resident_id, MyNumberLink.status == LINK_ACTIVE
        )
    ).first()


def _record_of(s: Session, r: Resident, may_see: bool) -> ResidentRecord:
    household = s.get(Household, r.household_id)
    head_id = household.head_resident_id if household else None
    head = s.get(Resident, head_id) if head_id else None
    link = s.exec(  # id and last four digits only: the number is not opened to show a mask
        select(MyNumberLink.id, MyNumberLink.last4).where(
            MyNumberLink.resident_id == (r.id or 0), MyNumberLink.status == LINK_ACTIVE)
    ).first()
    link_id, last4 = link if link else (None, "")
    masked = mask_my_number(last4) if link else ""
    proposal = s.exec(select(LinkProposal.id).where(
        LinkProposal.resident_id == (r.id or 0),
        col(LinkProposal.status).in_((DRAFT, PENDING)),
    ).order_by(col(LinkProposal.id).desc())).first()
    return ResidentRecord(
        resident_id=r.id or 0,
        items=_items(r, household, head, masked),
        name=f"{r.family_name} {r.given_name}",
        status=r.status,
        restricted=bool(r.dv_support),
        household_no=household.household_no if household else "",
        my_number_masked=masked,
        members=_members(s, r.household_id, may_see),
        changes=_changes(s, r.id or 0),
        link_id=link_id,
        open_proposal=proposal,
    )


def open_record(
    db: Database, settings: Settings, ident: Identity, resident_id: int, *,
    purpose: str, reason: str = "",
) -> ResidentRecord:
    """Every item of one resident's record, recorded as ``register.open``.

    A DV等支援措置 record needs ``Perm.OPEN_RESTRICTED`` (else Refused, recorded with
    severity high) and a reason (else BadInput naming 理由). A field that cannot be used
    is not recorded (as it never was): the record was not read.
    """
    purpose = (purpose or "").strip()
    with gate.act(db, ident, ACTION_OPEN, perm=Perm.LOOKUP, what="住民記録の表示",
                  target=_target(resident_id), purpose=purpose,
                  record_bad_input=False) as a:
        a.purpose = check_purpose(settings, purpose)
        typed = field_text("理由", reason, limit=REASON_MAX)
        r = _resident(a, resident_id)
        details: dict[str, Any] = {"restricted": bool(r.dv_support)}
        if r.dv_support:
            details["reason"] = reason_line(reason, "DV等支援措置の対象者の記録を開く")
        elif typed:
            details["reason"] = typed
        result = _record_of(a.s, r, a.holds(Perm.OPEN_RESTRICTED))
        a.record(severity="high" if r.dv_support else "info", details=details)
    return result


def reveal_my_number(
    db: Database, settings: Settings, ident: Identity, resident_id: int, *,
    purpose: str, reason: str,
) -> Revealed:
    """The resident's 個人番号 in full, for ``settings.reveal_seconds``; recorded.

    Needs ``Perm.REVEAL_MY_NUMBER``, a recent password and a reason; a DV等支援措置
    record also needs ``Perm.OPEN_RESTRICTED``. The event's details hold the reason and
    the last four digits, never the number.
    """
    purpose = (purpose or "").strip()
    with gate.act(db, ident, ACTION_REVEAL, perm=Perm.REVEAL_MY_NUMBER, what="個人番号の表示",
                  target=_target(resident_id), purpose=purpose, step_up=True,
                  settings=settings) as a:
        a.purpose = check_purpose(settings, purpose)
        why = reason_line(reason, "個人番号を表示する")
        r = _resident(a, resident_id)
        link = _active_link(a.s, resident_id)
        if link is None:
            raise NotFound("この住民には個人番号が紐付けられていません。")
        number = link.number
        a.record(severity="high" if r.dv_support else "info",
                 details={"reason": why, "last4": link.last4, "restricted": bool(r.dv_support)})
    return shown_for_a_while(number, settings)


def _resident(a: gate.Act, resident_id: int) -> Resident:
    """The resident, or NotFound; a DV等支援措置 record only to a holder of
    ``Perm.OPEN_RESTRICTED`` (else the refusal of severity high, recorded by the gate)."""
    r = a.s.get(Resident, resident_id)
    if r is None:
        raise NotFound("指定された住民記録が見つかりません。")
    if r.dv_support and not a.holds(Perm.OPEN_RESTRICTED):
        raise restricted_refusal()
    return r
