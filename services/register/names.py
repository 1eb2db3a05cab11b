"""Name, town and place tables for the synthetic register (TSV files in ``data/``).

The lists were written by hand for this project from general knowledge of Japanese
name frequencies; they are not copied from a dataset. Surname weights follow the
rough number of bearers in Japan by rank; given-name weights fall with rank within
a birth era, so 佐藤 and 鈴木 are common and 𠮷田 or 國分 rare, and a woman born in
1930 is more likely キヨ or 幸子 than 陽葵. Variant-kanji surnames (髙橋, 渡邉, 山﨑 …)
carry a small share beside their standard form, and some surnames have two readings
(山崎 ヤマザキ / ヤマサキ). Everything here is pure data: no database, no randomness.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Generic, TypeVar

T = TypeVar("T")

ERAS = ("old", "showa", "new")
SHOWA_POSTWAR = date(1946, 1, 1)
HEISEI = date(1989, 1, 8)


@dataclass(frozen=True)
class Reading:
    """A name as written and its katakana reading."""

    name: str
    kana: str
    weight: int


@dataclass(frozen=True)
class Surname(Reading):
    note: str = ""  # 異体字 for a variant form
    standard: str = ""  # the standard form of a variant (髙橋 → 高橋)


@dataclass(frozen=True)
class Nationality:
    name: str
    weight: int
    script: str  # kanji | latin


@dataclass(frozen=True)
class Town:
    name: str
    kana: str
    chome: int  # number of 丁目; 0 = none
    kind: str  # chome | banchi | mubanchi
    weight: int


@dataclass(frozen=True)
class Place:
    place: str  # 県 + 市区町村
    town: str
    near: bool
    weight: int


class Weighted(Generic[T]):
    """Draws items by weight with one bisect per draw (fast enough for 50,000 people)."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if not items or len(items) != len(weights):
            raise ValueError("重み付きの候補が空か、重みの数が合いません。")
        self.items = list(items)
        self._cum = list(itertools.accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self._cum, rng.random() * self._total)]


def _rows(filename: str) -> list[dict[str, str]]:
    """TSV rows as dicts: lines starting with # are comments, the first other is the header."""
    text = resources.files(__package__).joinpath("data", filename).read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:]]


def era_for_birth(birth: date) -> str:
    """The given-name era group: old (before 1946), showa (1946–平成), new (平成・令和)."""
    if birth < SHOWA_POSTWAR:
        return "old"
    return "showa" if birth < HEISEI else "new"


@cache
def surnames() -> tuple[Surname, ...]:
    return tuple(
        Surname(r["surname"], r["kana"], int(r["weight"]), r["note"], r["standard"])
        for r in _rows("surnames.tsv")
    )


@cache
def given_names(era: str, sex: str) -> tuple[Reading, ...]:
    """Given names of one era group for sex 男 or 女 (M / F in the file)."""
    code = {"男": "M", "女": "F"}.get(sex, sex)
    return tuple(
        Reading(r["name"], r["kana"], int(r["weight"]))
        for r in _rows("given_names.tsv")
        if r["era"] == era and r["sex"] == code
    )


@cache
def nationalities() -> tuple[Nationality, ...]:
    return tuple(
        Nationality(r["nationality"], int(r["weight"]), r["script"])
        for r in _rows("nationalities.tsv")
    )


@cache
def foreign_names(nationality: str, part: str) -> tuple[Reading, ...]:
    """part: family, or 男 / 女 (M / F) for given names."""
    code = {"男": "M", "女": "F"}.get(part, part)
    return tuple(
        Reading(r["name"], r["kana"], 1)
        for r in _rows("foreign_names.tsv")
        if r["nationality"] == nationality and r["part"] == code
    )


@cache
def residence_statuses(nationality: str) -> tuple[tuple[str, int], ...]:
    """(在留資格, weight) drawn for a person of this 国籍・地域 heading a household."""
    return tuple(
        (r["status"], int(r["weight"]))
        for r in _rows("residence_statuses.tsv")
        if r["nationality"] == nationality
    )


@cache
def towns() -> tuple[Town, ...]:
    return tuple(
        Town(r["town"], r["kana"], int(r["chome"]), r["kind"], int(r["weight"]))
        for r in _rows("towns.tsv")
    )


@cache
def places() -> tuple[Place, ...]:
    return tuple(
        Place(r["place"], r["town"], r["near"] == "1", int(r["weight"]))
        for r in _rows("places.tsv")
    )


def known_readings() -> dict[str, set[tuple[str, str]]]:
    """Every (name, kana) pair the tables allow, by kind: surname, given, foreign."""
    out: dict[str, set[tuple[str, str]]] = {"surname": set(), "given": set(), "foreign": set()}
    out["surname"] = {(s.name, s.kana) for s in surnames()}
    out["given"] = {
        (g.name, g.kana) for era in ERAS for sex in ("男", "女") for g in given_names(era, sex)
    }
    out["foreign"] = {
        (f.name, f.kana)
        for n in nationalities()
        for part in ("family", "男", "女")
        for f in foreign_names(n.name, part)
    }
    return out
