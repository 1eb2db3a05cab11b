"""個人番号の紐付け — proposal, four-eyes review and effect (DOMAIN.md §3, DESIGN.md rules).

The workflow, as every caller (screen, CLI, a Python script) meets it:

1. A clerk holding ``Perm.LINK_PROPOSE`` proposes: resident, the number the applicant
   gave (NFKC, check digit verified on entry), source, reference, identity checks and the
   items as written on the application. ``submit=False`` keeps it as a draft (waiting for
   a 住基ネット answer, say); ``submit`` later sends it to the queue. Duplicates are
   refused: the number active on another resident, the resident already linked, a
   pending proposal for the same resident or number.
2. A reviewer holding ``Perm.LINK_REVIEW`` opens it (``open_proposal``; ``compare``
   gives the side-by-side rows) and approves or rejects it with the version they saw.
   A comment is required on reject and whenever an item differs. The proposer can never
   decide their own proposal: the service refuses (recorded), and the database refuses a
   review row whose reviewer is the proposer (trigger). One rejection decides;
   ``required_approvals`` approvals of the current version decide (the setting
   ``linkage_approvals`` when submitted, never less than 1). An edit (``amend``) raises
   the version, so earlier reviews no longer count. A resident under DV等支援措置 is
   shown to a reader without ``Perm.OPEN_RESTRICTED`` as the name only (queue, review,
   the views every act returns: ``services.restricted``); such a reader cannot approve
   it nor change it (refused, recorded high), as they cannot see the items.
3. The final approval creates the ``my_number_link`` row naming the proposal (or revokes
   it, for an unlink proposal) in the same transaction as the decision and its audit
   event, and stores the fingerprint of the resident's 4 items for the periodic check.
   The database admits an active link only that way (or marked 初期移行), and a
   revocation only by an approved unlink proposal (triggers, migration 0013).

Decisions lock the proposal row (FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE write lock)
and change its status with a conditional UPDATE, so two reviewers at once give one
decision and one refusal: 「この申請は既に処理されています」.

Audit actions: linkage.propose, linkage.submit, linkage.amend, linkage.withdraw,
linkage.approve, linkage.reject, linkage.open, linkage.queue — successes and refusals.
The number appears in the trail only masked (last 4 digits).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, NoReturn

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from auth.access import NOT_ALLOWED, current_permissions, require
from auth.identity import Identity
from auth.models import User
from auth.roles import Perm
from auth.stepup import require_recent_auth
from core.clock import aware, now
from core.db import Database, rowcount
from core.errors import BadInput, NotFound, Refused
from core.freetext import field_text
from core.settings import Settings
from logs.audit import record, record_alone
from services.jp import parse_date
from services.linkage.items import (
    ApplicationSide,
    ItemRow,
    RegisterSide,
    compare_sides,
    fingerprint,
    register_side,
)
from services.linkage.models import (
    APPROVE,
    APPROVED,
    DRAFT,
    KIND_LINK,
    KIND_UNLINK,
    PENDING,
    REJECT,
    REJECTED,
    STATUS_LABELS,
    WITHDRAWN,
    LinkFingerprint,
    LinkProposal,
    LinkReview,
)
from services.refusals import recorded_refusals
from services.register.models import (
    LINK_ACTIVE,
    LINK_REVOKED,
    STATUS_REMOVED,
    MyNumberLink,
    Resident,
)
from services.register.mynumber import (
    is_valid_my_number,
    mask_my_number,
    normalize_my_number,
)
from services.restricted import may_see_restricted, withheld

# --- the choices a proposal offers -----------------------------------------------------

SOURCES = ("申請書", "窓口", "住基ネット照会")
# The link's own source column speaks of where the number came from (LINK_SOURCES).
LINK_SOURCE_OF = {"申請書": "申請", "窓口": "申請", "住基ネット照会": "住基ネット照会"}

# 本人確認 = 番号確認 + 身元確認 (番号法第16条, 施行規則). The document lists follow the
# rules as commonly summarised *(check)*: kept here, in one place, so a correction is one
# edit. 身元確認 needs one photo document, or two without a photo.
NUMBER_CHECK_DOCS = (
    "個人番号カード",
    "通知カード",
    "住民票の写し(個人番号記載)",
    "住民票記載事項証明書(個人番号記載)",
    "住基ネット照会結果",
)
PHOTO_ID_DOCS = (
    "個人番号カード",
    "運転免許証",
    "運転経歴証明書",
    "旅券",
    "在留カード",
    "特別永住者証明書",
    "身体障害者手帳",
    "精神障害者保健福祉手帳",
    "療育手帳",
)
OTHER_ID_DOCS = (
    "健康保険の資格確認書",
    "年金手帳",
    "児童扶養手当証書",
    "住民票の写し",
    "官公署発行の書類(写真なし)",
)
IDENTITY_DOCS = PHOTO_ID_DOCS + OTHER_ID_DOCS

ALREADY_DECIDED = "この申請は既に処理されています ({state})。"
SELF_REVIEW = "自分が作成した申請は確認できません。申請者以外の確認者が確認してください。"
STALE = (
    "この申請は表示した後に変更されました (版 {seen} → {now})。"
    "開き直して、変更後の内容を確認してください。"
)
NOT_PROPOSER = "申請を変更・提出・取り下げできるのは申請者本人だけです。"
NOT_FOUND = "申請 #{id} が見つかりません。"
RESTRICTED_ACT = (
    "この申請の住民はDV等支援措置の対象です。{what}には支援措置担当の権限が必要です"
    "（氏名のほかの項目を確かめられないため）。（この操作は記録されました）"
)


# --- what callers pass and get back ---------------------------------------------------


@dataclass(frozen=True)
class Application:
    """The items as written on the application form, as the clerk typed them.

    ``birth`` is any form ``services.jp.parse_date`` reads (令和7年12月12日, R7.12.12,
    1985-04-01) or a ``date``; ``sex`` 男 / 女 (男性 / 女性 accepted). Blank = not given.
    """

    name: str = ""
    kana: str = ""
    birth: str | date = ""
    sex: str = ""
    address: str = ""


@dataclass(frozen=True)
class ReviewView:
    # Withheld (DV等支援措置): who, what and when stay; the comment may speak of the items.
    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({
        "reviewer_login", "reviewer_name", "verdict", "version", "at", "counts"})

    reviewer_login: str
    reviewer_name: str
    verdict: str  # approve / reject
    comment: str
    version: int  # the proposal version reviewed
    at: datetime
    counts: bool  # False when the proposal changed after this review (voided)


@dataclass(frozen=True)
class ProposalView:
    """One proposal as a screen shows it; the number only masked.

    For a restricted resident and a reader without the DV permission (``withheld``): the
    register side is the name only, and the application, number, reference, checks, note
    and review comments are blank; the proposal's own state stays.
    """

    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({
        "id", "kind", "status", "version", "required_approvals", "approvals", "source",
        "proposer_id", "proposer_login", "proposer_name", "created_at", "updated_at",
        "submitted_at", "decided_at", "link_id"})

    id: int
    kind: str  # link / unlink
    status: str  # draft / pending / approved / rejected / withdrawn
    version: int
    required_approvals: int
    approvals: int  # approving reviews of the current version
    number_masked: str  # **** **** 1234, or "" when a draft has no number yet
    source: str
    reference: str
    number_check: str
    identity_checks: tuple[str, ...]
    note: str
    application: ApplicationSide
    register: RegisterSide
    proposer_id: int
    proposer_login: str
    proposer_name: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    link_id: int | None
    reviews: tuple[ReviewView, ...] = ()
    withheld: bool = False

    @property
    def restricted(self) -> bool:
        """DV等支援措置 (the register side's)."""
        return self.register.restricted

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def age(self) -> timedelta:
        """Time since submission (since creation for a draft)."""
        return now() - (self.submitted_at or self.created_at)


@dataclass(frozen=True)
class Decision:
    """What one review did: recorded only, or decided the proposal."""

    proposal_id: int
    verdict: str  # approve / reject
    status: str  # the proposal's status after this review
    approvals: int
    required: int
    decided: bool
    link_id: int | None
    message: str  # a Japanese sentence for the reviewer


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue or the drafts; a restricted resident, to a reader without
    the DV permission, without the number and the differences (``withheld``)."""

    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({
        "proposal_id", "kind", "status", "resident_id", "resident_name", "source",
        "proposer_login", "proposer_name", "submitted_at", "age", "version", "approvals",
        "required", "mine", "reviewed_by_me"})

    proposal_id: int
    kind: str
    status: str
    resident_id: int
    resident_name: str  # as written; show through core.inert
    number_masked: str
    source: str
    proposer_login: str
    proposer_name: str
    submitted_at: datetime | None
    age: timedelta
    version: int
    approvals: int
    required: int
    differences: tuple[str, ...]  # "氏名: 異体字", … (empty: all items the same)
    mine: bool  # the caller proposed it (they cannot review it)
    reviewed_by_me: bool  # the caller already reviewed this version
    restricted: bool = False  # DV等支援措置
    withheld: bool = False


@dataclass
class _Refusal(Exception):
    """Raised inside a transaction; turned into a recorded ``Refused`` after rollback."""

    message: str
    reason: str
    severity: str = "warning"
    details: dict[str, Any] = field(default_factory=dict)


# --- input ------------------------------------------------------------------------


def parse_my_number(text: str) -> str:
    """The number as typed → 12 ASCII digits, or BadInput naming 個人番号.

    Full-width digits are folded (NFKC), spaces and hyphens dropped; then the length and
    the check digit (総務省令第85号 第5条) are checked. The check digit is a first
    filter only: a valid number still needs the reviewer.
    """
    raw = (text or "").strip()
    if not raw:
        raise BadInput("個人番号: 入力してください。")
    digits = normalize_my_number(raw)
    if not (digits.isascii() and digits.isdigit()):
        raise BadInput("個人番号: 数字以外の文字が含まれています。数字12桁で入力してください。")
    if len(digits) != 12:
        raise BadInput(f"個人番号: 12桁で入力してください (入力は{len(digits)}桁です)。")
    if not is_valid_my_number(digits):
        raise BadInput(
            "個人番号: 検査用数字 (12桁目) が一致しません。番号を確かめてください。"
        )
    return digits


def _clean(text: str, label: str, limit: int) -> str:
    return field_text(label, text, limit=limit)


def _parse_sex(text: str) -> str:
    value = unicodedata.normalize("NFKC", (text or "").strip())
    value = {"男性": "男", "女性": "女"}.get(value, value)
    if value not in ("", "男", "女"):
        raise BadInput("性別 (申請書): 男 または 女 を入力してください。")
    return value


def _parse_birth(value: str | date) -> date | None:
    if isinstance(value, date):
        return value
    if not (value or "").strip():
        return None
    return parse_date(value, field="生年月日 (申請書)")


def _parse_source(text: str) -> str:
    value = (text or "").strip()
    if value and value not in SOURCES:
        raise BadInput(f"取得元: {'、'.join(SOURCES)} のいずれかを選んでください。")
    return value


def _parse_number_check(text: str) -> str:
    value = (text or "").strip()
    if value and value not in NUMBER_CHECK_DOCS:
        raise BadInput(f"番号確認: {'、'.join(NUMBER_CHECK_DOCS)} のいずれかを選んでください。")
    return value


def _parse_identity(docs: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for doc in docs:
        value = (doc or "").strip()
        if not value:
            continue
        if value not in IDENTITY_DOCS:
            raise BadInput(f"身元確認: 「{value}」は選べる書類ではありません。")
        if value not in out:
            out.append(value)
    return tuple(out)


def identity_problem(number_check: str, identity_checks: Sequence[str]) -> str | None:
    """Why the identity checks do not suffice for submission, or None."""
    if not number_check:
        return "番号確認: 確認に使った書類を選んでください。"
    if not identity_checks:
        return "身元確認: 確認に使った書類を選んでください。"
    if not any(d in PHOTO_ID_DOCS for d in identity_checks) and len(identity_checks) < 2:
        return "身元確認: 顔写真付きの書類1点、または顔写真のない書類2点が必要です。"
    return None


def _set_application(p: LinkProposal, app: Application) -> None:
    p.app_name = _clean(app.name, "氏名 (申請書)", 130)
    p.app_kana = _clean(app.kana, "振り仮名 (申請書)", 130)
    p.app_birth = _parse_birth(app.birth)
    p.app_sex = _parse_sex(app.sex)
    p.app_address = _clean(app.address, "住所 (申請書)", 240)


def _incomplete(p: LinkProposal) -> str | None:
    """The first thing a proposal still lacks for submission, or None."""
    if p.kind == KIND_UNLINK:
        return None if p.note.strip() else "解除の理由: 入力してください。"
    if not p.number:
        return "個人番号: 入力してください (提出には必要です)。"
    if not p.source:
        return "取得元: 選んでください (提出には必要です)。"
    problem = identity_problem(p.number_check, _identity_list(p))
    if problem:
        return problem
    missing = [label for label, value in (
        ("氏名", p.app_name), ("生年月日", p.app_birth), ("性別", p.app_sex),
        ("住所", p.app_address),
    ) if not value]
    if missing:
        return f"申請書の{'・'.join(missing)}: 申請書に書かれたとおりに入力してください。"
    return None


def _identity_list(p: LinkProposal) -> tuple[str, ...]:
    return tuple(json.loads(p.identity_checks or "[]"))


# --- helpers --------------------------------------------------------------------------


def _masked(number: str) -> str:
    return mask_my_number(number) if number else ""


def _target(p: LinkProposal | None, resident_id: int | None = None) -> str:
    rid = p.resident_id if p is not None else resident_id
    return f"resident:{rid}" if rid is not None else ""


def _details(p: LinkProposal, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "proposal": p.id, "kind": p.kind, "version": p.version, "status": p.status,
    }
    if p.number:
        base["number"] = mask_my_number(p.number)
    base.update(extra)
    return base


def _refuse(
    db: Database, ident: Identity, action: str, target: str, r: _Refusal
) -> NoReturn:
    record_alone(
        db, ident.actor, action, target=target, outcome="refused", severity=r.severity,
        details={"reason": r.reason, **r.details},
    )
    raise Refused(r.message)


@dataclass
class _Act:
    """One linkage act under way: its audit action and target (the target names the
    resident once the act has loaded the proposal)."""

    action: str
    target: str


@contextmanager
def _refusal_recorded(db: Database, ident: Identity, act: _Act) -> Iterator[_Act]:
    """Around an act's write transaction: a ``_Refusal`` (or the database's refusal of a
    second pending proposal) rolls it back, is recorded on its own, and is raised as
    ``Refused``."""
    try:
        yield act
    except _Refusal as r:
        _refuse(db, ident, act.action, act.target, r)
    except IntegrityError as exc:
        if not _is_pending_clash(exc):
            raise
        _refuse(db, ident, act.action, act.target, _PENDING_CLASH)


def _locked(s: Session, act: _Act, proposal_id: int) -> LinkProposal:
    """The proposal, locked for this transaction; the act's target becomes its resident."""
    p = _lock(s, proposal_id)
    act.target = _target(p)
    return p


def _lock(s: Session, proposal_id: int) -> LinkProposal:
    p = s.exec(
        select(LinkProposal).where(LinkProposal.id == proposal_id).with_for_update()
    ).first()
    if p is None:
        raise NotFound(NOT_FOUND.format(id=proposal_id))
    return p


def _resident(s: Session, resident_id: int) -> Resident:
    r = s.get(Resident, resident_id)
    if r is None:
        raise NotFound(f"住民 #{resident_id} が見つかりません。")
    return r


def _application_side(p: LinkProposal) -> ApplicationSide:
    return ApplicationSide(
        name=p.app_name, kana=p.app_kana, birth_date=p.app_birth, sex=p.app_sex,
        address=p.app_address,
    )


def _rows(p: LinkProposal, resident: Resident) -> list[ItemRow]:
    if p.kind == KIND_UNLINK:
        return []
    return compare_sides(_application_side(p), register_side(resident))


def _difference_labels(rows: Iterable[ItemRow]) -> tuple[str, ...]:
    return tuple(f"{r.item}: {r.detail or r.kind}" for r in rows if r.differs)


def _duplicates(
    s: Session, p: LinkProposal, *, pending_too: bool
) -> _Refusal | None:
    """The first duplicate that forbids this proposal, or None."""
    if p.kind == KIND_LINK and p.number:
        on_number = s.exec(select(MyNumberLink).where(
            MyNumberLink.number == p.number, MyNumberLink.status == LINK_ACTIVE,
        )).first()
        if on_number is not None and on_number.resident_id != p.resident_id:
            return _Refusal(
                f"この個人番号 ({mask_my_number(p.number)}) は既に別の住民に紐付けられています。"
                "番号を申請者に確かめてください。",
                "number_linked_elsewhere", "warning",
                {"number": mask_my_number(p.number), "link": on_number.id},
            )
    if p.kind == KIND_LINK:
        own = s.exec(select(MyNumberLink).where(
            MyNumberLink.resident_id == p.resident_id, MyNumberLink.status == LINK_ACTIVE,
        )).first()
        if own is not None:
            return _Refusal(
                f"この住民には既に個人番号 ({mask_my_number(own.last4)}) が紐付けられています。"
                "変えるには、先に紐付け解除の申請をしてください。",
                "resident_already_linked", "info", {"link": own.id},
            )
    if not pending_too:
        return None
    others = select(LinkProposal).where(
        LinkProposal.status == PENDING, LinkProposal.id != (p.id or -1),
    )
    same_resident = s.exec(others.where(LinkProposal.resident_id == p.resident_id)).first()
    if same_resident is not None:
        return _Refusal(
            f"この住民には確認待ちの申請 (#{same_resident.id}) があります。"
            "その申請の確認が終わるまで、新しい申請はできません。",
            "pending_for_resident", "info", {"pending": same_resident.id},
        )
    if p.number:
        same_number = s.exec(others.where(LinkProposal.number == p.number)).first()
        if same_number is not None:
            return _Refusal(
                f"この個人番号 ({mask_my_number(p.number)}) には確認待ちの申請 "
                f"(#{same_number.id}) があります。",
                "pending_for_number", "warning", {"pending": same_number.id},
            )
    return None


_PENDING_CLASH = _Refusal(
    "同じ住民または同じ個人番号の確認待ちの申請が、同時に登録されました。一覧を確かめてください。",
    "pending_conflict", "warning",
)


def _is_pending_clash(exc: IntegrityError) -> bool:
    """A pending-uniqueness violation (PostgreSQL names the index, SQLite the columns)."""
    text = str(exc.orig)
    return any(k in text for k in (
        "uq_link_proposal_pending", "link_proposal.resident_id", "link_proposal.number",
    ))


def _approvals(s: Session, p: LinkProposal) -> int:
    return s.exec(select(func.count()).select_from(LinkReview).where(
        LinkReview.proposal_id == p.id, LinkReview.version == p.version,
        LinkReview.verdict == APPROVE,
    )).one()


def _required(settings: Settings) -> int:
    """Confirmations besides the proposer: the setting, never fewer than one."""
    return max(1, int(settings.linkage_approvals))


def _complete_and_unique(s: Session, p: LinkProposal) -> None:
    """What a proposal in the queue must be: complete (BadInput naming what is missing)
    and no duplicate of a link or another pending proposal (a refusal)."""
    problem = _incomplete(p)
    if problem:
        raise BadInput(problem)
    clash = _duplicates(s, p, pending_too=True)
    if clash:
        raise clash


def _submit_into(s: Session, settings: Settings, p: LinkProposal) -> None:
    _complete_and_unique(s, p)
    current = now()
    p.status = PENDING
    p.submitted_at = current
    p.updated_at = current
    p.required_approvals = _required(settings)


# --- proposing ----------------------------------------------------------------------


def _file(s: Session, settings: Settings, p: LinkProposal, *, submit: bool) -> None:
    """Store a new proposal: submitted (complete? then no duplicate) or as a draft (no
    duplicate of a pending one either)."""
    if submit:
        _submit_into(s, settings, p)
    else:
        clash = _duplicates(s, p, pending_too=True)
        if clash:
            raise clash
    s.add(p)
    s.flush()


@recorded_refusals("linkage.propose", "resident")
def propose(
    db: Database,
    settings: Settings,
    ident: Identity,
    resident_id: int,
    *,
    number: str = "",
    source: str = "",
    reference: str = "",
    number_check: str = "",
    identity_checks: Sequence[str] = (),
    application: Application = Application(),
    note: str = "",
    submit: bool = True,
) -> ProposalView:
    """Create a link proposal for ``resident_id``; submitted unless ``submit=False``.

    BadInput (nothing saved) for a bad number or field, or — when submitting — a missing
    one. Refused (recorded) without LINK_PROPOSE, for a 消除 resident, or a duplicate.
    A draft may lack the number and the application items; ``submit`` checks them.
    """
    action = "linkage.propose"
    target = f"resident:{resident_id}"
    require(db, ident, Perm.LINK_PROPOSE, action=action, what="紐付けの申請", target=target)
    p = LinkProposal(
        kind=KIND_LINK, resident_id=resident_id, proposer_id=ident.user_id,
        proposer_login=ident.login, created_at=now(), updated_at=now(),
    )
    if (number or "").strip() or submit:
        p.number = parse_my_number(number)
        p.last4 = p.number[-4:]
    p.source = _parse_source(source)
    p.reference = _clean(reference, "申請書等の番号", 120)
    p.number_check = _parse_number_check(number_check)
    p.identity_checks = json.dumps(_parse_identity(identity_checks), ensure_ascii=False)
    p.note = _clean(note, "備考", 400)
    _set_application(p, application)
    act = _Act(action, target)
    with _refusal_recorded(db, ident, act), db.write(numbers=True) as s:
        resident = _resident(s, resident_id)
        if resident.status == STATUS_REMOVED:
            raise _Refusal(
                "消除された住民には個人番号を紐付けできません。", "resident_removed", "info",
            )
        _file(s, settings, p, submit=submit)
        record(
            s, ident.actor, action, target=act.target,
            severity="high" if resident.dv_support else "info",
            details=_details(p, submitted=submit, source=p.source,
                             restricted=bool(resident.dv_support)),
        )
        if submit:
            record(s, ident.actor, "linkage.submit", target=act.target, details=_details(p))
        pid = p.id
    assert pid is not None
    return _view(db, ident, pid)


@recorded_refusals("linkage.propose", "link")
def propose_unlink(
    db: Database,
    settings: Settings,
    ident: Identity,
    link_id: int,
    *,
    reason: str,
    reference: str = "",
    submit: bool = True,
) -> ProposalView:
    """Propose revoking an active link; it needs a second person like any link."""
    action = "linkage.propose"
    require(db, ident, Perm.LINK_PROPOSE, action=action, what="紐付け解除の申請",
            target=f"link:{link_id}")
    note = _clean(reason, "解除の理由", 400)
    if submit and not note:
        raise BadInput("解除の理由: 入力してください。")
    target = f"link:{link_id}"
    act = _Act(action, target)
    with _refusal_recorded(db, ident, act), db.write(numbers=True) as s:
        link = s.get(MyNumberLink, link_id)
        if link is None:
            raise NotFound(f"紐付け #{link_id} が見つかりません。")
        act.target = f"resident:{link.resident_id}"
        if link.status != LINK_ACTIVE:
            raise _Refusal("この紐付けは既に解除されています。", "link_not_active", "info",
                           {"link": link_id})
        current = now()
        p = LinkProposal(
            kind=KIND_UNLINK, resident_id=link.resident_id, number=link.number,
            last4=link.last4, link_id=link.id, source="", note=note,
            reference=_clean(reference, "申請書等の番号", 120),
            proposer_id=ident.user_id, proposer_login=ident.login,
            created_at=current, updated_at=current,
        )
        _file(s, settings, p, submit=submit)
        record(s, ident.actor, action, target=act.target,
               details=_details(p, submitted=submit, link=link_id))
        if submit:
            record(s, ident.actor, "linkage.submit", target=act.target, details=_details(p))
        pid = p.id
    assert pid is not None
    return _view(db, ident, pid)


def _refuse_restricted(p: LinkProposal, what: str) -> NoReturn:
    """A restricted resident's proposal, shown withheld, cannot be approved or changed
    by that reader: they cannot see the items (recorded, high)."""
    raise _Refusal(RESTRICTED_ACT.format(what=what), "restricted", "high", _details(
        p, permission=str(Perm.OPEN_RESTRICTED), restricted=True))


def _own_open(p: LinkProposal, ident: Identity, version: int) -> None:
    """Only the proposer changes a draft or pending proposal, at the version they saw."""
    if p.proposer_id != ident.user_id:
        raise _Refusal(NOT_PROPOSER, "not_proposer", "warning", _details(p))
    if p.status not in (DRAFT, PENDING):
        raise _Refusal(
            ALREADY_DECIDED.format(state=STATUS_LABELS.get(p.status, p.status)),
            "already_decided", "info", _details(p),
        )
    if p.version != version:
        raise _Refusal(STALE.format(seen=version, now=p.version), "stale_version", "info",
                       _details(p, seen=version))


@recorded_refusals("linkage.submit", "proposal")
def submit(
    db: Database, settings: Settings, ident: Identity, proposal_id: int, *, version: int
) -> ProposalView:
    """Send a draft to the review queue (draft → pending); only its proposer may."""
    action = "linkage.submit"
    require(db, ident, Perm.LINK_PROPOSE, action=action, what="紐付けの申請",
            target=f"proposal:{proposal_id}")
    target = f"proposal:{proposal_id}"
    act = _Act(action, target)
    with _refusal_recorded(db, ident, act), db.write(numbers=True) as s:
        p = _locked(s, act, proposal_id)
        _own_open(p, ident, version)
        if p.status != DRAFT:
            raise _Refusal("この申請は既に提出されています。", "already_submitted", "info",
                           _details(p))
        if p.kind == KIND_LINK and _resident(s, p.resident_id).status == STATUS_REMOVED:
            raise _Refusal("消除された住民には個人番号を紐付けできません。",
                           "resident_removed", "info", _details(p))
        _submit_into(s, settings, p)
        s.add(p)
        s.flush()
        record(s, ident.actor, action, target=act.target, details=_details(p))
    return _view(db, ident, proposal_id)


@recorded_refusals("linkage.amend", "proposal")
def amend(
    db: Database,
    settings: Settings,
    ident: Identity,
    proposal_id: int,
    *,
    version: int,
    number: str | None = None,
    source: str | None = None,
    reference: str | None = None,
    number_check: str | None = None,
    identity_checks: Sequence[str] | None = None,
    application: Application | None = None,
    note: str | None = None,
) -> ProposalView:
    """Change a draft or pending proposal (its proposer only); None leaves a field as is.

    Any real change raises the version: reviews of the old version no longer count, and
    a reviewer holding the old version is refused until they open it again.
    """
    action = "linkage.amend"
    require(db, ident, Perm.LINK_PROPOSE, action=action, what="紐付けの申請",
            target=f"proposal:{proposal_id}")
    new: dict[str, Any] = {}
    if number is not None:
        parsed = parse_my_number(number) if number.strip() else ""
        new.update(number=parsed, last4=parsed[-4:])
    if source is not None:
        new["source"] = _parse_source(source)
    if reference is not None:
        new["reference"] = _clean(reference, "申請書等の番号", 120)
    if number_check is not None:
        new["number_check"] = _parse_number_check(number_check)
    if identity_checks is not None:
        new["identity_checks"] = json.dumps(_parse_identity(identity_checks),
                                            ensure_ascii=False)
    if note is not None:
        new["note"] = _clean(note, "備考", 400)
    if application is not None:
        probe = LinkProposal(resident_id=0, proposer_id=0, proposer_login="",
                             created_at=now(), updated_at=now())
        _set_application(probe, application)
        for col in ("app_name", "app_kana", "app_birth", "app_sex", "app_address"):
            new[col] = getattr(probe, col)
    target = f"proposal:{proposal_id}"
    may_see = may_see_restricted(current_permissions(db, ident))
    act = _Act(action, target)
    with _refusal_recorded(db, ident, act), db.write(numbers=True) as s:
        p = _locked(s, act, proposal_id)
        _own_open(p, ident, version)
        if not may_see and _resident(s, p.resident_id).dv_support:
            _refuse_restricted(p, "変更")  # the form showed blanks: saving would erase
        if p.kind == KIND_UNLINK and "number" in new:
            raise BadInput("個人番号: 解除の申請では番号を変えられません。")
        changed = sorted(k for k, v in new.items() if getattr(p, k) != v and k != "last4")
        if not changed:
            pid = p.id
        else:
            for k, v in new.items():
                setattr(p, k, v)
            voided = s.exec(select(func.count()).select_from(LinkReview).where(
                LinkReview.proposal_id == p.id, LinkReview.version == p.version,
            )).one()
            p.version += 1
            p.updated_at = now()
            if p.status == PENDING:
                _complete_and_unique(s, p)
            s.add(p)
            s.flush()
            record(s, ident.actor, action, target=act.target, details=_details(
                p, fields=[c for c in changed if c != "last4"], voided_reviews=voided,
            ))
            pid = p.id
    assert pid is not None
    return _view(db, ident, pid)


def withdraw(
    db: Database, ident: Identity, proposal_id: int, *, version: int, reason: str = ""
) -> ProposalView:
    """The proposer takes back a draft or pending proposal (→ withdrawn); kept for the record."""
    action = "linkage.withdraw"
    require(db, ident, Perm.LINK_PROPOSE, action=action, what="紐付けの申請",
            target=f"proposal:{proposal_id}")
    why = _clean(reason, "取下げの理由", 400)
    target = f"proposal:{proposal_id}"
    act = _Act(action, target)
    with _refusal_recorded(db, ident, act), db.write() as s:
        p = _locked(s, act, proposal_id)
        _own_open(p, ident, version)
        current = now()
        result = s.execute(
            update(LinkProposal)
            .where(col(LinkProposal.id) == proposal_id, col(LinkProposal.version) == version,
                   col(LinkProposal.status).in_((DRAFT, PENDING)))
            .values(status=WITHDRAWN, decided_at=current, updated_at=current)
        )
        if rowcount(result) != 1:
            raise _Refusal(ALREADY_DECIDED.format(state="処理済み"), "already_decided")
        s.refresh(p)
        record(s, ident.actor, action, target=act.target,
               details=_details(p, reason_given=bool(why)))
    return _view(db, ident, proposal_id)


# --- reviewing ----------------------------------------------------------------------


@recorded_refusals("linkage.approve", "proposal")
def approve(
    db: Database, ident: Identity, proposal_id: int, *, version: int, comment: str = "",
    settings: Settings | None = None,
) -> Decision:
    """Approve the version the reviewer saw. The last approval needed links (or unlinks).

    A sensitive act: the password must be recent (``auth.stepup``; ``settings`` tunes the
    window, 15 minutes without it)."""
    require(db, ident, Perm.LINK_REVIEW, action="linkage.approve", what="紐付けの確認",
            target=f"proposal:{proposal_id}")
    require_recent_auth(db, ident, settings, action="linkage.approve",
                        target=f"proposal:{proposal_id}")
    return _decide(db, ident, proposal_id, APPROVE, version, comment)


@recorded_refusals("linkage.reject", "proposal")
def reject(
    db: Database, ident: Identity, proposal_id: int, *, version: int, comment: str
) -> Decision:
    """Reject with a reason (required). One rejection decides the proposal."""
    return _decide(db, ident, proposal_id, REJECT, version, comment)


def _decide(
    db: Database, ident: Identity, proposal_id: int, verdict: str, version: int, comment: str
) -> Decision:
    action = "linkage.approve" if verdict == APPROVE else "linkage.reject"
    target = f"proposal:{proposal_id}"
    require(db, ident, Perm.LINK_REVIEW, action=action, what="紐付けの確認", target=target)
    text = field_text("コメント", comment, limit=2000)
    may_see = may_see_restricted(current_permissions(db, ident))
    act = _Act(action, target)
    with _refusal_recorded(db, ident, act), db.write(numbers=True) as s:
        p = _locked(s, act, proposal_id)
        if p.proposer_id == ident.user_id:
            raise _Refusal(SELF_REVIEW, "self_review", "high", _details(p))
        if p.status != PENDING:
            if p.status == DRAFT:
                raise _Refusal("この申請はまだ提出されていません (下書き)。", "not_submitted",
                               "info", _details(p))
            raise _Refusal(
                ALREADY_DECIDED.format(state=STATUS_LABELS.get(p.status, p.status)),
                "already_decided", "info", _details(p),
            )
        if p.version != version:
            raise _Refusal(STALE.format(seen=version, now=p.version), "stale_version",
                           "info", _details(p, seen=version))
        mine = s.exec(select(LinkReview).where(
            LinkReview.proposal_id == p.id, LinkReview.version == p.version,
            LinkReview.reviewer_id == ident.user_id,
        )).first()
        if mine is not None:
            raise _Refusal(
                "この版の申請は既に確認済みです。別の確認者の確認を待ってください。",
                "already_reviewed", "info", _details(p),
            )
        resident = _resident(s, p.resident_id)
        if verdict == APPROVE and resident.dv_support and not may_see:
            _refuse_restricted(p, "承認")
        rows = _rows(p, resident)
        differences = _difference_labels(rows)
        if verdict == REJECT and not text:
            raise BadInput("コメント: 却下の理由を入力してください。")
        if verdict == APPROVE and differences and not text:
            raise BadInput(
                "コメント: 申請書と住民記録で異なる項目があります ("
                + "、".join(differences) + ")。承認する理由を入力してください。"
            )
        current = now()
        s.add(LinkReview(
            proposal_id=proposal_id, reviewer_id=ident.user_id, reviewer_login=ident.login,
            verdict=verdict, comment=text, version=p.version, created_at=current,
        ))
        s.flush()
        approvals = _approvals(s, p)
        decided = verdict == REJECT or approvals >= p.required_approvals
        link_id = p.link_id
        effect = None
        if decided:
            result = s.execute(
                update(LinkProposal)
                .where(col(LinkProposal.id) == p.id, col(LinkProposal.status) == PENDING,
                       col(LinkProposal.version) == p.version)
                .values(status=APPROVED if verdict == APPROVE else REJECTED,
                        decided_at=current, updated_at=current)
            )
            if rowcount(result) != 1:
                raise _Refusal(ALREADY_DECIDED.format(state="処理済み"), "already_decided",
                               "info", _details(p))
            if verdict == APPROVE:
                # After the decision: the database admits the link (or the revocation)
                # only as the consequence of an approved proposal (migration 0013).
                link_id, effect = _apply(s, ident, p, resident, current)
                if p.kind == KIND_LINK:
                    s.execute(update(LinkProposal).where(col(LinkProposal.id) == p.id)
                              .values(link_id=link_id))
            s.refresh(p)
        record(s, ident.actor, action, target=act.target, details=_details(
            p, approvals=approvals, required=p.required_approvals, decided=decided,
            effect=effect, link=link_id, differences=list(differences),
            comment_given=bool(text),
        ))
        status = p.status
        required = p.required_approvals
        number = p.number
    return Decision(
        proposal_id=proposal_id, verdict=verdict, status=status, approvals=approvals,
        required=required, decided=decided, link_id=link_id,
        message=_decision_message(verdict, status, approvals, required, number),
    )


def _apply(
    s: Session, ident: Identity, p: LinkProposal, resident: Resident, at: datetime
) -> tuple[int | None, str]:
    """The effect of the final approval, inside the decision's transaction."""
    if p.kind == KIND_UNLINK:
        link = s.exec(
            select(MyNumberLink).where(MyNumberLink.id == p.link_id).with_for_update()
        ).first()
        if link is None or link.status != LINK_ACTIVE:
            raise _Refusal("この紐付けは既に解除されています。", "link_not_active", "info",
                           _details(p))
        link.status = LINK_REVOKED
        link.revoked_at = at
        link.revoke_reason = p.note[:200]
        s.add(link)
        s.flush()
        return link.id, "unlinked"
    clash = _duplicates(s, p, pending_too=False)
    if clash:
        raise clash
    link = MyNumberLink(
        resident_id=p.resident_id, number=p.number, last4=p.number[-4:], linked_at=at,
        source=LINK_SOURCE_OF.get(p.source, "申請"), status=LINK_ACTIVE, proposal_id=p.id,
    )
    s.add(link)
    s.flush()
    assert link.id is not None
    s.add(LinkFingerprint(
        link_id=link.id, origin="承認", proposal_id=p.id, taken_at=at,
        taken_by=ident.login, **fingerprint(resident),
    ))
    s.flush()
    return link.id, "linked"


def _decision_message(
    verdict: str, status: str, approvals: int, required: int, number: str
) -> str:
    if status == REJECTED:
        return "却下しました。"
    if status == APPROVED:
        return f"承認しました。個人番号 ({_masked(number)}) の登録を反映しました。"
    return (f"承認を記録しました ({approvals}/{required})。"
            f"あと{required - approvals}人の確認が必要です。")


# --- reading ------------------------------------------------------------------------


def _may_read(db: Database, ident: Identity, action: str, target: str) -> None:
    perms = current_permissions(db, ident)
    if Perm.LINK_REVIEW in perms or Perm.LINK_PROPOSE in perms:
        return
    record_alone(db, ident.actor, action, target=target, outcome="refused", severity="warning",
                 details={"reason": "permission", "permission": str(Perm.LINK_REVIEW)})
    raise Refused(NOT_ALLOWED.format(what="紐付けの申請の閲覧"))


def _view(db: Database, ident: Identity, proposal_id: int) -> ProposalView:
    """The proposal as ``ident`` may see it (``services.restricted.withheld``)."""
    may_see = may_see_restricted(current_permissions(db, ident))
    with db.read() as s:
        p = s.get(LinkProposal, proposal_id)
        if p is None:
            raise NotFound(NOT_FOUND.format(id=proposal_id))
        resident = _resident(s, p.resident_id)
        proposer = s.get(User, p.proposer_id)
        reviews = s.exec(
            select(LinkReview, User).join(User, col(User.id) == col(LinkReview.reviewer_id))
            .where(col(LinkReview.proposal_id) == p.id).order_by(col(LinkReview.id))
        ).all()
        return withheld(ProposalView(
            id=proposal_id, kind=p.kind, status=p.status, version=p.version,
            required_approvals=p.required_approvals,
            approvals=sum(1 for r, _ in reviews if r.version == p.version
                          and r.verdict == APPROVE),
            number_masked=_masked(p.number), source=p.source, reference=p.reference,
            number_check=p.number_check, identity_checks=_identity_list(p), note=p.note,
            application=_application_side(p), register=register_side(resident),
            proposer_id=p.proposer_id, proposer_login=p.proposer_login,
            proposer_name=proposer.name if proposer else "",
            created_at=aware(p.created_at), updated_at=aware(p.updated_at),
            submitted_at=aware(p.submitted_at) if p.submitted_at else None,
            decided_at=aware(p.decided_at) if p.decided_at else None,
            link_id=p.link_id,
            reviews=tuple(
                ReviewView(
                    reviewer_login=r.reviewer_login, reviewer_name=u.name, verdict=r.verdict,
                    comment=r.comment, version=r.version, at=aware(r.created_at),
                    counts=r.version == p.version,
                )
                for r, u in reviews
            ),
        ), may_see=may_see)


def open_proposal(db: Database, ident: Identity, proposal_id: int) -> ProposalView:
    """A proposal with the register side beside it (LINK_REVIEW or LINK_PROPOSE); recorded."""
    action = "linkage.open"
    _may_read(db, ident, action, f"proposal:{proposal_id}")
    view = _view(db, ident, proposal_id)
    record_alone(
        db, ident.actor, action, target=f"resident:{view.register.resident_id}",
        severity="high" if view.register.restricted else "info",
        details={"proposal": view.id, "kind": view.kind, "version": view.version,
                 "status": view.status, "restricted": view.register.restricted},
    )
    return view


def compare(view: ProposalView) -> list[ItemRow]:
    """The side-by-side rows: application against register, each difference named.

    Empty for an unlink proposal (nothing was applied for) and for a withheld view (a
    restricted resident, a reader without the DV permission). The reviewer must comment
    when any row ``differs``.
    """
    if view.kind == KIND_UNLINK or view.withheld:
        return []
    return compare_sides(view.application, view.register)


def _queue(
    db: Database, ident: Identity, statuses: tuple[str, ...], *, source: str | None,
    kind: str | None, proposer: str | None, resident_id: int | None,
    min_age: timedelta | None, only_mine: bool, limit: int,
) -> list[QueueRow]:
    current = now()
    may_see = may_see_restricted(current_permissions(db, ident))
    with db.read() as s:
        stmt = (
            select(LinkProposal, Resident, User)
            .join(Resident, col(Resident.id) == col(LinkProposal.resident_id))
            .join(User, col(User.id) == col(LinkProposal.proposer_id))
            .where(col(LinkProposal.status).in_(statuses))
        )
        if source:
            stmt = stmt.where(LinkProposal.source == source)
        if kind:
            stmt = stmt.where(LinkProposal.kind == kind)
        if proposer:
            stmt = stmt.where(LinkProposal.proposer_login == proposer)
        if resident_id is not None:
            stmt = stmt.where(LinkProposal.resident_id == resident_id)
        if min_age is not None:
            stmt = stmt.where(col(LinkProposal.submitted_at) <= current - min_age)
        if only_mine:
            stmt = stmt.where(LinkProposal.proposer_id == ident.user_id)
        order = (col(LinkProposal.submitted_at) if statuses == (PENDING,)
                 else col(LinkProposal.created_at))
        stmt = stmt.order_by(order, col(LinkProposal.id)).limit(max(1, limit))
        found = s.exec(stmt).all()
        ids = [p.id for p, _, _ in found]
        reviews = s.exec(select(LinkReview).where(
            col(LinkReview.proposal_id).in_(ids)
        )).all() if ids else []
    rows: list[QueueRow] = []
    for p, resident, user in found:
        own = [r for r in reviews if r.proposal_id == p.id and r.version == p.version]
        since = aware(p.submitted_at or p.created_at)
        rows.append(withheld(QueueRow(
            proposal_id=p.id or 0, kind=p.kind, status=p.status, resident_id=p.resident_id,
            resident_name=f"{resident.family_name}\u3000{resident.given_name}",
            number_masked=_masked(p.number), source=p.source,
            proposer_login=p.proposer_login, proposer_name=user.name,
            submitted_at=aware(p.submitted_at) if p.submitted_at else None,
            age=current - since, version=p.version,
            approvals=sum(1 for r in own if r.verdict == APPROVE),
            required=p.required_approvals,
            differences=_difference_labels(_rows(p, resident)),
            mine=p.proposer_id == ident.user_id,
            reviewed_by_me=any(r.reviewer_id == ident.user_id for r in own),
            restricted=bool(resident.dv_support),
        ), may_see=may_see))
    return rows


def pending(
    db: Database,
    ident: Identity,
    *,
    source: str | None = None,
    kind: str | None = None,
    proposer: str | None = None,
    resident_id: int | None = None,
    min_age: timedelta | None = None,
    limit: int = 200,
) -> list[QueueRow]:
    """The review queue: pending proposals, oldest submission first, with their age.

    Filters: ``source`` (申請書 / 窓口 / 住基ネット照会), ``kind`` (link / unlink),
    ``proposer`` (login), ``resident_id``, ``min_age`` (waiting at least this long).
    Needs LINK_REVIEW or LINK_PROPOSE; each view of the queue is recorded.
    """
    _may_read(db, ident, "linkage.queue", "queue")
    rows = _queue(db, ident, (PENDING,), source=source, kind=kind, proposer=proposer,
                  resident_id=resident_id, min_age=min_age, only_mine=False, limit=limit)
    record_alone(db, ident.actor, "linkage.queue", target="queue", details={
        "count": len(rows),
        "filters": {k: v for k, v in (("source", source), ("kind", kind),
                                      ("proposer", proposer), ("resident", resident_id),
                                      ("min_age_s", min_age.total_seconds() if min_age
                                       else None)) if v is not None},
    })
    return rows


def drafts(db: Database, ident: Identity, *, limit: int = 200) -> list[QueueRow]:
    """The caller's own drafts, oldest first (to finish and submit later)."""
    _may_read(db, ident, "linkage.queue", "drafts")
    return _queue(db, ident, (DRAFT,), source=None, kind=None, proposer=None,
                  resident_id=None, min_age=None, only_mine=True, limit=limit)


def link_history(db: Database, ident: Identity, link_id: int) -> list[ProposalView]:
    """Who proposed and who confirmed a link: the proposal that made it and any unlink
    proposals about it, oldest first, each with its reviews (link ← proposal ← reviews).

    Links from before this workflow (初期移行) have none. Needs LINK_REVIEW or
    LINK_PROPOSE; recorded.
    """
    action = "linkage.history"
    _may_read(db, ident, action, f"link:{link_id}")
    with db.read() as s:
        link = s.get(MyNumberLink, link_id)
        if link is None:
            raise NotFound(f"紐付け #{link_id} が見つかりません。")
        ids = s.exec(
            select(LinkProposal.id).where(LinkProposal.link_id == link_id)
            .order_by(col(LinkProposal.id))
        ).all()
        resident_id = link.resident_id
    record_alone(db, ident.actor, action, target=f"resident:{resident_id}",
                 details={"link": link_id, "proposals": list(ids)})
    return [_view(db, ident, pid) for pid in ids if pid is not None]
