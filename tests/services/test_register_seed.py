"""The synthetic register: its name data, and what ``seed_register`` writes (both backends)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from core.actor import Actor
from core.db import Database
from core.errors import BadInput
from logs.audit import events_after, verify
from services.register import names
from services.register.models import (
    Household,
    MyNumberLink,
    Resident,
    ResidentChange,
)
from services.register.mynumber import is_valid_my_number
from services.register.seed import build_register, seed_register
from tests.services.linkage_setup import as_schema_owner

KATAKANA = re.compile(r"[\u30A1-\u30FC]+")  # ァ..ヺ, ・ and ー
MEIJI_END, TAISHO_END, REIWA = date(1912, 7, 30), date(1926, 12, 25), date(2019, 5, 1)
N = 2000
ACTOR = Actor(login="test-seeder")


def _rows(db: Database, model: Any) -> list[dict[str, Any]]:
    with db.read() as s:
        return [dict(r._mapping) for r in s.execute(select(model.__table__)).all()]


def _is_katakana(kana: str) -> bool:
    return all(KATAKANA.fullmatch(part) for part in kana.split(" "))


# --- the data tables ----------------------------------------------------------------


def test_surname_table_is_large_and_weighted_toward_the_common_names() -> None:
    table = names.surnames()
    standard = {s.name for s in table if not s.note}
    assert len({s.name for s in table}) >= 400
    assert len(standard) >= 400
    weight: Counter[str] = Counter()
    for s in table:
        weight[s.name] += s.weight
    top = [n for n, _ in weight.most_common(6)]
    assert top[:2] == ["佐藤", "鈴木"]
    assert {"高橋", "田中", "伊藤", "渡辺"} <= set(top)


def test_variant_kanji_surnames_are_present_but_rare() -> None:
    weight = {(s.name, s.kana): s for s in names.surnames()}
    for variant, standard, kana in [
        ("髙橋", "高橋", "タカハシ"), ("渡邉", "渡辺", "ワタナベ"), ("渡邊", "渡辺", "ワタナベ"),
        ("齋藤", "斎藤", "サイトウ"), ("山﨑", "山崎", "ヤマザキ"), ("濱田", "浜田", "ハマダ"),
        ("澤田", "沢田", "サワダ"), ("櫻井", "桜井", "サクライ"), ("𠮷田", "吉田", "ヨシダ"),
    ]:
        v = weight[(variant, kana)]
        assert v.note == "異体字" and v.standard == standard
        assert v.weight * 10 < weight[(standard, kana)].weight
    assert len("𠮷田") == 2 and ord("𠮷") > 0xFFFF  # outside the BMP, kept as one character


def test_some_surnames_have_more_than_one_reading() -> None:
    readings: defaultdict[str, set[str]] = defaultdict(set)
    for s in names.surnames():
        readings[s.name].add(s.kana)
    assert readings["山崎"] == {"ヤマザキ", "ヤマサキ"}
    assert readings["中島"] == {"ナカジマ", "ナカシマ"}


def test_given_names_are_many_and_depend_on_the_birth_era() -> None:
    for sex in ("男", "女"):
        distinct = {g.name for era in names.ERAS for g in names.given_names(era, sex)}
        assert len(distinct) >= 300
    old = {g.name for g in names.given_names("old", "女")[:30]}
    new = {g.name for g in names.given_names("new", "女")[:30]}
    assert {"キヨ", "幸子"} <= {g.name for g in names.given_names("old", "女")}
    assert {"陽葵", "結衣"} <= new
    assert not old & new
    assert names.era_for_birth(date(1920, 1, 1)) == "old"
    assert names.era_for_birth(date(2020, 1, 1)) == "new"


def test_every_reading_in_the_tables_is_katakana() -> None:
    for kind, pairs in names.known_readings().items():
        bad = [p for p in pairs if not _is_katakana(p[1])]
        assert not bad, (kind, bad[:5])


def test_towns_include_ke_spellings_and_a_mubanchi_place() -> None:
    towns = names.towns()
    assert len(towns) >= 30
    assert any("ケ" in t.name for t in towns) and any("ヶ" in t.name for t in towns)
    assert any(t.chome == 0 for t in towns) and any(t.chome >= 5 for t in towns)
    assert [t.kind for t in towns].count("mubanchi") == 1


# --- build_register alone (no database) ---------------------------------------------


def test_the_same_seed_gives_the_same_register_and_another_seed_does_not() -> None:
    a, b, c = build_register(300, 5), build_register(300, 5), build_register(300, 6)
    assert a.residents == b.residents and a.changes == b.changes and a.links == b.links
    assert a.residents != c.residents


def test_build_makes_exactly_the_requested_number_of_people() -> None:
    for n in (1, 7, 101, 999):
        assert len(build_register(n, 2).residents) == n


# --- seeding a database ---------------------------------------------------------------


@pytest.fixture
def seeded(db: Database) -> tuple[Database, str]:
    return db, seed_register(db, ACTOR, residents=N, seed=11)


def test_summary_names_the_counts(seeded: tuple[Database, str]) -> None:
    db, summary = seeded
    households = len(_rows(db, Household))
    assert summary.startswith(f"住民 {N:,} 人 (世帯 {households:,}、")
    assert summary.endswith("を作成しました")


def test_names_are_varied_common_ones_most_frequent_and_kana_match(
    seeded: tuple[Database, str],
) -> None:
    db, _ = seeded
    residents = _rows(db, Resident)
    assert len(residents) == N
    known = names.known_readings()
    japanese = [r for r in residents if not r["is_foreign"]]
    counts = Counter(r["family_name"] for r in japanese)
    assert len(counts) >= 200
    by_weight: Counter[str] = Counter()
    for s in names.surnames():
        by_weight[s.name] += s.weight
    top30 = {n for n, _ in by_weight.most_common(30)}
    assert {n for n, _ in counts.most_common(5)} <= top30
    assert counts["佐藤"] > counts.get("國分", 0) + counts.get("𠮷田", 0)
    for r in residents:
        assert _is_katakana(r["family_kana"]) and _is_katakana(r["given_kana"]), r
        if r["alias_kana"]:
            assert _is_katakana(r["alias_kana"]), r
        table = known["foreign"] if r["is_foreign"] else None
        fam = table or known["surname"]
        giv = table or known["given"]
        assert (r["family_name"], r["family_kana"]) in fam, r
        assert (r["given_name"], r["given_kana"]) in giv, r


def test_identifiers_are_unique_and_my_numbers_valid(seeded: tuple[Database, str]) -> None:
    db, _ = seeded
    residents = _rows(db, Resident)
    codes = [r["resident_code"] for r in residents]
    assert len(set(codes)) == N
    assert all(re.fullmatch(r"[0-9]{11}", c) for c in codes)
    links = _rows(db, MyNumberLink)
    numbers = [link["number"] for link in links]
    assert len(set(numbers)) == len(numbers)
    assert all(is_valid_my_number(n) for n in numbers)
    assert all(link["last4"] == link["number"][-4:] for link in links)
    assert all(link["status"] == "active" and link["source"] == "初期移行" for link in links)
    linked = Counter(link["resident_id"] for link in links)
    assert max(linked.values()) == 1
    assert N * 0.98 <= len(links) <= N  # a few recent arrivals await linkage
    cards = [r["residence_card_no"] for r in residents if r["is_foreign"]]
    assert cards and all(re.fullmatch(r"[A-Z]{2}[0-9]{8}[A-Z]{2}", c) for c in cards)
    assert len(set(cards)) == len(cards)
    assert all(not r["residence_card_no"] for r in residents if not r["is_foreign"])


def test_households_have_one_head_and_realistic_sizes(seeded: tuple[Database, str]) -> None:
    db, _ = seeded
    residents = _rows(db, Resident)
    households = {h["id"]: h for h in _rows(db, Household)}
    heads = Counter(r["household_id"] for r in residents if r["relationship"] == "世帯主")
    assert set(heads) == set(households) and set(heads.values()) == {1}
    by_id = {r["id"]: r for r in residents}
    for h in households.values():
        head = by_id[h["head_resident_id"]]
        assert head["household_id"] == h["id"] and head["relationship"] == "世帯主"
        assert head["address"] == h["address"]
    sizes = Counter(Counter(r["household_id"] for r in residents).values())
    assert set(sizes) <= set(range(1, 7))
    assert sizes[1] == max(sizes.values())  # singles are the most common household
    assert {"妻", "子"} <= {r["relationship"] for r in residents}
    assert any(h["banchi"] is None and "無番地" in h["address"] for h in households.values())
    assert any("丁目" in h["address"] for h in households.values())


def test_ages_foreigners_removals_and_dv(seeded: tuple[Database, str]) -> None:
    db, _ = seeded
    residents = _rows(db, Resident)
    births = [r["birth_date"] for r in residents]
    assert any(b < MEIJI_END for b in births)
    assert sum(MEIJI_END <= b < TAISHO_END for b in births) >= 2
    assert any(b >= REIWA for b in births)
    foreign = [r for r in residents if r["is_foreign"]]
    assert 0.015 * N <= len(foreign) <= 0.05 * N
    assert all(r["nationality"] and r["residence_status"] for r in foreign)
    assert all(not r["honseki"] for r in foreign)
    assert all(r["honseki"] and r["honseki_head"] for r in residents if not r["is_foreign"])
    assert len({r["nationality"] for r in foreign}) >= 4
    permanent = [r for r in foreign if r["residence_status"] in ("永住者", "特別永住者")]
    assert all(r["stay_expires_on"] is None for r in permanent)
    assert all(
        r["stay_expires_on"] is not None for r in foreign if r not in permanent
    )
    removed = [r for r in residents if r["status"] == "消除"]
    assert 0.02 * N <= len(removed) <= 0.04 * N
    assert {r["removal_reason"] for r in removed} == {"転出", "死亡"}
    assert all(r["removed_on"] for r in removed)
    assert all(r["moved_to"] for r in removed if r["removal_reason"] == "転出")
    assert {r["status"] for r in residents} == {"住民", "消除"}
    dv = [r for r in residents if r["dv_support"]]
    assert 1 <= len(dv) <= 0.01 * N


def test_every_resident_has_a_change_history(seeded: tuple[Database, str]) -> None:
    db, _ = seeded
    residents = {r["id"]: r for r in _rows(db, Resident)}
    history: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in sorted(_rows(db, ResidentChange), key=lambda c: (c["occurred_on"], c["id"])):
        history[c["resident_id"]].append(c)
    assert set(history) == set(residents)
    for rid, events in history.items():
        r = residents[rid]
        first = events[0]
        assert first["kind"] in ("出生", "転入"), events
        assert first["occurred_on"] == r["became_resident_on"]
        if first["kind"] == "出生":
            assert first["occurred_on"] == r["birth_date"]
        else:
            assert first["before_summary"] == r["previous_address"]
        assert r["became_resident_on"] <= r["address_set_on"]
        if r["status"] == "消除":
            assert events[-1]["kind"] == r["removal_reason"]
            assert events[-1]["occurred_on"] == r["removed_on"]
    kinds = Counter(c["kind"] for events in history.values() for c in events)
    assert kinds["転居"] and kinds["世帯変更"] and kinds["転出"] and kinds["死亡"]


def test_one_audit_event_records_the_counts(seeded: tuple[Database, str]) -> None:
    db, _ = seeded
    events = [e for e in events_after(db, 0) if e["action"] == "register.seed"]
    assert len(events) == 1
    details = json.loads(events[0]["details"])
    assert details["residents"] == N and details["seed"] == 11
    assert details["households"] == len(_rows(db, Household))
    assert events[0]["actor"] == "test-seeder" and events[0]["outcome"] == "success"
    assert verify(db).ok


def test_the_database_holds_exactly_the_deterministic_rows(seeded: tuple[Database, str]) -> None:
    db, _ = seeded
    expected = build_register(N, 11)
    got = sorted(_rows(db, Resident), key=lambda r: r["id"])
    assert [(r["resident_code"], r["family_name"], r["given_name"], r["birth_date"]) for r in got] \
        == [(r["resident_code"], r["family_name"], r["given_name"], r["birth_date"])
            for r in expected.residents]
    assert sorted(link["number"] for link in _rows(db, MyNumberLink)) == sorted(
        link["number"] for link in expected.links
    )


def test_seeding_a_register_that_has_residents_is_refused(seeded: tuple[Database, str]) -> None:
    db, _ = seeded
    with pytest.raises(BadInput) as err:
        seed_register(db, ACTOR, residents=10, seed=2)
    assert "既に" in err.value.message
    assert len(_rows(db, Resident)) == N
    refused = [e for e in events_after(db, 0) if e["action"] == "register.seed"]
    assert [e["outcome"] for e in refused] == ["success", "refused"]


def test_the_database_keeps_one_active_link_per_number_and_per_resident(
    seeded: tuple[Database, str],
) -> None:
    db, _ = seeded
    links = _rows(db, MyNumberLink)
    a, b = links[0], links[1]
    clashes = [(b["resident_id"], a["number"]), (a["resident_id"], "111111111118")]
    for resident_id, number in clashes:
        with pytest.raises(IntegrityError, match=r"(?i)unique"), db.write() as s:
            s.add(MyNumberLink(
                resident_id=resident_id, number=number, last4=number[-4:],
                linked_at=a["linked_at"], source="初期移行",
            ))
    # Revoke (by hand, past the guard that wants an approved unlink proposal), then the
    # number may be linked again.
    with as_schema_owner(db) as conn:
        conn.execute(
            text("UPDATE my_number_link SET status = 'revoked' WHERE id = :id"), {"id": a["id"]}
        )
    with db.write() as s:
        s.add(MyNumberLink(
            resident_id=a["resident_id"], number=a["number"], last4=a["number"][-4:],
            linked_at=a["linked_at"], source="初期移行",
        ))
    assert len(_rows(db, MyNumberLink)) == len(links) + 1


@pytest.mark.parametrize("bad", [0, -3])
def test_a_size_below_one_is_bad_input(db: Database, bad: int) -> None:
    with pytest.raises(BadInput):
        seed_register(db, ACTOR, residents=bad)


# --- the CLI ----------------------------------------------------------------------------


def test_cli_seeds_and_prints_the_summary(juki: Any) -> None:
    done = juki("db", "seed", "--residents", "500", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert "住民 500 人 (世帯 " in done.stdout and "を作成しました" in done.stdout
    again = juki("db", "seed", "--residents", "500", "--seed", "3")
    assert again.returncode == 2
    assert "既に 500 人分" in again.stderr and "Traceback" not in again.stderr


def test_cli_refuses_zero_residents(juki: Any) -> None:
    done = juki("db", "seed", "--residents", "0")
    assert done.returncode == 2
    assert "--residents" in done.stderr and "Traceback" not in done.stderr


def test_rows_added_after_a_seed_get_fresh_ids(db: Database) -> None:
    """The seed writes explicit ids; later ORM inserts must not collide (PostgreSQL sequences)."""
    from datetime import UTC, datetime

    from services.register.models import MyNumberLink, Resident, ResidentChange

    seed_register(db, Actor.cli(), residents=120, seed=5)
    with db.write() as s:
        resident = s.scalars(select(Resident)).first()
        assert resident is not None and resident.id is not None
        change = ResidentChange(resident_id=resident.id, kind="職権修正",
                                occurred_on=date(2025, 11, 1))
        link = MyNumberLink(resident_id=resident.id, number="123456789018", last4="9018",
                            linked_at=datetime.now(UTC), source="申請", status="revoked")
        s.add_all([change, link])
        s.flush()
        assert change.id is not None and link.id is not None
