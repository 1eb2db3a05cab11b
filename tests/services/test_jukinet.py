"""住基ネット照会: the 4 / 3-item rule and the httpx client against ``juki jukinet-sim``.

The simulator runs as a real process on loopback (the ``start_jukinet_sim`` fixture) and
reads the same database as the test, on SQLite and PostgreSQL. A refused query is proven
never to have left by the simulator's own request counter (GET /_stats).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from datetime import date

import httpx
import pytest

from auth.identity import Identity
from core.clock import now
from core.db import Database
from core.errors import BadInput, NotFound, Refused
from core.settings import Settings
from services.jukinet.client import (
    FOUR_ITEMS,
    THREE_ITEMS,
    JukinetUnavailable,
    NarrowQuery,
    build_query,
    query_jukinet,
)
from services.linkage.acts import propose
from services.linkage.queue import drafts, open_proposal
from services.register.models import STATUS_REMOVED
from services.register.mynumber import is_valid_my_number, mask_my_number
from tests.conftest import JukinetSim
from tests.factories import (
    enrol,
    initial_link,
    make_resident,
    matching_application,
    my_number,
    resident_code,
    staff,
)
from tests.services.linkage_setup import audit_texts, events, twelve_digit_runs

YAMADA = dict(name="山田 太郎", birth="昭和55年4月1日", sex="男",
              address="青葉県若葉市若葉町二丁目3番地5号")
KAORU = dict(name="高橋 薫", birth="1975-07-07", address="桜ケ丘1-1")  # register: 髙橋


@dataclass
class Town:
    clerk: Identity
    aud: Identity
    yamada: int
    yamada_number: str
    yamada_far: int
    kaoru_m: int
    kaoru_f: int


@pytest.fixture
def town(db: Database, settings: Settings) -> Town:
    people = staff(db, settings, ["clerk", "aud"])
    yamada = make_resident(db)  # 山田 太郎, 1980-04-01, 男, 若葉町二丁目3番地5号
    number = my_number(31_415_926_535)
    initial_link(db, yamada, number, at=now())
    # The same person's items on a removed record: 住基ネット answers only for residents.
    make_resident(db, status=STATUS_REMOVED, removed_on=date(2020, 1, 1), removal_reason="転出")
    far = make_resident(db, banchi=35, go=1)  # 若葉町二丁目35番地1号: not 2-3
    common = dict(family="髙橋", given="薫", family_kana="タカハシ", given_kana="カオル",
                  birth=date(1975, 7, 7), town="桜ケ丘", chome=1, banchi=1)
    kaoru_m = make_resident(db, sex="男", go=14, **common)  # type: ignore[arg-type]
    kaoru_f = make_resident(db, sex="女", go=15, **common)  # type: ignore[arg-type]
    return Town(people["clerk"], people["aud"], yamada, number, far, kaoru_m, kaoru_f)


def _at(settings: Settings, sim: JukinetSim, timeout: float = 10.0) -> Settings:
    return settings.with_(jukinet_url=sim.url, jukinet_timeout_seconds=timeout)


def _draft(db: Database, settings: Settings, town: Town) -> int:
    view = propose(db, settings, town.clerk, town.kaoru_m, source="住基ネット照会",
                   reference="R7-窓口-0099",
                   application=matching_application(name="髙橋 薫", kana="タカハシ カオル",
                                                    birth="1975-07-07",
                                                    address="桜ケ丘一丁目1番地14号"),
                   submit=False)
    return view.id


# --- the rule, without any network -------------------------------------------------


@pytest.mark.parametrize(("given", "expect"), [
    (dict(name="山田 太郎", birth="1980-04-01", sex="男", address="若葉町2-3-5"), FOUR_ITEMS),
    (dict(name="山田 太郎", birth="1980-04-01", address="若葉町2-3-5"), THREE_ITEMS),
    (dict(kana="やまだ たろう", birth="S55.4.1", sex="男性", address="若葉町2-3-5"),
     FOUR_ITEMS),
    (dict(name="山田 太郎", birth="1980-04-01", address="奥山無番地"), THREE_ITEMS),
    (dict(sex="男", birth="1980-04-01", address="若葉町2-3-5"), ("氏名",)),
    (dict(name="山田 太郎", sex="男", address="若葉町2-3-5"), ("生年月日",)),
    (dict(name="山田 太郎", birth="1980-04-01", sex="男"), ("住所",)),
    (dict(name="山田 太郎", birth="1980-04-01"), ("住所",)),
    (dict(name="山田 太郎", address="若葉町2-3-5"), ("生年月日",)),
    (dict(name="　 ", birth="1980-04-01", address="若葉町2-3-5"), ("氏名",)),
    (dict(address="若葉町2-3-5"), ("氏名", "生年月日")),
    (dict(), ("氏名", "生年月日", "住所")),
    (dict(name="山田 太郎", birth="1980-04-01", sex="男", address="青葉県若葉市"), ()),
    (dict(name="山田 太郎", birth="1980-04-01", address="若葉町"), ()),
])
def test_only_four_or_three_items_make_a_query(given: dict, expect: object) -> None:
    if isinstance(expect, str):
        q = build_query(**given)
        assert q.items == expect
        assert q.payload()["birth"] == "1980-04-01"
        assert q.payload()["sex"] == ("男" if expect == FOUR_ITEMS else "")
        return
    with pytest.raises(NarrowQuery) as caught:
        build_query(**given)
    assert isinstance(caught.value, Refused)
    assert caught.value.missing == expect
    message = caught.value.message
    assert "4情報" in message and "3情報" in message and "照会は送信していません" in message
    for item in expect:  # type: ignore[union-attr]
        assert item in message
    if not expect:
        assert "番地" in message


@pytest.mark.parametrize(("given", "field"), [
    (dict(birth="令和9年13月1日"), "生年月日"),
    (dict(birth="きのう"), "生年月日"),
    (dict(birth="2999-01-01"), "生年月日"),
    (dict(sex="X"), "性別"),
])
def test_unreadable_values_are_bad_input_naming_the_field(given: dict, field: str) -> None:
    items = dict(name="山田 太郎", birth="1980-04-01", address="若葉町2-3-5", **{})
    items.update(given)
    with pytest.raises(BadInput) as caught:
        build_query(**items)
    assert field in caught.value.message


# --- the client against the simulator ------------------------------------------------


def test_one_candidate_for_the_four_items(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    answer = query_jukinet(db, _at(settings, jukinet_sim), town.clerk, **YAMADA)
    assert answer.items == FOUR_ITEMS
    assert len(answer.candidates) == 1
    c = answer.candidates[0]
    assert (c.name, c.kana, c.birth_date, c.sex) == (
        "山田\u3000太郎", "ヤマダ\u3000タロウ", date(1980, 4, 1), "男")
    assert c.address == "青葉県若葉市若葉町二丁目3番地5号"
    assert c.resident_code == resident_code(db, town.yamada)
    assert c.number == town.yamada_number  # the number linked in the register
    assert c.number_masked == mask_my_number(town.yamada_number)
    assert town.yamada_number not in repr(c)
    assert jukinet_sim.stats()["answered"] == 1

    [ev] = events(db, "jukinet.query")
    assert ev["outcome"] == "success" and ev["actor"] == "clerk"
    details = json.loads(ev["details"])
    assert details["items"] == FOUR_ITEMS and details["candidates"] == 1
    assert details["numbers"] == [mask_my_number(town.yamada_number)]
    assert details["sent"] == {"name": "山田 太郎", "kana": "", "birth": "1980-04-01",
                               "sex": "男", "address": "青葉県若葉市若葉町二丁目3番地5号"}
    assert not [t for t in audit_texts(db) if twelve_digit_runs(t)]


def test_three_items_find_several_and_sex_narrows_to_one(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    at = _at(settings, jukinet_sim)
    three = query_jukinet(db, at, town.clerk, **KAORU)  # 高橋 finds 髙橋 (異体字)
    assert three.items == THREE_ITEMS
    codes = {c.resident_code: c for c in three.candidates}
    assert set(codes) == {resident_code(db, town.kaoru_m), resident_code(db, town.kaoru_f)}
    assert {c.sex for c in three.candidates} == {"男", "女"}

    four = query_jukinet(db, at, town.clerk, sex="男", **KAORU)
    assert four.items == FOUR_ITEMS
    [only] = four.candidates
    assert only.resident_code == resident_code(db, town.kaoru_m)
    # No link in the register: the simulated national number is valid, stable and
    # nobody else's.
    assert is_valid_my_number(only.number)
    assert only.number == codes[only.resident_code].number
    assert only.number not in (town.yamada_number, codes[resident_code(db, town.kaoru_f)].number)

    ev = events(db, "jukinet.query")
    assert [json.loads(e["details"])["candidates"] for e in ev] == [2, 1]
    assert not [t for t in audit_texts(db) if twelve_digit_runs(t)]


def test_no_candidate_and_address_matched_at_a_number_boundary(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    at = _at(settings, jukinet_sim)
    other_day = dict(YAMADA, birth="1980-04-02")
    assert query_jukinet(db, at, town.clerk, **other_day).candidates == ()
    stranger = dict(YAMADA, name="山田 次郎")
    assert query_jukinet(db, at, town.clerk, **stranger).candidates == ()
    # 二丁目3番地 is 2-3-5, not 2-35-1; 二丁目 alone holds both; the removed record never.
    block = dict(YAMADA, address="若葉町二丁目3番地")
    assert [c.resident_code for c in query_jukinet(db, at, town.clerk, **block).candidates] \
        == [resident_code(db, town.yamada)]
    chome = dict(YAMADA, address="若葉市若葉町2")
    found = {c.resident_code for c in query_jukinet(db, at, town.clerk, **chome).candidates}
    assert found == {resident_code(db, town.yamada), resident_code(db, town.yamada_far)}
    # A 方書 after the address still finds the resident.
    with_room = dict(YAMADA, address="若葉町2-3-5 若葉ハイツ101")
    assert len(query_jukinet(db, at, town.clerk, **with_room).candidates) == 1
    assert jukinet_sim.stats()["answered"] == 5


def test_a_name_in_kana_only(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    at = _at(settings, jukinet_sim)
    by_kana = dict(YAMADA, name="", kana="やまだ　たろう")
    [c] = query_jukinet(db, at, town.clerk, **by_kana).candidates
    assert c.resident_code == resident_code(db, town.yamada)
    by_kana_in_name = dict(YAMADA, name="ヤマダ タロウ")
    [c] = query_jukinet(db, at, town.clerk, **by_kana_in_name).candidates
    assert c.resident_code == resident_code(db, town.yamada)


def test_a_restricted_resident_found_raises_the_severity(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    make_resident(db, family="佐藤", given="花子", family_kana="サトウ",
                  given_kana="ハナコ", sex="女", birth=date(1990, 1, 2), dv=True)
    at = _at(settings, jukinet_sim)
    query_jukinet(db, at, town.clerk, **YAMADA)
    [c] = query_jukinet(db, at, town.clerk, name="佐藤 花子", birth="1990-01-02",
                        address="若葉町2-3-5").candidates
    assert c.restricted and c.withheld  # the clerk sees the name only (next test)
    plain, restricted = events(db, "jukinet.query")
    assert (plain["severity"], json.loads(plain["details"])["restricted"]) == ("info", False)
    assert (restricted["severity"], json.loads(restricted["details"])["restricted"]) == (
        "high", True)


def test_a_restricted_candidate_is_the_name_only_without_the_dv_permission(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    """A clerk asking with 氏名・生年月日 and only the 丁目 must not learn where a DV等支援措置
    resident lives (nor her number or code); a clerk who also holds dv_officer does."""
    hanako = dict(family="佐藤", given="花子", family_kana="サトウ", given_kana="ハナコ",
                  sex="女", birth=date(1990, 1, 2))
    dv = make_resident(db, katagaki="コーポさくら 203号室", dv=True,
                       **hanako)  # type: ignore[arg-type]
    other = make_resident(db, banchi=35, go=1, **hanako)  # type: ignore[arg-type]
    officer = enrol(db, settings, "dvclerk", ["clerk", "dv_officer"])
    at = _at(settings, jukinet_sim)
    asked = dict(name="佐藤 花子", birth="1990-01-02", address="若葉町2")

    other_code = resident_code(db, other)
    by_clerk = query_jukinet(db, at, town.clerk, **asked).candidates
    by_officer = query_jukinet(db, at, officer, **asked).candidates

    [hidden] = [c for c in by_clerk if c.resident_code != other_code]
    [whole] = [c for c in by_clerk if c.resident_code == other_code]
    assert (hidden.kana, hidden.birth_date, hidden.sex, hidden.address,
            hidden.resident_code, hidden.number) == ("", None, "", "", "", "")
    assert (hidden.name, hidden.restricted, hidden.withheld) == ("佐藤\u3000花子", True, True)
    assert hidden.number_masked == "**** **** ****"
    assert not whole.restricted and not whole.withheld
    assert "35番地" in whole.address and is_valid_my_number(whole.number)

    [seen] = [c for c in by_officer if c.resident_code != other_code]
    assert seen.restricted and not seen.withheld and seen.resident_code == resident_code(db, dv)
    assert "コーポさくら 203号室" in seen.address and seen.birth_date == date(1990, 1, 2)
    assert is_valid_my_number(seen.number) and seen.sex == "女"
    assert [c for c in by_officer if c.resident_code == other_code] == [whole]

    # Both queries stay recorded, severity high; the trail says how many were withheld.
    clerk_ev, officer_ev = events(db, "jukinet.query")
    for ev, n_withheld in ((clerk_ev, 1), (officer_ev, 0)):
        details = json.loads(ev["details"])
        assert (ev["severity"], details["restricted"], details["withheld"]) == (
            "high", True, n_withheld)
        assert details["candidates"] == 2
    assert not [t for t in audit_texts(db) if twelve_digit_runs(t)]


def test_narrower_queries_are_refused_recorded_and_never_sent(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    at = _at(settings, jukinet_sim)
    before = jukinet_sim.stats()["requests"]
    shapes = [
        (dict(YAMADA, name=""), ["氏名"]),
        (dict(YAMADA, birth=""), ["生年月日"]),
        (dict(YAMADA, address=""), ["住所"]),  # 氏名・生年月日・性別 without the address
        (dict(name="山田 太郎", address="若葉町2-3-5"), ["生年月日"]),
        (dict(sex="男", birth="1980-04-01"), ["氏名", "住所"]),
        (dict(YAMADA, address="青葉県若葉市若葉町"), []),  # no 番地
    ]
    for items, missing in shapes:
        with pytest.raises(NarrowQuery) as caught:
            query_jukinet(db, at, town.clerk, **items)
        for item in missing:
            assert item in caught.value.message
    with pytest.raises(BadInput):  # unreadable: recorded as refused, nothing sent
        query_jukinet(db, at, town.clerk, **dict(YAMADA, birth="昭和99年1月1日"))
    assert jukinet_sim.stats()["requests"] == before

    *refused, unreadable = events(db, "jukinet.query")
    assert (unreadable["outcome"], json.loads(unreadable["details"])["reason"]) == (
        "refused", "bad_input")
    assert [e["outcome"] for e in refused] == ["refused"] * len(shapes)
    assert [json.loads(e["details"])["missing"] for e in refused] == [m for _, m in shapes]
    assert json.loads(refused[2]["details"])["given"] == ["氏名", "生年月日", "性別"]


def test_without_the_propose_permission_nothing_is_sent(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    with pytest.raises(Refused) as caught:
        query_jukinet(db, _at(settings, jukinet_sim), town.aud, **YAMADA)
    assert "権限" in caught.value.message
    assert jukinet_sim.stats()["requests"] == 0
    [ev] = events(db, "jukinet.query")
    assert (ev["outcome"], ev["actor"]) == ("refused", "aud")


def test_a_timeout_says_so_and_the_draft_stays_unchanged(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    pid = _draft(db, settings, town)
    before = open_proposal(db, town.clerk, pid)
    jukinet_sim.control(mode="slow", delay=3)
    with pytest.raises(JukinetUnavailable) as caught:
        query_jukinet(db, _at(settings, jukinet_sim, timeout=0.5), town.clerk,
                      proposal_id=pid, sex="男", **KAORU)
    assert caught.value.reason == "timeout"
    assert caught.value.message == (
        "住基ネットが応答しません (0.5秒でタイムアウト)。"
        f"申請 #{pid} は下書きのまま保存されています。"
    )
    after = open_proposal(db, town.clerk, pid)
    assert after == before and after.status == "draft"
    assert [r.proposal_id for r in drafts(db, town.clerk)] == [pid]

    [ev] = events(db, "jukinet.query")
    details = json.loads(ev["details"])
    assert (ev["outcome"], details["reason"], details["proposal"]) == ("failure", "timeout", pid)
    assert ev["target"] == f"resident:{town.kaoru_m}"

    # The same process answers again once it is fast: nothing was lost, ask again.
    jukinet_sim.control(mode="ok", delay=0)
    answer = query_jukinet(db, _at(settings, jukinet_sim), town.clerk, proposal_id=pid,
                           sex="男", **KAORU)
    assert len(answer.candidates) == 1
    assert open_proposal(db, town.clerk, pid) == before
    assert not [t for t in audit_texts(db) if twelve_digit_runs(t)]


def test_an_http_500_says_so_and_the_draft_stays(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    pid = _draft(db, settings, town)
    before = open_proposal(db, town.clerk, pid)
    jukinet_sim.control(mode="fail")
    with pytest.raises(JukinetUnavailable) as caught:
        query_jukinet(db, _at(settings, jukinet_sim), town.clerk, proposal_id=pid, **KAORU)
    assert caught.value.reason == "http"
    assert caught.value.message == (
        "住基ネットがエラーを返しました (HTTP 500)。"
        f"申請 #{pid} は下書きのまま保存されています。"
    )
    assert open_proposal(db, town.clerk, pid) == before
    assert jukinet_sim.stats()["failed"] == 1
    [ev] = events(db, "jukinet.query")
    assert ev["outcome"] == "failure" and json.loads(ev["details"])["status"] == 500


def test_an_unreadable_answer_says_so(
    db: Database, settings: Settings, town: Town, jukinet_sim: JukinetSim
) -> None:
    jukinet_sim.control(mode="garbled")
    with pytest.raises(JukinetUnavailable) as caught:
        query_jukinet(db, _at(settings, jukinet_sim), town.clerk, **YAMADA)
    assert caught.value.reason == "malformed"
    assert caught.value.message.startswith("住基ネットの応答を読み取れませんでした。")
    assert "もう一度照会してください" in caught.value.message


def test_the_command_line_flags_delay_and_fail(
    db: Database, settings: Settings, town: Town, start_jukinet_sim
) -> None:
    sim = start_jukinet_sim("--delay", "3", "--fail-rate", "1")
    assert sim.stats()["mode"] == "slow"
    with pytest.raises(JukinetUnavailable) as slow:
        query_jukinet(db, _at(settings, sim, timeout=0.5), town.clerk, **YAMADA)
    assert slow.value.reason == "timeout"
    sim.control(mode="ok", delay=0)  # the fail rate stays 1: every query fails
    with pytest.raises(JukinetUnavailable) as failed:
        query_jukinet(db, _at(settings, sim), town.clerk, **YAMADA)
    assert failed.value.reason == "http"


def test_no_connection_and_no_endpoint(
    db: Database, settings: Settings, town: Town
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = settings.with_(jukinet_url=f"http://127.0.0.1:{port}/", jukinet_timeout_seconds=5)
    with pytest.raises(JukinetUnavailable) as caught:
        query_jukinet(db, closed, town.clerk, **YAMADA)
    assert caught.value.reason == "connect"
    assert f"接続できません (127.0.0.1:{port})" in caught.value.message
    with pytest.raises(JukinetUnavailable) as unset:
        query_jukinet(db, settings.with_(jukinet_url=""), town.clerk, **YAMADA)
    assert unset.value.reason == "config" and "jukinet_url" in unset.value.message
    recorded = events(db, "jukinet.query")
    assert [(e["outcome"], json.loads(e["details"])["reason"]) for e in recorded] == [
        ("failure", "connect"), ("failure", "config")]
    with pytest.raises(NotFound):
        query_jukinet(db, settings, town.clerk, proposal_id=999_999, **YAMADA)


# --- the simulator itself --------------------------------------------------------------


def test_the_simulator_refuses_a_narrower_query_itself(
    db: Database, town: Town, jukinet_sim: JukinetSim
) -> None:
    narrow = {"name": "山田 太郎", "birth": "1980-04-01", "sex": "男", "address": ""}
    resp = httpx.post(jukinet_sim.url + "query", json=narrow, trust_env=False, timeout=10)
    assert resp.status_code == 400
    assert "住所" in resp.json()["error"] and "candidates" not in resp.json()
    bad = httpx.post(jukinet_sim.url + "_control", json={"mode": "sideways"},
                     trust_env=False, timeout=10)
    assert bad.status_code == 400
    stats = jukinet_sim.stats()
    assert (stats["requests"], stats["refused"], stats["mode"]) == (1, 1, "ok")


def test_the_simulator_stops_on_sigterm_and_is_recorded(
    db: Database, town: Town, jukinet_sim: JukinetSim
) -> None:
    code, rest = jukinet_sim.stop()
    assert code == 0
    assert "停止しました" in rest
    assert [e["outcome"] for e in events(db, "jukinet.sim_start")] == ["success"]
    assert [e["outcome"] for e in events(db, "jukinet.sim_stop")] == ["success"]


def test_the_simulator_listens_on_loopback_only(juki) -> None:  # type: ignore[no-untyped-def]
    result = juki("jukinet-sim", "--host", "0.0.0.0", "--port", "0", timeout=30)
    assert result.returncode == 2
    assert "ループバック" in result.stderr
    assert "Traceback" not in result.stderr
