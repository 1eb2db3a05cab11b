"""住基ネット照会: the query rule and the httpx client for the 市町村CS endpoint.

docs/domain.md §9: when the applicant gave no number, the city may ask 住基ネット (J-LIS)
for it, but only with the 4 items 氏名・生年月日・性別・住所, or the 3 items without 性別 —
the address is always there. ``build_query`` is that rule, in one place: anything
narrower raises ``NarrowQuery`` (a ``Refused``) naming what is missing, and
``query_jukinet`` refuses it through ``services.gate`` (recorded) and sends nothing. The simulator
(``services.jukinet.sim``) applies the same rule again on its side.

``query_jukinet`` needs ``Perm.LINK_PROPOSE``. It posts the query as JSON to
``<jukinet_url>query`` with a timeout of ``jukinet_timeout_seconds`` and returns the
candidates 住基ネット gave back (none, one or several), each with its 個人番号. A candidate
who is a resident of ours under DV等支援措置 comes back, to a caller without
``Perm.OPEN_RESTRICTED``, as the name only (``services.restricted.withheld``): no address,
date of birth, code or number, so a clerk cannot learn where she lives by asking with her
name, birth date and 丁目. Every call is recorded as ``jukinet.query`` (success, refused or
failure) with the items sent, the number of candidates and their numbers masked — never a
whole number — and, for an answer naming a restricted resident, severity high and how
many candidates were withheld. A timeout, a
connection error, an HTTP error or an answer that cannot be read raise
``JukinetUnavailable`` with a Japanese message; the query touches no proposal, so a draft
given as ``proposal_id`` stays a draft, unchanged, and the clerk can ask again.

No transaction is open while the query is on the wire: the permission, the draft and the
items are checked in a read before it (``services.gate``), and the answer is marked and
recorded in a transaction after it.

The HTTP client ignores proxy variables from the environment (``trust_env=False``): the
市町村CS sits on the city's closed network, and a proxy set for the internet must not
see residents' names.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, ClassVar

import httpx
from sqlmodel import Session, select

from auth.identity import Identity
from auth.roles import Perm
from core.clock import today_in_japan
from core.db import Database
from core.errors import BadInput, JukiError, NotFound, Refused
from core.freetext import mask_my_numbers, problem
from core.inert import clean_line
from core.settings import Settings
from logs.audit import record_alone
from services import gate
from services.jp import normalize_address, parse_date
from services.linkage.models import DRAFT, STATUS_LABELS, LinkProposal
from services.register.models import Resident
from services.register.mynumber import is_valid_my_number, mask_my_number
from services.restricted import withheld

ACTION = "jukinet.query"
PURPOSE = "個人番号の紐付け確認"

NAME, BIRTH, SEX, ADDRESS = "氏名", "生年月日", "性別", "住所"
FOUR_ITEMS = "4情報"  # 氏名・生年月日・性別・住所
THREE_ITEMS = "3情報"  # 氏名・生年月日・住所

RULE = (
    "住基ネットへの照会は、4情報 (氏名・生年月日・性別・住所) または"
    "性別を除く3情報 (氏名・生年月日・住所) でしか行えません。"
)
NOT_SENT = "照会は送信していません。"

_SEXES = {"男": "男", "女": "女", "男性": "男", "女性": "女"}
_LIMITS = {NAME: 130, "振り仮名": 130, ADDRESS: 240}  # as the proposal's application side
_ADDRESS_NUMBER = re.compile(r"[0-9]|無番地")


# --- errors -------------------------------------------------------------------------


class NarrowQuery(Refused):
    """A query narrower than the 4 or 3 items: refused before anything is sent.

    ``missing`` names the items that are absent (氏名, 生年月日, 住所), or is empty when
    the address is there but gives no 番地.
    """

    def __init__(self, message: str, missing: tuple[str, ...], reason: str) -> None:
        super().__init__(message)
        self.missing = missing
        self.reason = reason


class JukinetUnavailable(JukiError):
    """住基ネット did not answer usefully: timeout, no connection, an HTTP error, an answer
    that cannot be read, or no endpoint configured. CLI exit 1; nothing was changed.

    ``reason``: timeout / connect / http / rejected / malformed / config.
    """

    exit_code = 1

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- the query rule -----------------------------------------------------------------


@dataclass(frozen=True)
class JukinetQuery:
    """A query that satisfies the rule: what goes over the wire.

    Text items are as typed (spaces at the ends removed), since 住基ネット compares the
    name as written; ``sex`` is 男 / 女, or "" for a 3-item query.
    """

    name: str
    kana: str
    birth: date
    sex: str
    address: str

    @property
    def items(self) -> str:
        """4情報 when 性別 is given, else 3情報."""
        return FOUR_ITEMS if self.sex else THREE_ITEMS

    def payload(self) -> dict[str, str]:
        """The JSON body: {name, kana, birth (ISO), sex, address}."""
        return {
            "name": self.name, "kana": self.kana, "birth": self.birth.isoformat(),
            "sex": self.sex, "address": self.address,
        }


def _text(value: str | None, label: str) -> str:
    text = (value or "").strip()
    if why := problem(text):
        raise BadInput(f"{label}: {why}。")
    if len(text) > _LIMITS[label]:
        raise BadInput(f"{label}: {_LIMITS[label]}文字以内で入力してください。")
    return text


def _given(text: str) -> bool:
    """True when something other than spaces and punctuation is left after NFKC."""
    folded = unicodedata.normalize("NFKC", text)
    return any(unicodedata.category(ch)[0] in "LN" for ch in folded)


def build_query(
    *,
    name: str = "",
    kana: str = "",
    birth: str | date | None = "",
    sex: str = "",
    address: str = "",
) -> JukinetQuery:
    """The query for these items, or ``NarrowQuery`` when the rule forbids it.

    Needed: 氏名 (``name`` as written, or ``kana``, or both), 生年月日 and 住所 with its
    番地 (or 無番地); 性別 is optional (without it, the 3-item query). ``birth`` is a
    ``date`` or any form ``services.jp.parse_date`` reads. A value that is there but
    cannot be read (a date that does not exist, 性別 other than 男/女) is ``BadInput``.
    """
    name_t, kana_t = _text(name, NAME), _text(kana, "振り仮名")
    address_t = _text(address, ADDRESS)
    birth_given = isinstance(birth, date) or bool((birth or "").strip())
    missing = tuple(label for label, present in (
        (NAME, _given(name_t) or _given(kana_t)),
        (BIRTH, birth_given),
        (ADDRESS, _given(address_t)),
    ) if not present)
    if missing:
        raise NarrowQuery(
            f"{RULE}足りない項目: {'・'.join(missing)}。{NOT_SENT}", missing, "narrow_query",
        )
    if not _ADDRESS_NUMBER.search(normalize_address(address_t)):
        raise NarrowQuery(
            f"{RULE}住所は番地 (または無番地) まで入力してください。町名や市区町村名だけの"
            f"住所では照会できません。{NOT_SENT}", (), "address_without_number",
        )
    birth_d = birth if isinstance(birth, date) else parse_date(str(birth), field=BIRTH)
    if birth_d > today_in_japan():
        raise BadInput("生年月日: 未来の日付は照会できません。")
    sex_t = unicodedata.normalize("NFKC", (sex or "").strip())
    if sex_t and sex_t not in _SEXES:
        raise BadInput("性別: 男 または 女 を入力してください (3情報で照会するときは空欄)。")
    return JukinetQuery(
        name=name_t, kana=kana_t, birth=birth_d, sex=_SEXES.get(sex_t, ""), address=address_t,
    )


# --- the answer ---------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One person 住基ネット found: the 本人確認情報 and the 個人番号.

    ``number`` is the whole number (12 digits, check digit valid) so that the clerk can put
    it on the draft; show ``number_masked``. It is left out of ``repr`` so that a log line
    or a traceback never carries it.

    ``restricted``: the candidate is a resident of ours under DV等支援措置 (same 住民票コード).
    To a reader without the DV permission such a candidate is ``withheld``
    (``services.restricted``): the name only — no reading, date of birth, sex, address,
    code or number (``birth_date`` None, the rest ""), so it cannot be put on a draft.
    """

    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({"name"})

    name: str
    kana: str
    birth_date: date | None  # None only when withheld
    sex: str
    address: str
    resident_code: str
    number: str = field(repr=False)
    restricted: bool = False
    withheld: bool = False

    # A masked property, alike in shape to the inspection view's label (declarations).
    @property
    def number_masked(self) -> str:
        return mask_my_number(self.number)


@dataclass(frozen=True)
class JukinetAnswer:
    """What 住基ネット answered: none, one or several candidates."""

    query: JukinetQuery
    candidates: tuple[Candidate, ...]
    elapsed_seconds: float

    @property
    def items(self) -> str:
        return self.query.items


class _Malformed(Exception):
    pass


def _field(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise _Malformed(key)
    return value


def _candidate(raw: Any) -> Candidate:
    if not isinstance(raw, dict):
        raise _Malformed("candidate")
    try:
        birth = date.fromisoformat(_field(raw, "birth"))
    except ValueError as exc:
        raise _Malformed("birth") from exc
    number = _field(raw, "number")
    if not is_valid_my_number(number):
        raise _Malformed("number")
    sex = _field(raw, "sex")
    if sex not in ("男", "女"):
        raise _Malformed("sex")
    name = _field(raw, "name")
    if not name.strip():
        raise _Malformed("name")
    return Candidate(
        name=name, kana=_field(raw, "kana"), birth_date=birth, sex=sex,
        address=_field(raw, "address"), resident_code=_field(raw, "resident_code"),
        number=number,
    )


def _parse_answer(body: Any) -> tuple[Candidate, ...]:
    """The candidates in an answer body ({"candidates": [...]}); ``_Malformed`` otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get("candidates"), list):
        raise _Malformed("body")
    return tuple(_candidate(c) for c in body["candidates"])


# --- the client ---------------------------------------------------------------------


def _scrub(text: str) -> str:
    """A typed value for the trail: a 12-digit run (a number typed into the wrong field)
    masked, so the trail never holds a whole 個人番号."""
    return mask_my_numbers(text)


def _sent(q: JukinetQuery) -> dict[str, str]:
    return {k: _scrub(v) for k, v in q.payload().items()}


def _items_given(name: str, kana: str, birth: Any, sex: str, address: str) -> list[str]:
    labels = []
    if (name or "").strip() or (kana or "").strip():
        labels.append(NAME)
    if isinstance(birth, date) or (birth or "").strip():
        labels.append(BIRTH)
    if (sex or "").strip():
        labels.append(SEX)
    if (address or "").strip():
        labels.append(ADDRESS)
    return labels


@dataclass(frozen=True)
class _Draft:
    id: int
    status: str
    version: int
    resident_id: int
    restricted: bool


def _draft(s: Session, proposal_id: int | None) -> _Draft | None:
    if proposal_id is None:
        return None
    row = s.exec(
        select(LinkProposal, Resident)
        .join(Resident, Resident.id == LinkProposal.resident_id)  # type: ignore[arg-type]
        .where(LinkProposal.id == proposal_id)
    ).first()
    if row is None:
        raise NotFound(f"申請 #{proposal_id} が見つかりません。")
    p, r = row
    return _Draft(proposal_id, p.status, p.version, p.resident_id, bool(r.dv_support))


def _kept(draft: _Draft | None) -> str:
    """The closing sentence of a failure: what became of the proposal (nothing)."""
    if draft is None:
        return "時間をおいて、もう一度照会してください。"
    if draft.status == DRAFT:
        return f"申請 #{draft.id} は下書きのまま保存されています。"
    state = STATUS_LABELS.get(draft.status, draft.status)
    return f"申請 #{draft.id} ({state}) は変更されていません。"


def _seconds(value: float) -> str:
    return f"{value:g}"


def endpoint(settings: Settings) -> httpx.URL:
    """``<jukinet_url>query``; ``JukinetUnavailable`` (config) when the URL is unusable."""
    raw = (settings.jukinet_url or "").strip()
    try:
        base = httpx.URL(raw if raw.endswith("/") else raw + "/")
    except (httpx.InvalidURL, TypeError):
        base = None
    if base is None or base.scheme not in ("http", "https") or not base.host:
        raise JukinetUnavailable(
            "住基ネット (市町村CS) の接続先が正しく設定されていません (設定 jukinet_url)。"
            "システム管理者に連絡してください。", "config",
        )
    return base.join("query")


def _query(name: str, kana: str, birth: str | date | None, sex: str, address: str,
           base: dict[str, Any]) -> JukinetQuery:
    """``build_query``, its refusals recorded with the items given (never their values)."""
    given = _items_given(name, kana, birth, sex, address)
    try:
        return build_query(name=name, kana=kana, birth=birth, sex=sex, address=address)
    except NarrowQuery as exc:
        raise gate.Refusal(exc.message, exc.reason, raising=exc, **base,
                           missing=list(exc.missing), given=given) from None
    except BadInput as exc:  # nothing sent; the refusal is recorded like any other
        raise gate.Refusal(exc.message, "bad_input", severity="info", raising=exc, **base,
                           message=exc.message, given=given) from None


def query_jukinet(
    db: Database,
    settings: Settings,
    ident: Identity,
    *,
    name: str = "",
    kana: str = "",
    birth: str | date | None = "",
    sex: str = "",
    address: str = "",
    proposal_id: int | None = None,
) -> JukinetAnswer:
    """Ask 住基ネット who matches these items; the candidates, with their 個人番号.

    Refused (recorded, nothing sent) without LINK_PROPOSE or when the query is narrower
    than the 4 / 3 items (``NarrowQuery``); BadInput (recorded, nothing sent) for a value
    that cannot be read; NotFound for an unknown ``proposal_id``. ``JukinetUnavailable``
    (recorded) on a timeout, no connection, an HTTP error or an unreadable answer.
    ``proposal_id`` ties the query to the draft it serves, in the trail only: the
    proposal is never changed here, whatever happens.
    """
    with gate.act(db, ident, ACTION, perm=Perm.LINK_PROPOSE, what="住基ネットへの照会",
                  target=f"proposal:{proposal_id}" if proposal_id is not None else "jukinet",
                  purpose=PURPOSE, write=False) as a:
        draft = _draft(a.s, proposal_id)
        base: dict[str, Any] = {}
        severity = "info"
        if draft is not None:
            a.target = f"resident:{draft.resident_id}"
            base = {"proposal": draft.id, "proposal_status": draft.status,
                    "proposal_version": draft.version}
            severity = "high" if draft.restricted else "info"
        q = _query(name, kana, birth, sex, address, base)
    target = a.target

    def _failed(details: dict[str, Any]) -> None:
        record_alone(db, ident.actor, ACTION, target=target, purpose=PURPOSE,
                     outcome="failure", severity="warning", details={**base, **details})

    try:
        url = endpoint(settings)
    except JukinetUnavailable as exc:
        _failed({"items": q.items, "reason": exc.reason})
        raise JukinetUnavailable(exc.message + _kept(draft), exc.reason) from None
    timeout = max(0.1, float(settings.jukinet_timeout_seconds))
    sent = {"items": q.items, "sent": _sent(q), "endpoint": str(url)}

    def _fail(reason: str, message: str, **extra: Any) -> JukinetUnavailable:
        _failed({**sent, "reason": reason,
                 "elapsed_ms": round((time.perf_counter() - t0) * 1000), **extra})
        return JukinetUnavailable(f"{message}{_kept(draft)}", reason)

    t0 = time.perf_counter()
    try:
        with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
            resp = client.post(url, json=q.payload(), headers={"Accept": "application/json"})
            status = resp.status_code
            body_bytes = resp.content
    except httpx.TimeoutException as exc:
        raise _fail("timeout", f"住基ネットが応答しません ({_seconds(timeout)}秒でタイムアウト)。"
                    ) from exc
    except httpx.HTTPError as exc:
        where = url.host + (f":{url.port}" if url.port else "")
        raise _fail("connect", f"住基ネット (市町村CS) に接続できません ({where})。"
                    "回線と設定 jukinet_url を確かめてください。",
                    error=type(exc).__name__) from exc
    if status >= 500:
        raise _fail("http", f"住基ネットがエラーを返しました (HTTP {status})。", status=status)
    if status != 200:
        said = _server_message(resp)
        raise _fail("rejected", f"住基ネットが照会を受け付けませんでした (HTTP {status}"
                    f"{': ' + said if said else ''})。", status=status)
    try:
        candidates = _parse_answer(json.loads(body_bytes))
    except (ValueError, _Malformed) as exc:
        raise _fail("malformed", "住基ネットの応答を読み取れませんでした。",
                    part=str(exc) if isinstance(exc, _Malformed) else "json") from None
    elapsed = time.perf_counter() - t0
    with gate.act(db, ident, ACTION, perm=None, what="住基ネットへの照会", target=target,
                  purpose=PURPOSE) as done:
        candidates = _marked(done.s, candidates)
        shown = tuple(withheld(c, may_see=done.holds(Perm.OPEN_RESTRICTED))
                      for c in candidates)
        restricted = any(c.restricted for c in candidates)
        done.record(severity="high" if restricted else severity, details={
            **base, **sent, "candidates": len(candidates),
            "numbers": [c.number_masked for c in candidates],
            "restricted": restricted,
            "withheld": sum(c.withheld for c in shown),
            "elapsed_ms": round(elapsed * 1000),
        })
    return JukinetAnswer(query=q, candidates=shown, elapsed_seconds=elapsed)


def _marked(s: Session, candidates: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
    """The candidates, each marked ``restricted`` when its 住民票コード is a resident of ours
    under DV等支援措置: the query is then recorded with high severity, as any look at such
    a record is (docs/domain.md §7), and the candidate is withheld from a reader without the
    DV permission."""
    codes = [c.resident_code for c in candidates if c.resident_code]
    if not codes:
        return candidates
    dv = set(s.exec(select(Resident.resident_code).where(
        Resident.resident_code.in_(codes),  # type: ignore[attr-defined]
        Resident.dv_support == True,  # noqa: E712 - SQL comparison
    )).all())
    return tuple(replace(c, restricted=c.resident_code in dv) for c in candidates)


def _server_message(resp: httpx.Response) -> str:
    try:
        said = resp.json().get("error", "")
    except (ValueError, AttributeError):
        return ""
    return clean_line(str(said))[:200] if said else ""
