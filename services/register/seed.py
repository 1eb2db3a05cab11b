"""The synthetic demo register: a fictional city (青葉県若葉市) of households and residents.

Deterministic for a seed: the same ``seed`` and size give the same rows, byte for byte,
on SQLite and PostgreSQL (the reference date is fixed, not today). Rows are built in
Python first (``build_register``) and written with SQLAlchemy Core executemany in
batches, inside one write transaction that also records one ``register.seed`` audit
event; 50,000 residents take a few seconds.

What the register holds, roughly as in a real city of this size: households of 1–6
(many singles), a head per household with 続柄; ages from 明治 to 令和 (at least one
明治-born and two 大正-born centenarians are always planted when there are 100 people or
more, so era handling has something to show); about 3% foreign residents with 国籍・地域,
在留資格, 在留期間 and 在留カード番号; about 3% 消除 records (転出, 死亡) that are kept;
about 0.2% DV等支援措置 flags; an 異動履歴 for everyone; a valid, unique My Number for
nearly everyone. About 0.5% of residents who arrived after the number system started
are left without a linked number, so the linkage workflow has work to show.

Seeding refuses (BadInput, CLI exit 2) when the register already has residents: the
demo data is for an empty register, and appending would mix fictional and real records.

One file, longer than most, because it is one concern: one generator whose parts draw
from one random stream in a fixed order (households, then their members, then the
foreign residents, removals, flags and numbers). Split across files the order that
makes a seed reproduce byte for byte would be a contract between modules; here it is
read top to bottom. The names and weights it draws from are in ``services.register.names``.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy import Table as SATable

from core.actor import Actor
from core.db import Database, table
from core.errors import BadInput
from services import gate
from services.register import names
from services.register.keys import resident_keys

# The names the seeder and the importer both write (a pair of import lists).
from services.register.models import (
    CITY,
    HEAD,
    PREFECTURE,
    STATUS_REMOVED,
    STATUS_RESIDENT,
    Household,
    MyNumberLink,
    Resident,
    ResidentChange,
    format_address,
    kanji_number,
)
from services.register.mynumber import my_number_check_digit

REFERENCE_DATE = date(2025, 11, 1)  # 令和7年11月1日, the reference city's count date
MY_NUMBER_START = date(2015, 10, 5)  # numbers were first assigned (番号法 施行)
MAX_RESIDENTS = 1_000_000
BATCH = 5000

FOREIGN_HOUSEHOLD_SHARE = 0.032
MIXED_COUPLE_SHARE = 0.012  # Japanese couples with a foreign spouse (日本人の配偶者等)
REMOVED_SHARE = 0.03
DV_SHARE = 0.002
UNLINKED_SHARE = 0.005

HOUSEHOLD_SIZES = names.Weighted([1, 2, 3, 4, 5, 6], [38, 28, 16, 12, 4, 2])
PERMANENT_SIZES = names.Weighted([1, 2, 3, 4, 5], [30, 25, 20, 18, 7])
SHORT_STAY = ("技能実習", "特定技能", "留学")
PERMANENT = ("永住者", "特別永住者", "定住者")
STAY_YEARS = {
    "技能実習": 1, "特定技能": 1, "留学": 2, "家族滞在": 3, "日本人の配偶者等": 3,
    "定住者": 3, "技術・人文知識・国際業務": 5, "技能": 3, "経営・管理": 3,
    "高度専門職": 5, "教育": 3, "教授": 5,
}
MIXED_SPOUSE_NATIONALITIES = names.Weighted(
    ["中国", "フィリピン", "韓国", "タイ", "ブラジル", "米国", "ベトナム"],
    [30, 28, 15, 8, 6, 6, 7],
)
BUILDING_PREFIX = ("コーポ", "ハイツ", "メゾン", "レジデンス", "パレス", "サンハイム", "グランド")
BUILDING_STEM = ("若葉", "さくら", "みどり", "ひかり", "あおば", "つばき", "リバーサイド", "サニー")
CARE_HOME = ("青葉台", 5, 12, 1, "特別養護老人ホーム若葉苑")
DORM = "若葉精工 第二寮"
CHILDREN = ("子", "孫")
SPOUSES = ("妻", "夫", "妻(未届)", "夫(未届)", "子の妻", "子の夫")


def _age_weight(age: int) -> float:
    """Relative number of people of this age in a Japanese city (2020s pyramid, rounded)."""
    bands = (
        (5, 0.65), (10, 0.8), (15, 0.85), (20, 0.88), (35, 1.0), (40, 1.1), (45, 1.25),
        (55, 1.5), (60, 1.3), (65, 1.2), (70, 1.15), (75, 1.45), (80, 1.25), (85, 0.9),
        (90, 0.6), (95, 0.28), (100, 0.08), (105, 0.012), (111, 0.001),
    )
    for upper, weight in bands:
        if age < upper:
            return weight
    return 0.0


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def _years_after(d: date, years: int) -> date:
    return _years_before(d, -years)


@dataclass(slots=True)
class _Person:
    sex: str
    birth: date
    relationship: str
    family: names.Reading
    given: names.Reading
    id: int = 0
    nationality: str = ""
    residence_status: str = ""
    alias: str = ""
    alias_kana: str = ""
    honseki: str = ""
    honseki_head: str = ""
    origin: str = "出生"  # 出生 or 転入
    became: date = REFERENCE_DATE
    joined: date = REFERENCE_DATE  # 住所を定めた年月日
    notified: date | None = None
    previous_address: str = ""
    household_change_from: str = ""  # set when the person joined from another household
    removed_on: date | None = None
    removal_reason: str = ""
    moved_to: str = ""
    dv: bool = False
    corrected_katagaki: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.family.name} {self.given.name}"


@dataclass(slots=True)
class _Household:
    id: int
    no: str
    members: list[_Person]
    native: bool
    foreign: bool = False
    moved_in: date | None = None
    address_set: date = REFERENCE_DATE
    previous_address: str = ""
    old_address: str = ""
    town: str = ""
    chome: int | None = None
    banchi: int | None = None
    go: int | None = None
    katagaki: str = ""

    @property
    def address(self) -> str:
        return format_address(self.town, self.chome, self.banchi, self.go, self.katagaki)

    @property
    def head(self) -> _Person:
        return self.members[0]


@dataclass
class RegisterRows:
    """Rows for the four tables, as dicts keyed by column name, ready for executemany."""

    households: list[dict[str, Any]] = field(default_factory=list)
    residents: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        res = self.residents
        return {
            "residents": len(res),
            "households": len(self.households),
            "removed": sum(1 for r in res if r["status"] == STATUS_REMOVED),
            "foreign": sum(1 for r in res if r["is_foreign"]),
            "dv_support": sum(1 for r in res if r["dv_support"]),
            "changes": len(self.changes),
            "my_number_links": len(self.links),
        }


class _Builder:
    def __init__(self, seed: int, as_of: date) -> None:
        self.rng = random.Random(f"juki-register-{seed}")
        self.as_of = as_of
        sn = names.surnames()
        self.surnames = names.Weighted(sn, [s.weight for s in sn])
        self.given = {
            (era, sex): names.Weighted(g, [x.weight for x in g])
            for era in names.ERAS
            for sex in ("男", "女")
            for g in [names.given_names(era, sex)]
        }
        ts = [t for t in names.towns() if t.kind != "mubanchi"]
        self.towns = names.Weighted(ts, [t.weight for t in ts])
        self.mubanchi = next(t for t in names.towns() if t.kind == "mubanchi")
        ps = names.places()
        self.near = names.Weighted([p for p in ps if p.near], [p.weight for p in ps if p.near])
        self.far = names.Weighted(
            [p for p in ps if not p.near], [p.weight for p in ps if not p.near]
        )
        nats = names.nationalities()
        self.nationalities = names.Weighted(nats, [n.weight for n in nats])
        self.script = {n.name: n.script for n in nats}
        self.statuses = {
            n.name: names.Weighted(
                [s for s, _ in names.residence_statuses(n.name)],
                [w for _, w in names.residence_statuses(n.name)],
            )
            for n in nats
        }
        self.foreign_parts = {
            (n.name, part): names.Weighted(rows, [1] * len(rows))
            for n in nats
            for part in ("family", "男", "女")
            for rows in [names.foreign_names(n.name, part)]
        }
        self._age_tables: dict[tuple[int, int, str], names.Weighted[int]] = {}
        self.codes: set[str] = set()
        self.numbers: set[str] = set()
        self.cards: set[str] = set()

    # --- small draws ---------------------------------------------------------------

    def age(self, lo: int, hi: int, shape: str = "") -> int:
        key = (lo, hi, shape)
        table = self._age_tables.get(key)
        if table is None:
            ages = list(range(lo, hi + 1))
            weights = [_age_weight(a) for a in ages]
            if shape == "single":  # people living alone: many young adults and elderly
                weights = [
                    w * (1.8 if 20 <= a < 35 else 1.9 if a >= 65 else 0.8)
                    for a, w in zip(ages, weights, strict=True)
                ]
            elif shape == "couple":  # two-person households are mostly older couples
                weights = [
                    w * (2.2 if a >= 60 else 1.0) for a, w in zip(ages, weights, strict=True)
                ]
            table = self._age_tables[key] = names.Weighted(ages, weights)
        return table.pick(self.rng)

    def birth_for_age(self, age: int) -> date:
        hi = min(_years_before(self.as_of, age), self.as_of - timedelta(days=1))
        lo = _years_before(self.as_of, age + 1) + timedelta(days=1)
        return self.day_between(lo, hi)

    def day_between(self, lo: date, hi: date) -> date:
        if hi <= lo:
            return lo
        return lo + timedelta(days=self.rng.randrange((hi - lo).days + 1))

    def notify(self, d: date) -> date:
        """届出日: within 14 days of the event, never after the reference date."""
        return min(d + timedelta(days=self.rng.randrange(14)), self.as_of)

    def given_name(self, sex: str, birth: date) -> names.Reading:
        return self.given[(names.era_for_birth(birth), sex)].pick(self.rng)

    def person(
        self, rel: str, sex: str, age: int, family: names.Reading, *, birth: date | None = None
    ) -> _Person:
        birth = birth or self.birth_for_age(max(0, age))
        return _Person(sex, birth, rel, family, self.given_name(sex, birth))

    def foreign_person(
        self, rel: str, sex: str, age: int, nationality: str, status: str,
        family: names.Reading | None = None,
    ) -> _Person:
        fam = family or self.foreign_parts[(nationality, "family")].pick(self.rng)
        given = self.foreign_parts[(nationality, sex)].pick(self.rng)
        p = _Person(sex, self.birth_for_age(max(0, age)), rel, fam, given)
        p.nationality, p.residence_status = nationality, status
        return p

    def code(self) -> str:
        # 住民票コード: the real check digit (総務省告示第436号) is not in our sources, so
        # these are random unique 11 digits, deliberately not the My Number formula.
        while True:
            c = f"{self.rng.randrange(10**11):011d}"
            if c not in self.codes:
                self.codes.add(c)
                return c

    def my_number(self) -> str:
        while True:
            base = f"{self.rng.randrange(10**11):011d}"
            n = base + str(my_number_check_digit(base))
            if n not in self.numbers:
                self.numbers.add(n)
                return n

    def card_number(self) -> str:
        letters = string.ascii_uppercase
        while True:
            c = (
                "".join(self.rng.choice(letters) for _ in range(2))
                + f"{self.rng.randrange(10**8):08d}"
                + "".join(self.rng.choice(letters) for _ in range(2))
            )
            if c not in self.cards:
                self.cards.add(c)
                return c

    def other_address(self, near_share: float = 0.6) -> str:
        p = (self.near if self.rng.random() < near_share else self.far).pick(self.rng)
        if p.town.startswith("大字"):
            return f"{p.place}{p.town}{self.rng.randint(1, 2500)}番地"
        return (
            f"{p.place}{p.town}{self.rng.randint(1, 5)}丁目"
            f"{self.rng.randint(1, 30)}番{self.rng.randint(1, 25)}号"
        )

    def city_address(self) -> str:
        """An earlier address inside the city (for 転居)."""
        hh = _Household(0, "", [], True)
        self.place(hh, apartment_share=0.3)
        return hh.address

    def place(self, hh: _Household, apartment_share: float) -> None:
        t = self.towns.pick(self.rng)
        hh.town = t.name
        if t.chome:
            hh.chome = self.rng.randint(1, t.chome)
            hh.banchi = self.rng.randint(1, 28)
            hh.go = self.rng.randint(1, 25)
        else:
            hh.chome = None
            hh.banchi = self.rng.randint(1, 2800)
            hh.go = self.rng.randint(1, 12) if self.rng.random() < 0.45 else None
        if self.rng.random() < apartment_share:
            floor = self.rng.randint(1, 5)
            hh.katagaki = (
                f"{self.rng.choice(BUILDING_PREFIX)}{self.rng.choice(BUILDING_STEM)} "
                f"{floor}0{self.rng.randint(1, 8)}号室"
            )
        else:
            hh.katagaki = ""

    def spouse_age(self, age: int, wife: bool) -> int:
        delta = round(self.rng.gauss(-2.0 if wife else 2.0, 3.0))
        return max(18, min(104, age + delta))

    # --- households ----------------------------------------------------------------

    def japanese_household(self, size: int) -> list[_Person]:
        rng = self.rng
        fam = self.surnames.pick(rng)
        if size == 1:
            age = self.age(18, 107, "single")
            female = rng.random() < (0.68 if age >= 75 else 0.45)
            return [self.person(HEAD, "女" if female else "男", age, fam)]
        r = rng.random()
        if size == 2:
            if r < 0.62:
                return self.couple(fam, self.age(22, 102, "couple"))
            if r < 0.85:
                return self.single_parent(fam, 1)
            if r < 0.95:
                return self.with_parents(fam, 0, 1)
            return self.flatmates(fam, 2)
        if size == 3 and r < 0.15:
            return self.single_parent(fam, 2)
        if size >= 5 and r < 0.12:
            return self.three_generations_down(fam, size)
        if size >= 4 and r < 0.30:
            parents = 1 if size == 4 or rng.random() < 0.5 else 2
            return self.with_parents(fam, size - 2 - parents, parents)
        members = self.couple(fam, self.age(26, 66))
        return members + self.children(fam, members, size - 2)

    def couple(self, fam: names.Reading, head_age: int) -> list[_Person]:
        rng = self.rng
        male_head = rng.random() < 0.92
        head = self.person(HEAD, "男" if male_head else "女", head_age, fam)
        spouse_age = self.spouse_age(head_age, wife=male_head)
        unregistered = rng.random() < 0.02
        rel = ("妻" if male_head else "夫") + ("(未届)" if unregistered else "")
        sex = "女" if male_head else "男"
        if rng.random() < MIXED_COUPLE_SHARE and 20 <= spouse_age <= 75:
            nat = MIXED_SPOUSE_NATIONALITIES.pick(rng)
            spouse = self.foreign_person(rel, sex, spouse_age, nat, "日本人の配偶者等")
            if rng.random() < 0.4:
                spouse.alias = f"{fam.name} {spouse.given.kana}"
                spouse.alias_kana = f"{fam.kana} {spouse.given.kana}"
            return [head, spouse]
        spouse_family = self.surnames.pick(rng) if unregistered else fam
        return [head, self.person(rel, sex, spouse_age, spouse_family)]

    def children(self, fam: names.Reading, parents: list[_Person], n: int) -> list[_Person]:
        mother = next((p for p in parents if p.sex == "女"), parents[0])
        mother_age = self.age_of(mother)
        kids: list[_Person] = []
        for _ in range(n):
            gap = self.rng.randint(22, 42)
            age = max(0, min(mother_age - gap, mother_age - 16))
            if mother_age - gap < 0:
                age = self.rng.randint(0, max(0, mother_age - 18))
            sex = "男" if self.rng.random() < 0.51 else "女"
            kids.append(self.person("子", sex, age, fam))
        kids.sort(key=lambda k: k.birth)
        return kids

    def single_parent(self, fam: names.Reading, kids: int) -> list[_Person]:
        mother = self.rng.random() < 0.85
        head = self.person(HEAD, "女" if mother else "男", self.age(26, 85), fam)
        return [head, *self.children(fam, [head], kids)]

    def with_parents(self, fam: names.Reading, kids: int, parents: int) -> list[_Person]:
        rng = self.rng
        head_age = self.age(35, 66)
        if kids:
            members = self.couple(fam, head_age)
            members += self.children(fam, members, kids)
        else:
            members = [self.person(HEAD, "男" if rng.random() < 0.5 else "女", head_age, fam)]
        wife_side = (
            len(members) > 1 and members[1].relationship == "妻" and rng.random() < 0.15
        )
        side_family = self.surnames.pick(rng) if wife_side else fam
        father_age = min(106, head_age + rng.randint(24, 36))
        mother_age = max(head_age + 18, father_age - rng.randint(0, 5))
        rels = ("妻の父", "妻の母") if wife_side else ("父", "母")
        if parents == 2:
            members.append(self.person(rels[0], "男", father_age, side_family))
            members.append(self.person(rels[1], "女", mother_age, side_family))
        elif rng.random() < 0.78:
            members.append(self.person(rels[1], "女", mother_age, side_family))
        else:
            members.append(self.person(rels[0], "男", father_age, side_family))
        return members

    def three_generations_down(self, fam: names.Reading, size: int) -> list[_Person]:
        """An older couple, their son, his wife and grandchildren (続柄 子の妻, 孫)."""
        head_age = self.age(58, 84)
        head = self.person(HEAD, "男", head_age, fam)
        wife = self.person("妻", "女", self.spouse_age(head_age, wife=True), fam)
        son_age = max(25, self.age_of(wife) - self.rng.randint(24, 34))
        son = self.person("子", "男", son_age, fam)
        sons_wife = self.person("子の妻", "女", self.spouse_age(son_age, wife=True), fam)
        grandchildren = self.children(fam, [sons_wife], size - 4)
        for g in grandchildren:
            g.relationship = "孫"
        return [head, wife, son, sons_wife, *grandchildren]

    def flatmates(self, fam: names.Reading, n: int) -> list[_Person]:
        age = self.age(20, 45)
        people = [self.person(HEAD, self.rng.choice(("男", "女")), age, fam)]
        for _ in range(n - 1):
            other = self.surnames.pick(self.rng)
            a = max(18, age + self.rng.randint(-5, 5))
            people.append(self.person("同居人", self.rng.choice(("男", "女")), a, other))
        return people

    def foreign_household(self) -> list[_Person]:
        rng = self.rng
        nat = self.nationalities.pick(rng).name
        status = self.statuses[nat].pick(rng)
        if status in SHORT_STAY:
            age = self.age(19, 28) if status == "留学" else self.age(19, 38)
            sex = "男" if rng.random() < 0.58 else "女"
            n = 1 if rng.random() < 0.7 else rng.randint(2, 3)
            people = [self.foreign_person(HEAD, sex, age, nat, status)]
            for _ in range(n - 1):
                a = max(19, age + rng.randint(-4, 4))
                people.append(self.foreign_person("同居人", sex, a, nat, status))
            return people
        shared_family = self.script[nat] == "latin" and nat != "ベトナム"
        if status in PERMANENT:
            size = PERMANENT_SIZES.pick(rng)
            lo = 45 if status == "特別永住者" else 28
            head_age = self.age(lo, 95 if status == "特別永住者" else 75)
            kid_status = status
        else:
            size = 1 if rng.random() < 0.5 else rng.randint(2, 4)
            head_age = self.age(24, 55)
            kid_status = "家族滞在"
        head_sex = "男" if rng.random() < 0.75 else "女"
        head = self.foreign_person(HEAD, head_sex, head_age, nat, status)
        members = [head]
        if size >= 2:
            wife = head_sex == "男"
            spouse_status = kid_status
            members.append(self.foreign_person(
                "妻" if wife else "夫", "女" if wife else "男",
                self.spouse_age(head_age, wife=wife), nat, spouse_status,
                head.family if shared_family else None,
            ))
        if size >= 3:
            m_age = self.age_of(next(p for p in members if p.sex == "女"))
            for _ in range(size - 2):
                age = max(0, min(m_age - rng.randint(22, 40), m_age - 16))
                kid = self.foreign_person(
                    "子", rng.choice(("男", "女")), age, nat, kid_status, head.family
                )
                members.append(kid)
        if status == "特別永住者" and rng.random() < 0.5:
            alias_family = self.surnames.pick(rng)
            for p in members:
                g = self.given_name(p.sex, p.birth)
                p.alias = f"{alias_family.name} {g.name}"
                p.alias_kana = f"{alias_family.kana} {g.kana}"
        return members

    def age_of(self, p: _Person) -> int:
        a = self.as_of.year - p.birth.year
        if (self.as_of.month, self.as_of.day) < (p.birth.month, p.birth.day):
            a -= 1
        return a

    # --- dates of residence ----------------------------------------------------------

    def settle(self, hh: _Household) -> None:
        """Choose when the household arrived and when it moved to its present address."""
        rng, as_of = self.rng, self.as_of
        head = hh.head
        adult = min(_years_after(head.birth, 18), as_of)
        if hh.native:
            lo = min(_years_after(head.birth, 20), as_of)
            hh.address_set = self.day_between(max(lo, head.birth), as_of)
        else:
            if hh.foreign:
                years = {"技能実習": 3, "特定技能": 4, "留学": 2}.get(head.residence_status, 20)
                lo = max(adult, _years_before(as_of, years))
                hh.previous_address = (
                    f"国外（{head.nationality}）"
                    if head.residence_status not in PERMANENT or rng.random() < 0.3
                    else self.other_address()
                )
            else:
                lo = max(adult, date(1970, 1, 1))
                hh.previous_address = self.other_address()
            hh.moved_in = self.day_between(min(lo, as_of), as_of)
            hh.address_set = (
                hh.moved_in if rng.random() < 0.7 else self.day_between(hh.moved_in, as_of)
            )
        hh.old_address = self.city_address()
        for p in hh.members:
            self.arrive(hh, p)

    def arrive(self, hh: _Household, p: _Person) -> None:
        """How and when ``p`` became a resident, and when they settled at this address."""
        rng, as_of = self.rng, self.as_of
        adult = min(_years_after(p.birth, 18), as_of)
        rel = p.relationship
        if p is hh.head:
            if hh.native:
                p.origin, p.became = "出生", p.birth
                if hh.address_set > p.birth:
                    p.household_change_from = "独立"
            else:
                p.origin, p.became = "転入", hh.moved_in or as_of
                p.previous_address = hh.previous_address
            p.joined = max(p.became, hh.address_set)
        elif rel in CHILDREN:
            if hh.native or p.birth >= (hh.moved_in or as_of):
                p.origin, p.became = "出生", p.birth
                p.joined = max(p.birth, hh.address_set)
            else:
                p.origin, p.became = "転入", hh.moved_in or as_of
                p.previous_address = hh.previous_address
                p.joined = hh.address_set
        elif rel in SPOUSES:
            together = hh.address_set if hh.native else (hh.moved_in or as_of)
            if rel.startswith("子の") or adult > together:  # married in later
                together = self.day_between(max(adult, hh.address_set), as_of)
            if hh.native and not p.nationality and rng.random() < 0.5:  # also from here
                p.origin, p.became = "出生", p.birth
                p.household_change_from = "婚姻"
            else:
                p.origin, p.became = "転入", together
                if together == hh.moved_in:
                    p.previous_address = hh.previous_address
                elif p.nationality and rng.random() < 0.6:
                    p.previous_address = f"国外（{p.nationality}）"
                else:
                    p.previous_address = self.other_address()
            p.joined = max(together, hh.address_set)
        else:  # parents, in-laws, flatmates: came to live here later
            if hh.foreign:
                join = hh.moved_in or self.day_between(max(hh.address_set, adult), as_of)
            else:
                join = self.day_between(max(hh.address_set, adult), as_of)
            if not p.nationality and rng.random() < 0.5:
                p.origin, p.became = "出生", p.birth
                p.household_change_from = "同居"
            else:
                p.origin, p.became = "転入", join
                p.previous_address = (
                    hh.previous_address if join == hh.moved_in else self.other_address()
                )
            p.joined = join

    # --- 本籍・筆頭者 ------------------------------------------------------------------

    def koseki(self, hh: _Household) -> None:
        rng = self.rng
        if hh.foreign and all(p.nationality for p in hh.members):
            return
        if hh.banchi is not None and rng.random() < 0.55:
            home = f"{PREFECTURE}{CITY}{hh.town}"
            home += f"{kanji_number(hh.chome)}丁目" if hh.chome else ""
            home += f"{hh.banchi}番地"
        elif rng.random() < 0.15:
            home = "東京都千代田区千代田1番"
        else:
            home = self.honseki_elsewhere()
        head = hh.head
        husband = next(
            (p for p in hh.members[:2] if p.sex == "男" and p.relationship in (HEAD, "夫")),
            head,
        )
        for p in hh.members:
            if p.nationality:
                continue
            p.honseki = home
            rel = p.relationship
            if rel in ("父", "母", "妻の父", "妻の母"):
                father = next((q for q in hh.members if q.relationship in ("父", "妻の父")), None)
                p.honseki_head = father.full_name if father else self.late_husband(p)
                if rel.startswith("妻の"):
                    p.honseki = self.honseki_elsewhere()
            elif rel in ("子の妻", "孫"):
                son = next(q for q in hh.members if q.relationship == "子")
                p.honseki_head = son.full_name
            elif rel == "子" and any(q.relationship == "子の妻" for q in hh.members):
                p.honseki_head = p.full_name
            elif rel in ("同居人",) or p.family != head.family:
                p.honseki_head = p.full_name if self.age_of(p) >= 30 else self.father_of(p)
                p.honseki = self.honseki_elsewhere()
            elif len(hh.members) == 1:
                age = self.age_of(p)
                if age < 30:
                    p.honseki_head = self.father_of(p)
                elif p.sex == "女" and age >= 70 and rng.random() < 0.7:
                    p.honseki_head = self.late_husband(p)
                else:
                    p.honseki_head = p.full_name
            elif husband.nationality:
                p.honseki_head = head.full_name
            else:
                p.honseki_head = husband.full_name

    def honseki_elsewhere(self) -> str:
        p = (self.near if self.rng.random() < 0.5 else self.far).pick(self.rng)
        if p.town.startswith("大字"):
            return f"{p.place}{p.town}{self.rng.randint(1, 2500)}番地"
        chome = kanji_number(self.rng.randint(1, 5))
        return f"{p.place}{p.town}{chome}丁目{self.rng.randint(1, 30)}番地"

    def father_of(self, p: _Person) -> str:
        birth = _years_before(p.birth, self.rng.randint(25, 38))
        return f"{p.family.name} {self.given_name('男', birth).name}"

    def late_husband(self, p: _Person) -> str:
        return f"{p.family.name} {self.given_name('男', _years_before(p.birth, 3)).name}"


def build_register(
    residents: int,
    seed: int = 1,
    *,
    as_of: date = REFERENCE_DATE,
    first_household_id: int = 1,
    first_resident_id: int = 1,
) -> RegisterRows:
    """Every row of a synthetic register of exactly ``residents`` people (no database)."""
    if residents < 1:
        raise BadInput("住民の人数: 1以上を指定してください。")
    b = _Builder(seed, as_of)
    rng = b.rng
    households: list[_Household] = []
    total = 0
    hh_id = first_household_id

    def add(members: list[_Person], *, native: bool, foreign: bool) -> _Household:
        nonlocal total, hh_id
        members = members[: residents - total]
        hh = _Household(hh_id, f"{hh_id:08d}", members, native, foreign)
        hh_id += 1
        total += len(members)
        households.append(hh)
        return hh

    if residents >= 100:  # planted: one 明治-born, two 大正-born, in the care home
        meiji = max(1, residents // 40000)
        taisho = max(2, residents // 10000)
        for i in range(meiji + taisho):
            lo, hi = (
                (date(1911, 8, 1), date(1912, 7, 29)) if i < meiji
                else (date(1915, 1, 1), date(1925, 10, 31))
            )
            sex = "女" if rng.random() < 0.85 else "男"
            fam = b.surnames.pick(rng)
            p = b.person(HEAD, sex, 0, fam, birth=b.day_between(lo, hi))
            hh = add([p], native=rng.random() < 0.5, foreign=False)
            hh.town, hh.chome, hh.banchi, hh.go, hh.katagaki = CARE_HOME

    while total < residents:
        if rng.random() < FOREIGN_HOUSEHOLD_SHARE:
            members = b.foreign_household()
            native = members[0].residence_status == "特別永住者"
            hh = add(members, native=native, foreign=True)
            dorm = hh.head.residence_status in ("技能実習", "特定技能") and len(members) > 1
            b.place(hh, apartment_share=0.85)
            if dorm:
                hh.town, hh.chome, hh.banchi, hh.go = "港町", 2, 8, 3
                hh.katagaki = f"{DORM} {rng.randint(1, 3)}0{rng.randint(1, 9)}号室"
        else:
            size = HOUSEHOLD_SIZES.pick(rng)
            hh = add(b.japanese_household(size), native=rng.random() < 0.45, foreign=False)
            single_old = size == 1 and b.age_of(hh.head) >= 85
            if single_old and rng.random() < 0.4:
                hh.town, hh.chome, hh.banchi, hh.go, hh.katagaki = CARE_HOME
            else:
                b.place(hh, apartment_share=0.55 if size == 1 else 0.2)

    # 無番地: a few houses in 奥山 (docs/domain.md §5.3); always at least one.
    plain = [h for h in households if h.katagaki != CARE_HOME[4] and not h.foreign]
    for hh in rng.sample(plain, min(len(plain), max(1, len(households) // 5000))):
        hh.town, hh.chome, hh.banchi, hh.go, hh.katagaki = b.mubanchi.name, None, None, None, ""

    pid = first_resident_id
    for hh in households:
        for p in hh.members:
            p.id = pid
            pid += 1
        b.settle(hh)
        b.koseki(hh)

    _remove_some(b, households, residents)
    _flag_dv(b, households, residents)
    return _rows(b, households)


def _remove_some(b: _Builder, households: list[_Household], n: int) -> None:
    """消除: about 3% of records, 死亡 mostly among the old, 転出 among the young."""
    rng, as_of = b.rng, b.as_of
    k = round(n * REMOVED_SHARE)
    if n >= 50:
        k = max(1, k)
    # Never a head who leaves others behind, never a planted centenarian.
    movable = [
        p for hh in households for p in hh.members
        if (len(hh.members) == 1 or p is not hh.head) and p.birth.year > 1926
    ]
    old = [p for p in movable if b.age_of(p) >= 70]
    young = [p for p in movable if 18 <= b.age_of(p) <= 45]
    deaths = min(len(old), round(k * 0.4))
    chosen = rng.sample(old, deaths)
    taken = {id(p) for p in chosen}
    young = [p for p in young if id(p) not in taken]
    moves = rng.sample(young, min(len(young), k - deaths))
    for p in chosen:
        p.removal_reason = "死亡"
    for p in moves:
        p.removal_reason = "転出"
        p.moved_to = b.other_address(0.5)
    for p in chosen + moves:
        lo = max(p.joined + timedelta(days=1), _years_before(as_of, 3))
        p.removed_on = b.day_between(min(lo, as_of), as_of)


def _flag_dv(b: _Builder, households: list[_Household], n: int) -> None:
    """DV等支援措置: small households headed by a woman, all members flagged."""
    k = round(n * DV_SHARE)
    if n >= 200:
        k = max(1, k)
    if not k:
        return
    rng = b.rng

    def fits(hh: _Household) -> bool:
        h = hh.head
        return (
            h.sex == "女" and 20 <= b.age_of(h) <= 55 and len(hh.members) <= 3
            and all(p.relationship in (HEAD, "子") for p in hh.members)
            and all(p.removed_on is None for p in hh.members)
        )

    candidates = [hh for hh in households if fits(hh)]
    rng.shuffle(candidates)
    flagged = 0
    for hh in candidates:
        if flagged >= k:
            break
        for p in hh.members:
            p.dv = True
            flagged += 1


def _rows(b: _Builder, households: list[_Household]) -> RegisterRows:
    rng, as_of = b.rng, b.as_of
    out = RegisterRows()
    all_nos = [hh.no for hh in households]
    people = [p for hh in households for p in hh.members]
    late = [p for p in people if p.became >= MY_NUMBER_START and p.removed_on is None]
    k = min(len(late), round(len(people) * UNLINKED_SHARE))
    unlinked = {id(p) for p in rng.sample(late, k)}
    for hh in households:
        address = hh.address
        out.households.append({
            "id": hh.id, "household_no": hh.no, "head_resident_id": hh.head.id,
            "town": hh.town, "chome": hh.chome, "banchi": hh.banchi, "go": hh.go,
            "katagaki": hh.katagaki, "address": address,
        })
        for p in hh.members:
            events: list[tuple[str, date, str, str]] = []
            moved_within = p.joined > p.became
            first_address = hh.old_address if moved_within else address
            if p.origin == "出生":
                events.append(("出生", p.birth, "", f"{first_address}（出生）"))
            else:
                events.append(("転入", p.became, p.previous_address, first_address))
            if p.household_change_from:
                other = rng.choice(all_nos)
                events.append((
                    "世帯変更", p.joined, f"世帯番号 {other}（{p.household_change_from}）",
                    f"世帯番号 {hh.no}（{p.relationship}）",
                ))
            if moved_within:
                events.append(("転居", p.joined, hh.old_address, address))
            if p.removed_on is not None:
                after = p.moved_to if p.removal_reason == "転出" else "死亡"
                events.append((p.removal_reason, p.removed_on, address, after))
            elif hh.katagaki and rng.random() < 0.01:
                when = b.day_between(p.joined, as_of)
                events.append(("職権修正", when, "方書: （記載なし）", f"方書: {hh.katagaki}"))
            last_address_event = next(
                e for e in reversed(events) if e[0] in ("出生", "転入", "転居")
            )
            notified = None
            for kind, when, before, after in sorted(events, key=lambda e: e[1]):
                told = b.notify(when)
                if (kind, when) == last_address_event[:2]:
                    notified = told
                out.changes.append({
                    "resident_id": p.id, "kind": kind, "occurred_on": when,
                    "notified_on": told, "before_summary": before, "after_summary": after,
                })
            foreign = bool(p.nationality)
            expires = None
            if foreign and p.residence_status not in ("永住者", "特別永住者"):
                years = STAY_YEARS.get(p.residence_status, 3)
                expires = as_of + timedelta(days=rng.randint(20, 365 * years))
            row: dict[str, Any] = {
                "id": p.id, "resident_code": b.code(), "household_id": hh.id,
                "relationship": p.relationship,
                "family_name": p.family.name, "given_name": p.given.name,
                "family_kana": p.family.kana, "given_kana": p.given.kana,
                "birth_date": p.birth, "sex": p.sex,
                "town": hh.town, "chome": hh.chome, "banchi": hh.banchi, "go": hh.go,
                "katagaki": hh.katagaki, "address": address,
                "became_resident_on": p.became, "address_set_on": p.joined,
                "notified_on": notified, "previous_address": p.previous_address,
                "honseki": p.honseki, "honseki_head": p.honseki_head,
                "status": STATUS_REMOVED if p.removed_on else STATUS_RESIDENT,
                "removed_on": p.removed_on, "removal_reason": p.removal_reason,
                "moved_to": p.moved_to, "is_foreign": foreign,
                "nationality": p.nationality, "residence_status": p.residence_status,
                "stay_expires_on": expires,
                "residence_card_no": b.card_number() if foreign else "",
                "alias": p.alias, "alias_kana": p.alias_kana, "dv_support": p.dv,
            }
            row.update(resident_keys(row))
            out.residents.append(row)
            number = b.my_number()  # drawn for everyone, so the sequence does not shift
            if id(p) not in unlinked:
                linked = max(p.became, MY_NUMBER_START)
                out.links.append({
                    "resident_id": p.id, "number": number, "last4": number[-4:],
                    "linked_at": datetime(linked.year, linked.month, linked.day, tzinfo=UTC),
                    "source": "初期移行", "status": "active",
                    "revoked_at": None, "revoke_reason": "",
                })
    return out


# --- writing --------------------------------------------------------------------------


def _insert(conn: Connection, table: SATable, rows: list[dict[str, Any]]) -> None:
    stmt = table.insert()
    for i in range(0, len(rows), BATCH):
        conn.execute(stmt, rows[i: i + BATCH])


def _next_id(conn: Connection, table: SATable) -> int:
    return (conn.execute(select(func.max(table.c.id))).scalar_one() or 0) + 1


def write_rows(conn: Connection, rows: RegisterRows) -> None:
    """Insert the rows in foreign-key order and move PostgreSQL's id sequences past them."""
    _insert(conn, table(Household), rows.households)
    _insert(conn, table(Resident), rows.residents)
    _insert(conn, table(ResidentChange), rows.changes)
    _insert(conn, table(MyNumberLink), rows.links)
    if conn.dialect.name == "postgresql":
        for name in ("household", "resident", "resident_change", "my_number_link"):
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                f" (SELECT COALESCE(max(id), 0) + 1 FROM {name}), false)"
            ))


def _analyze(db: Database) -> None:
    """Fresh statistics after a bulk load, so the planners see the register as it is.

    PostgreSQL would otherwise plan the first lookups on an empty table's estimates until
    autovacuum gets round to it; SQLite keeps what ANALYZE writes in sqlite_stat1.
    """
    with db.transaction() as conn:
        for name in ("household", "resident", "resident_change", "my_number_link"):
            conn.execute(text(f"ANALYZE {name}"))


def seed_register(db: Database, actor: Actor, *, residents: int, seed: int = 1) -> str:
    """Fill an empty register with synthetic residents; one audit event for the lot.

    Refuses with BadInput when residents already exist (the refusal is recorded).
    Returns a Japanese summary for the operator.
    """
    if isinstance(residents, bool) or not isinstance(residents, int) or residents < 1:
        raise BadInput("住民の人数: 1以上の整数を指定してください。")
    if residents > MAX_RESIDENTS:
        raise BadInput(f"住民の人数: {MAX_RESIDENTS:,} 人以下にしてください。")
    counts: dict[str, int] = {}
    with gate.act(db, actor, "register.seed", perm=None, what="合成データの作成",
                  target="register") as a:
        conn = a.s.connection()
        resident_table = table(Resident)
        existing = conn.execute(select(func.count()).select_from(resident_table)).scalar_one()
        if existing:  # the refusal is the act's outcome, committed alone
            a.record(outcome="refused", severity="warning",
                     details={"existing_residents": existing, "requested": residents})
        else:
            rows = build_register(
                residents, seed,
                first_household_id=_next_id(conn, table(Household)),
                first_resident_id=_next_id(conn, resident_table),
            )
            write_rows(conn, rows)
            counts = rows.counts()
            a.record(details={**counts, "seed": seed, "as_of": REFERENCE_DATE.isoformat()})
    if existing:
        raise BadInput(
            f"住民記録が既に {existing:,} 人分あります。"
            "合成データは住民記録が空のときだけ作成できます。"
        )
    _analyze(db)
    return (
        f"住民 {counts['residents']:,} 人 (世帯 {counts['households']:,}、"
        f"消除 {counts['removed']:,}、外国人住民 {counts['foreign']:,}、"
        f"DV等支援措置 {counts['dv_support']:,}) を作成しました"
    )
