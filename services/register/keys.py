"""Search keys: the normalised forms stored beside each resident, and the query's forms.

One function, ``resident_keys``, computes every key column of ``resident`` from the
columns as written; the seeder (and any later writer of residents) calls it, and the
search normalises what the clerk typed with the same rules (``services.jp``), so a
typed value and a stored value meet in one B-tree index.

Key columns (all collate "C" on PostgreSQL, so a prefix is one index range in code-point
order on both backends):

* ``family_key``, ``given_key``, ``name_key`` — 氏, 名 and 氏+名 through
  ``normalize_name`` (width, spaces, hiragana → katakana, 異体字 folded: 髙橋 → 高橋),
  ASCII letters upper-cased. Matching: a name part is a PREFIX of ``name_key`` (which
  also covers a prefix of the 氏) or of ``given_key``; 「氏 名」 typed with a space is
  a prefix of ``family_key`` and of ``given_key``.
* ``name_exact``, ``given_exact`` — the same through ``name_exact_key`` (variants kept),
  to tell an exact match (髙橋 → 髙橋) from a variant one (高橋 → 髙橋).
* ``family_kana_key``, ``given_kana_key``, ``kana_key`` — readings through
  ``normalize_kana`` (width, hiragana = katakana, spaces out, small kana as large).
  Voicing and long vowels are NOT folded (ヤマサキ ≠ ヤマザキ), as in ``services.jp.kana``.
* ``kana_exact``, ``given_kana_exact`` — readings with small kana kept, so キャ typed
  against a reading stored as キヤ counts as a variant (小書き), not an exact match.
* ``address_key`` — ``normalize_address`` of the in-city address WITHOUT 方書
  (「若葉町二丁目3番地5号」 → "若葉町2-3-5"); ``block_key`` — only its 丁目-番地-号 part
  ("2-3-5"), so a clerk may type the block without the town.

Keys are computed per part and cached: names and addresses repeat, and the seeder
fills a million rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlmodel import SQLModel

from services.jp import (
    is_kana,
    name_exact_key,
    normalize_address,
    normalize_kana,
    normalize_name,
)
from services.register.models import CITY, PREFECTURE, format_address

KEY_COLUMNS = (
    "family_key", "given_key", "name_key", "name_exact", "given_exact",
    "family_kana_key", "given_kana_key", "kana_key", "kana_exact", "given_kana_exact",
    "address_key", "block_key",
)

# One character above every other: ``key >= q AND key < q + TOP`` is "key starts with q"
# in code-point order (SQLite BINARY, PostgreSQL collate "C").
TOP = "\U0010ffff"

_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPACES = re.compile(r"\s+")


def name_fold(text: str) -> str:
    """The variant-folded key of a name or name part (高橋 for 髙橋, ササキ for ささき)."""
    return normalize_name(text).translate(_ASCII_UPPER)


def name_exact(text: str) -> str:
    """The exact key of a name or name part: width and kana folded, kanji as written."""
    return name_exact_key(text).translate(_ASCII_UPPER)


def kana_fold(text: str) -> str:
    """The reading key: katakana, no spaces, small kana as large (キャ → キヤ)."""
    return normalize_kana(text).translate(_ASCII_UPPER)


def kana_exact(text: str) -> str:
    """The reading with small kana kept (キャ stays キャ); used only to rank exactness."""
    return name_exact_key(text).translate(_ASCII_UPPER)


def _strip_city(key: str) -> str:
    """Drop a leading 青葉県 / 若葉市 typed before the in-city address."""
    for head in (normalize_address(PREFECTURE), normalize_address(CITY)):
        if key.startswith(head):
            key = key[len(head):]
    return key


@lru_cache(maxsize=4096)
def _name_part(text: str) -> tuple[str, str]:
    return name_fold(text), name_exact(text)


@lru_cache(maxsize=4096)
def _kana_part(text: str) -> tuple[str, str]:
    return kana_fold(text), kana_exact(text)


@lru_cache(maxsize=64)
def _town_key(town: str) -> str:
    return normalize_address(town)


@lru_cache(maxsize=65536)
def _address(town: str, chome: int | None, banchi: int | None, go: int | None) -> tuple[str, str]:
    key = normalize_address(format_address(town, chome, banchi, go))
    town_key = _town_key(town)
    block = key[len(town_key):] if key.startswith(town_key) else key
    return key, block


def resident_keys(row: Mapping[str, Any] | SQLModel) -> dict[str, str]:
    """Every key column for a resident row (a dict or a model with the same names).

    Needs family_name, given_name, family_kana, given_kana, town, chome, banchi, go.
    """
    get = row.get if isinstance(row, Mapping) else lambda k: getattr(row, k)
    fam, fam_x = _name_part(get("family_name"))
    giv, giv_x = _name_part(get("given_name"))
    fkana, fkana_x = _kana_part(get("family_kana"))
    gkana, gkana_x = _kana_part(get("given_kana"))
    address, block = _address(get("town"), get("chome"), get("banchi"), get("go"))
    return {
        "family_key": fam, "given_key": giv, "name_key": fam + giv,
        "name_exact": fam_x + giv_x, "given_exact": giv_x,
        "family_kana_key": fkana, "given_kana_key": gkana, "kana_key": fkana + gkana,
        "kana_exact": fkana_x + gkana_x, "given_kana_exact": gkana_x,
        "address_key": address, "block_key": block,
    }


# --- the query side ---------------------------------------------------------------


@dataclass(frozen=True)
class NameQuery:
    """A typed name, normalised. ``family``/``given`` are set when typed as 「氏 名」."""

    kana: bool
    fold: str  # the whole part (no space) as a search key
    exact: str  # the same, variants kept
    family: str = ""
    given: str = ""
    family_exact: str = ""
    given_exact: str = ""

    @property
    def split(self) -> bool:
        return bool(self.family and self.given)

    @property
    def display(self) -> str:
        """What is recorded: the key, with the space between 氏 and 名 when typed."""
        return f"{self.family} {self.given}" if self.split else self.fold


def name_query(text: str) -> NameQuery | None:
    """Read a typed 氏名 (kanji or kana, whole or part); None when nothing is left.

    Kana-only text is a reading (searched in the 振り仮名 keys); anything else is a
    name as written. A space (full or half width) separates 氏 from 名; more words go
    to 名 (foreign names).
    """
    words = [w for w in _SPACES.split(unicodedata.normalize("NFKC", text or "")) if w]
    if not words:
        return None
    kana = is_kana(" ".join(words))
    fold, exact = (kana_fold, kana_exact) if kana else (name_fold, name_exact)
    whole = "".join(words)
    if not fold(whole):
        return None
    if len(words) >= 2:
        family, given = words[0], "".join(words[1:])
        return NameQuery(
            kana, fold(whole), exact(whole), fold(family), fold(given),
            exact(family), exact(given),
        )
    return NameQuery(kana, fold(whole), exact(whole))


@dataclass(frozen=True)
class AddressQuery:
    """A typed address part, normalised.

    ``key`` is matched against ``block_key`` when ``block`` (only numbers were typed:
    "2-1-2", 「二丁目一番地二号」), else against ``address_key``. When ``key`` ends in a
    number it matches at a number boundary: "若葉町2-1" finds 2-1 and 2-1-5, not 2-12.
    """

    key: str
    block: bool
    numbered: bool


_TRAILING_UNIT = re.compile(r"(?<=[0-9])(?:丁目|丁|番地の|番地|番の|番|号|の)?-*$")
_BLOCK = re.compile(r"[0-9][0-9-]*|無番地")


def address_query(text: str) -> AddressQuery | None:
    """Read a typed address part; None when nothing is left.

    A leading 青葉県 / 若葉市 is dropped; 「若葉町二丁目」 becomes "若葉町2" matched at
    a number boundary; 方書 (building, room) is not searched.
    """
    key = _strip_city(normalize_address(text or ""))
    key = _TRAILING_UNIT.sub("", key).rstrip("-") if key else key
    if not key:
        return None
    return AddressQuery(
        key=key, block=bool(_BLOCK.fullmatch(key)), numbered=key[-1].isdigit(),
    )
