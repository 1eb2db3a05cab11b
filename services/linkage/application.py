"""What a linkage proposal is made of, as the clerk typed it: the choices it offers (source,
the documents of 本人確認), the application items, and the checks that read them
(docs/domain.md, "My Number").

Reading only: a value that cannot be used is ``BadInput`` naming its field; nothing here
touches the database. ``incomplete`` says what a proposal still lacks for the queue.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from core.errors import BadInput
from core.freetext import field_text
from services.jp import parse_date
from services.linkage.models import KIND_UNLINK, LinkProposal
from services.register.mynumber import is_valid_my_number, normalize_my_number

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

# Field limits, as the columns hold them.
REFERENCE_MAX, NOTE_MAX = 120, 400


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


NO_APPLICATION = Application()  # a draft's default: nothing written yet


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


def clean(text: str, label: str, limit: int) -> str:
    """A free-text field on one line within ``limit`` (``core.freetext``)."""
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


def parse_source(text: str) -> str:
    value = (text or "").strip()
    if value and value not in SOURCES:
        raise BadInput(f"取得元: {'、'.join(SOURCES)} のいずれかを選んでください。")
    return value


def parse_number_check(text: str) -> str:
    value = (text or "").strip()
    if value and value not in NUMBER_CHECK_DOCS:
        raise BadInput(f"番号確認: {'、'.join(NUMBER_CHECK_DOCS)} のいずれかを選んでください。")
    return value


def identity_json(docs: Iterable[str]) -> str:
    """The 身元確認 documents chosen, each once, as the column stores them (JSON)."""
    out: list[str] = []
    for doc in docs:
        value = (doc or "").strip()
        if not value:
            continue
        if value not in IDENTITY_DOCS:
            raise BadInput(f"身元確認: 「{value}」は選べる書類ではありません。")
        if value not in out:
            out.append(value)
    return json.dumps(out, ensure_ascii=False)


def identity_list(p: LinkProposal) -> tuple[str, ...]:
    return tuple(json.loads(p.identity_checks or "[]"))


def identity_problem(number_check: str, identity_checks: Sequence[str]) -> str | None:
    """Why the identity checks do not suffice for submission, or None."""
    if not number_check:
        return "番号確認: 確認に使った書類を選んでください。"
    if not identity_checks:
        return "身元確認: 確認に使った書類を選んでください。"
    if not any(d in PHOTO_ID_DOCS for d in identity_checks) and len(identity_checks) < 2:
        return "身元確認: 顔写真付きの書類1点、または顔写真のない書類2点が必要です。"
    return None


APPLICATION_COLUMNS = ("app_name", "app_kana", "app_birth", "app_sex", "app_address")


def set_application(p: LinkProposal, app: Application) -> None:
    """The application items read into the proposal's columns (BadInput naming one)."""
    p.app_name = clean(app.name, "氏名 (申請書)", 130)
    p.app_kana = clean(app.kana, "振り仮名 (申請書)", 130)
    p.app_birth = _parse_birth(app.birth)
    p.app_sex = _parse_sex(app.sex)
    p.app_address = clean(app.address, "住所 (申請書)", 240)


def incomplete(p: LinkProposal) -> str | None:
    """The first thing a proposal still lacks for submission, or None."""
    if p.kind == KIND_UNLINK:
        return None if p.note.strip() else "解除の理由: 入力してください。"
    if not p.number:
        return "個人番号: 入力してください (提出には必要です)。"
    if not p.source:
        return "取得元: 選んでください (提出には必要です)。"
    problem = identity_problem(p.number_check, identity_list(p))
    if problem:
        return problem
    missing = [label for label, value in (
        ("氏名", p.app_name), ("生年月日", p.app_birth), ("性別", p.app_sex),
        ("住所", p.app_address),
    ) if not value]
    if missing:
        return f"申請書の{'・'.join(missing)}: 申請書に書かれたとおりに入力してください。"
    return None
