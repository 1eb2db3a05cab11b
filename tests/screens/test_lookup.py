"""住民記録照会 (F2) through Pilot: purpose, refusals, paging, cap, records, reveal, 支援措置.

The service decides (services.lookup); these tests drive the screens as a clerk would and
check what is painted and what the audit trail holds. Refusal texts are not copied here:
each is taken from the service itself with the same input, so the screen is shown to
pass the service's words through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, DataTable, Input, Select

from auth.identity import Identity
from console.app import JukiApp
from console.context import Context
from core.actor import Actor
from core.db import Database
from core.errors import BadInput
from logs.audit import events_after
from screens.home import HomeScreen
from screens.lock import LockScreen
from screens.lookup import PAGE_SIZE, LookupScreen
from screens.resident import RESTRICTED_MARK, ReasonDialog, ResidentScreen
from screens.widgets import MessageLine
from services.jp import format_wareki
from services.lookup.search import search
from services.lookup.types import LookupQuery
from services.register.models import (
    Household,
    MyNumberLink,
    Resident,
    ResidentChange,
    format_address,
)
from services.register.mynumber import mask_my_number, my_number_check_digit
from services.register.seed import seed_register
from tests.factories import PASSWORD, household, resident_row, screen_user
from tests.screens import drive
from tests.screens.drive import SIZE, screen_text, settle, sign_in, type_into, wait_until

MARKUP_FAMILY = "[b]山田[/b][@click=app.quit]"
ESC_GIVEN = "花\x1b[31m子"


# --- the register, row by row ----------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    code: str
    household_no: str
    my_number: str


def add_person(
    db: Database, family: str, given: str, family_kana: str, given_kana: str, *,
    birth: date = date(1985, 4, 1), sex: str = "女", status: str = "住民",
    dv: bool = False, household_no: str = "", town: str = "若葉町", chome: int = 2,
    banchi: int = 3, go: int = 5, with_number: bool = True,
) -> Person:
    """One resident (own household unless ``household_no`` names one), with a 転入 in
    the history and, unless ``with_number`` is False, a linked number."""
    with db.write() as s:
        conn = s.connection()
        hid = None
        if household_no:
            hid = s.exec(select(Household.id).where(Household.household_no == household_no)
                         ).first()
        head = hid is None
        if hid is None:
            hid = household(conn, town, chome, banchi, go, household_no=household_no)
            household_no = s.exec(select(Household.household_no).where(Household.id == hid)
                                  ).one()
        rid = resident_row(
            conn, hid, relationship="世帯主" if head else "子",
            family_name=family, given_name=given, family_kana=family_kana,
            given_kana=given_kana, birth_date=birth, sex=sex,
            became_resident_on=date(2001, 4, 1), address_set_on=date(2001, 4, 1),
            notified_on=date(2001, 4, 10), previous_address="東京都千代田区霞が関1-1-1",
            status=status, removed_on=date(2024, 3, 31) if status == "消除" else None,
            removal_reason="転出" if status == "消除" else "", dv_support=dv,
        )
        s.add(ResidentChange(
            resident_id=rid, kind="転入", occurred_on=date(2001, 4, 1),
            notified_on=date(2001, 4, 10), before_summary="東京都千代田区霞が関1-1-1",
            after_summary=format_address(town, chome, banchi, go),
        ))
        number = ""
        if with_number:
            base = f"7{rid:010d}"
            number = base + str(my_number_check_digit(base))
            s.add(MyNumberLink(
                resident_id=rid, number=number, last4=number[-4:],
                linked_at=datetime(2016, 1, 4, tzinfo=UTC), source="初期移行",
            ))
        code = s.exec(select(Resident.resident_code).where(Resident.id == rid)).one()
        return Person(rid, code, household_no, number)


# --- driving the workspace -------------------------------------------------------------


def lookup(app: JukiApp) -> LookupScreen:
    assert isinstance(app.screen, LookupScreen), type(app.screen).__name__
    return app.screen


def message(app: JukiApp) -> str:
    return app.screen.query_one(MessageLine).plain


async def open_workspace(pilot: Pilot[Any], login: str) -> LookupScreen:
    await sign_in(pilot, login, PASSWORD)
    return await drive.open_workspace(pilot, "f2", LookupScreen)


async def to_record(pilot: Pilot[Any], login: str, person: Any) -> ResidentScreen:
    """Sign in as ``login``, search by 住民票コード and open ``person``'s record."""
    await open_workspace(pilot, login)
    await choose_purpose(pilot)
    await search_for(pilot, resident_code=person.code)
    await open_row(pilot, person.id)
    assert isinstance(pilot.app.screen, ResidentScreen)
    return pilot.app.screen


async def choose_purpose(pilot: Pilot[Any], purpose: str | None = None) -> str:
    select_ = pilot.app.screen.query_one("#purpose", Select)
    chosen = purpose or pilot.app.ctx.settings.lookup_purposes[0]
    select_.value = chosen
    await settle(pilot)
    return chosen


async def search_for(pilot: Pilot[Any], **fields: str) -> None:
    """Fill the named fields (#name, #birth, #address, #resident-code …) and press Enter."""
    for selector, value in fields.items():
        await type_into(pilot, "#" + selector.replace("_", "-"), value)
    last = "#" + (list(fields)[-1].replace("_", "-") if fields else "name")
    pilot.app.screen.query_one(last, Input).focus()
    await pilot.press("enter")
    await settle(pilot)



async def open_row(pilot: Pilot[Any], resident_id: int) -> None:
    """Move the table's cursor to the resident's row and press Enter, as a clerk would."""
    screen = lookup(pilot.app)
    ids = [h.resident_id for h in screen.shown_rows()]
    await drive.enter_row(pilot, screen.query_one("#results", DataTable), ids.index(resident_id))


async def give_reason(pilot: Pilot[Any], reason: str) -> None:
    await drive.answer(pilot, ReasonDialog, reason)


def signed_in(app: JukiApp) -> Identity:
    assert app.identity is not None
    return app.identity


def events(db: Database) -> list[dict[str, Any]]:
    return events_after(db, 0, 100000)


# --- the tests ---------------------------------------------------------------------------


async def test_purpose_is_required_and_the_services_refusal_is_shown(ctx: Context) -> None:
    seed_register(ctx.db, Actor.cli(), residents=300, seed=1)
    target = add_person(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(pilot, "clerk1")
        assert screen.query_one("#search", Button).disabled
        assert not screen.query("#my-number")  # 個人番号 is a field only with its permission
        shown = screen_text(app)
        assert "住民記録照会" in shown
        for key in ("esc戻る", "/検索条件", "pgdn次ページ", "pgup前ページ"):
            assert key in shown, key  # the Footer shows the keys

        await search_for(pilot, name="鷹司 美咲")  # Enter in a field, no purpose chosen
        with pytest.raises(BadInput) as refused:
            search(ctx.db, ctx.settings, signed_in(app), LookupQuery(purpose="", name="鷹司 美咲"))
        assert message(app) == refused.value.message
        assert "事務" in message(app)
        assert screen.shown_rows() == []

        # The purpose chosen with the keys: open the list, take the first 事務.
        screen.query_one("#purpose", Select).focus()
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        assert screen.query_one("#purpose", Select).value == ctx.settings.lookup_purposes[0]
        assert not screen.query_one("#search", Button).disabled
        await pilot.click("#search")
        await settle(pilot)
        assert message(app) == ""
        assert [h.resident_id for h in screen.shown_rows()] == [target.id]
        shown = screen_text(app)
        assert "鷹司美咲" in shown.replace(" ", "")
        assert format_wareki(date(1985, 4, 1)) in shown
        assert "1件(上限50件)" in shown

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_too_broad_query_is_refused_with_the_services_message(ctx: Context) -> None:
    seed_register(ctx.db, Actor.cli(), residents=300, seed=1)
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(pilot, "clerk1")
        purpose = await choose_purpose(pilot)
        screen.query_one("#sex", Select).value = "女"
        await search_for(pilot, name="佐藤")  # a surname and 性別: would browse the register
        with pytest.raises(BadInput) as refused:
            search(ctx.db, ctx.settings, signed_in(app),
                   LookupQuery(purpose=purpose, name="佐藤", sex="女"))
        assert message(app) == refused.value.message
        assert screen.shown_rows() == []
        assert refused.value.message.replace(" ", "") in screen_text(app)


async def test_results_are_paged_and_the_cap_is_said(ctx: Context) -> None:
    people = [
        add_person(ctx.db, "鷹司", given, "タカツカサ", "ハナ", birth=date(1950 + i, 1, 1))
        for i, given in enumerate("一二三四五六七八九十")
        for _ in range(6)
    ]
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    cap = ctx.settings.lookup_max_results
    assert len(people) > cap > 2 * PAGE_SIZE
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(pilot, "clerk1")
        await choose_purpose(pilot)
        await search_for(pilot, name="鷹司", address="若葉町2-3-5")
        assert screen.result is not None and screen.result.capped
        assert len(screen.hits) == cap
        shown = screen_text(app)
        assert f"{cap}件(上限{cap}件に達しました。条件を加えてください)" in shown
        table = screen.query_one("#results", DataTable)
        assert table.row_count == PAGE_SIZE  # one page mounted, never the whole result
        first_page = [h.resident_id for h in screen.shown_rows()]
        assert f"1/3ページ1–{PAGE_SIZE}件目" in shown

        await pilot.press("pagedown")
        await settle(pilot)
        assert screen.page == 1 and table.row_count == PAGE_SIZE
        assert not set(first_page) & {h.resident_id for h in screen.shown_rows()}
        await pilot.press("n")
        await settle(pilot)
        assert table.row_count == cap - 2 * PAGE_SIZE
        assert f"3/3ページ{2 * PAGE_SIZE + 1}–{cap}件目" in screen_text(app)
        await pilot.press("n")  # past the end: stays
        await settle(pilot)
        assert screen.page == 2
        await pilot.press("p", "pageup")
        await settle(pilot)
        assert [h.resident_id for h in screen.shown_rows()] == first_page
        await pilot.press("slash")  # back to the form, purpose already chosen
        await settle(pilot)
        assert screen.focused is screen.query_one("#name", Input)


async def test_reveal_shows_the_number_then_masks_it_again(ctx: Context) -> None:
    ctx.settings = ctx.settings.with_(reveal_seconds=2.0)
    person = add_person(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "rev1", name="確認太郎", roles=("reviewer",))
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(pilot, "rev1")
        assert screen.query("#my-number")  # the reviewer may search by My Number
        await choose_purpose(pilot)
        await search_for(pilot, resident_code=person.code)
        await open_row(pilot, person.id)
        record = app.screen
        assert isinstance(record, ResidentScreen)
        masked = mask_my_number(person.my_number)
        spaced = f"{person.my_number[:4]} {person.my_number[4:8]} {person.my_number[8:]}"
        assert record.number_shown.startswith(masked)
        assert person.my_number not in screen_text(app).replace(" ", "")

        await pilot.press("r")
        await settle(pilot)
        await give_reason(pilot, "窓口での本人確認")
        assert app.screen is record
        assert record.number_shown.startswith(spaced)
        assert person.my_number in screen_text(app)
        reveals = [e for e in events(ctx.db) if e["outcome"] == "success"
                   and "reveal" in e["action"]]
        assert len(reveals) == 1 and str(person.id) in reveals[0]["target"]

        await wait_until(pilot, lambda: record.revealed is None)
        assert record.number_shown.startswith(masked)
        assert person.my_number not in screen_text(app)
        assert "個人番号を伏せました。" in screen_text(app)

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, LookupScreen)


async def test_a_revealed_number_is_masked_at_once_when_the_screen_locks(ctx: Context) -> None:
    person = add_person(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "rev1", name="確認太郎", roles=("reviewer",))
    app = JukiApp(ctx)
    assert ctx.settings.reveal_seconds >= 30  # the default: the lock, not the timer, masks
    async with app.run_test(size=SIZE) as pilot:
        await open_workspace(pilot, "rev1")
        await choose_purpose(pilot)
        await search_for(pilot, resident_code=person.code)
        await open_row(pilot, person.id)
        record = app.screen
        assert isinstance(record, ResidentScreen)
        await pilot.press("r")
        await settle(pilot)
        await give_reason(pilot, "窓口での本人確認")
        assert record.revealed is not None
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LockScreen)
        assert record.revealed is None
        assert record.number_shown.startswith(mask_my_number(person.my_number))


async def test_a_clerk_is_not_offered_the_reveal_at_all(ctx: Context) -> None:
    """No key, no hint, no reason asked only to be refused (the service still refuses
    and records it: tests/services/test_lookup_record.py)."""
    person = add_person(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        record = await to_record(pilot, "clerk1", person)
        offered = {b.binding.key for b in record.active_bindings.values() if b.binding.show}
        assert "r" not in offered and "m" in offered  # a clerk proposes links
        assert record.number_shown == mask_my_number(person.my_number)  # no "r で表示"
        before = len(events(ctx.db))
        await pilot.press("r")
        await settle(pilot)
        assert app.screen is record and record.revealed is None
        assert person.my_number not in screen_text(app)
        assert len(events(ctx.db)) == before


async def test_dv_record_is_refused_for_a_clerk_and_opened_by_a_dv_officer(
    ctx: Context,
) -> None:
    seed_register(ctx.db, Actor.cli(), residents=300, seed=1)
    person = add_person(ctx.db, "鷹司", "静香", "タカツカサ", "シズカ", dv=True)
    screen_user(ctx.db, ctx.settings, "clerk1")
    screen_user(ctx.db, ctx.settings, "dv1", name="支援花子", roles=("dv_officer",))

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(pilot, "clerk1")
        await choose_purpose(pilot)
        await search_for(pilot, resident_code=person.code)
        assert [h.restricted for h in screen.shown_rows()] == [True]
        assert RESTRICTED_MARK in screen_text(app)
        before = len(events(ctx.db))
        await open_row(pilot, person.id)
        await give_reason(pilot, "窓口での確認")
        assert app.screen is screen  # the record did not open
        assert message(app) and message(app).replace(" ", "") in screen_text(app)
        refused = [e for e in events(ctx.db)[before:]
                   if e["outcome"] == "refused" and e["severity"] == "high"]
        assert refused and str(person.id) in refused[0]["target"]

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await open_workspace(pilot, "dv1")
        await choose_purpose(pilot)
        await search_for(pilot, resident_code=person.code)
        before = len(events(ctx.db))
        await open_row(pilot, person.id)
        await pilot.press("escape")  # the reason dialog: cancelling opens nothing
        await settle(pilot)
        assert isinstance(app.screen, LookupScreen)
        assert len(events(ctx.db)) == before
        await open_row(pilot, person.id)
        await give_reason(pilot, "支援措置の継続審査")
        record = app.screen
        assert isinstance(record, ResidentScreen)
        assert record.record.resident_id == person.id and record.record.restricted
        shown = screen_text(app)
        assert RESTRICTED_MARK in shown and "鷹司静香" in shown.replace(" ", "")
        opened = [e for e in events(ctx.db)[before:] if e["outcome"] == "success"]
        assert opened and opened[-1]["severity"] == "high"


async def test_a_clerks_results_show_a_restricted_resident_as_marker_and_name_only(
    ctx: Context,
) -> None:
    """The reported case (issue 18): clerk1, F2, 住民票の写し等の交付, 氏名 「松本 芽依」.

    The demo register (``juki demo``: seed 1) holds her under 支援措置 at 東町三丁目11番地7号
    コーポさくら 203号室; the smaller register of seed 1 holds her too, and her household
    is flagged here as the seeder flags a DV household."""
    seed_register(ctx.db, Actor.cli(), residents=300, seed=1)
    with ctx.db.write() as s:
        her = s.exec(select(Resident).where(Resident.family_name == "松本",
                                            Resident.given_name == "芽依")).one()
        for member in s.exec(select(Resident).where(
                Resident.household_id == her.household_id)).all():
            member.dv_support = True
            s.add(member)
        assert her.address == "東町三丁目11番地7号 コーポさくら 203号室"
        her_id, born = her.id, her.birth_date
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(pilot, "clerk1")
        await choose_purpose(pilot, "住民票の写し等の交付")
        await search_for(pilot, name="松本 芽依")
        [hit] = screen.shown_rows()
        assert hit.resident_id == her_id and hit.restricted and hit.name == "松本 芽依"
        assert (hit.address, hit.birth_date, hit.kana, hit.sex) == ("", None, "", "")
        shown = screen_text(app)
        assert RESTRICTED_MARK in shown and "松本芽依" in shown.replace(" ", "")
        for leaked in ("東町", "コーポさくら", "203号", format_wareki(born)):
            assert leaked not in shown, leaked
    [ev] = [e for e in events(ctx.db) if e["action"] == "register.search"]
    assert ev["severity"] == "high" and f"[{her_id}]" in ev["details"].replace(" ", "")


async def test_removed_residents_only_when_asked_for(ctx: Context) -> None:
    living = add_person(ctx.db, "鷹司", "一郎", "タカツカサ", "イチロウ", sex="男")
    removed = add_person(ctx.db, "鷹司", "二郎", "タカツカサ", "ジロウ", sex="男", status="消除")
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(pilot, "clerk1")
        await choose_purpose(pilot)
        await search_for(pilot, name="鷹司", address="若葉町2-3-5")
        assert [h.resident_id for h in screen.shown_rows()] == [living.id]

        screen.query_one("#include-removed", Checkbox).value = True
        await search_for(pilot, name="鷹司", address="若葉町2-3-5")
        assert sorted(h.resident_id for h in screen.shown_rows()) == sorted(
            [living.id, removed.id])
        status = {h.resident_id: h.status for h in screen.shown_rows()}
        assert status[removed.id] == "消除"
        assert "消除" in screen_text(app)


async def test_markup_and_escape_in_a_name_are_shown_literally_and_inert(
    ctx: Context,
) -> None:
    person = add_person(ctx.db, MARKUP_FAMILY, ESC_GIVEN, "ヤマダ", "ハナコ")
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(pilot, "clerk1")
        await choose_purpose(pilot)
        await search_for(pilot, resident_code=person.code)
        assert [h.resident_id for h in screen.shown_rows()] == [person.id]
        literal = MARKUP_FAMILY + "花[31m子"
        shown = screen_text(app)
        assert literal in shown
        assert "\x1b" not in shown
        cells = screen.query_one("#results", DataTable).get_row_at(0)
        assert "\x1b" not in "".join(str(c) for c in cells)

        await open_row(pilot, person.id)
        assert isinstance(app.screen, ResidentScreen)
        shown = screen_text(app)
        assert literal in shown and "\x1b" not in shown
        await pilot.click("#record-title")  # a click on the name runs nothing
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, ResidentScreen)


async def test_a_reveal_after_a_while_asks_the_password_again(ctx: Context) -> None:
    from sqlalchemy import text as sql

    from screens.widgets import StepUpDialog

    person = add_person(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "rev1", name="確認太郎", roles=("reviewer",))
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await open_workspace(pilot, "rev1")
        await choose_purpose(pilot)
        await search_for(pilot, resident_code=person.code)
        await open_row(pilot, person.id)
        record = app.screen
        assert isinstance(record, ResidentScreen)
        with ctx.db.write() as s:  # twenty minutes pass at the counter
            s.connection().execute(sql(
                "UPDATE console_session SET last_auth_at = :t"),
                {"t": datetime.now(UTC) - timedelta(minutes=20)})
        await pilot.press("r")
        await settle(pilot)
        await give_reason(pilot, "窓口での本人確認")
        await wait_until(pilot, lambda: isinstance(app.screen, StepUpDialog))
        assert record.revealed is None
        await pilot.press(*"wrong-password-1", "enter")
        await wait_until(pilot, lambda: app.screen is record)
        assert record.revealed is None  # a wrong password reveals nothing
        await pilot.press("r")
        await settle(pilot)
        await give_reason(pilot, "窓口での本人確認")
        await wait_until(pilot, lambda: isinstance(app.screen, StepUpDialog))
        await pilot.press(*PASSWORD, "enter")
        await wait_until(pilot, lambda: record.revealed is not None)
        assert person.my_number in screen_text(app)
    outcomes = [(e["action"], e["outcome"]) for e in events(ctx.db)
                if e["action"] in ("register.reveal_my_number", "session.reauth")]
    assert outcomes == [
        ("register.reveal_my_number", "refused"), ("session.reauth", "failure"),
        ("register.reveal_my_number", "refused"), ("session.reauth", "success"),
        ("register.reveal_my_number", "success"),
    ]


async def test_an_unticked_box_is_empty_not_a_grey_cross(ctx: Context) -> None:
    """The state of 消除者を含む reads without colour: unticked, the cross is drawn in the
    box's own colour (invisible); ticked, it stands out."""
    from textual.widgets import Checkbox

    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(pilot, "clerk1")
        box = screen.query_one("#include-removed", Checkbox)
        off = box.get_visual_style("toggle--button")
        assert not box.value and off.foreground == off.background
        box.value = True
        await settle(pilot)
        on = box.get_visual_style("toggle--button")
        assert on.foreground != on.background


async def test_the_records_footer_keeps_every_key_in_view(ctx: Context) -> None:
    """With every record key offered (reveal, propose, unlink), the footer still ends with
    the sign-out and the palette: nothing a person needs is cut off at the edge."""
    person = add_person(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "both1", roles=("clerk", "reviewer"))
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await to_record(pilot, "both1", person)
        shown = screen_text(app)
        for label in ("番号表示", "紐付け起票", "解除起票", "サインアウト", "コマンド"):
            assert label in shown, label
