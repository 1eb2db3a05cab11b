"""操作ログ (F5) through Pilot: follow, pause with the waiting count, filters, the detail
pane, the refusal for a clerk and the record of reading. Both backends.

Events are appended with ``logs.audit`` as any other process would (the tail sees them
only through the database). Refusal texts are taken from the service, not copied.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Select

from auth.accounts import disable_user
from auth.signin import sign_in as service_sign_in
from console.app import JukiApp
from console.context import Context
from core.actor import Actor
from core.db import Database
from core.errors import BadInput, Refused
from logs.audit import events_after, record, record_alone
from screens.audit_tail import AuditTailScreen
from screens.audit_tail_view import ALERT_MARK, POINTER, TailView
from screens.home import HomeScreen
from screens.lock import LockScreen
from screens.widgets import WorkspaceEnv
from services.audit_tail import open_tail, parse_filter
from tests.factories import PASSWORD, screen_user
from tests.screens.drive import (
    SIZE,
    audit,
    open_workspace,
    screen_text,
    settle,
    sign_in,
    type_into,
    wait_until,
)

OFFICER = "security9"


def append(db: Database, n: int, *, login: str = "clerk7", action: str = "register.search",
           prefix: str = "m", **kw: Any) -> list[int]:
    """``n`` events in one transaction (as a busy office would write them); their seqs."""
    seqs = []
    with db.write() as s:
        for i in range(n):
            ev = record(s, Actor(login, None, "sess", "192.0.2.7"), action,
                        target=f"{prefix}{i:05d}", **kw)
            seqs.append(ev["seq"])
    return seqs


def last_seq(db: Database) -> int:
    return events_after(db, 0, 10**6)[-1]["seq"]


async def open_tail_screen(pilot: Pilot[Any]) -> tuple[AuditTailScreen, TailView]:
    screen = await open_workspace(pilot, "f5", AuditTailScreen)
    view = screen.query_one(TailView)
    await wait_until(pilot, lambda: len(view.seqs) > 0)
    return screen, view


def visible(view: TailView) -> list[int]:
    top = int(view.scroll_y)
    return list(view.seqs[top: top + view.scrollable_content_region.height])


@pytest.fixture
def officer(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, OFFICER, name="監査花子", roles=("security_officer",))


async def test_follows_pauses_with_the_waiting_count_and_resumes_on_end(
    ctx: Context, officer: None,
) -> None:
    append(ctx.db, 700)
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, OFFICER, PASSWORD)
        screen, view = await open_tail_screen(pilot)
        # The newest at the bottom: the screen's own audit.read is the last line.
        await wait_until(pilot, lambda: view.seqs[-1] == last_seq(ctx.db))
        assert view.following and visible(view)[-1] == view.seqs[-1]
        assert len(view.seqs) < 700  # one page, not the whole trail

        new = append(ctx.db, 5, prefix="new")
        await wait_until(pilot, lambda: visible(view)[-1] == new[-1])
        assert "new00004" in screen_text(app)

        await pilot.press("up")  # scrolling up pauses following
        await settle(pilot)
        assert not view.following
        shown_before = visible(view)
        waiting = append(ctx.db, 12, prefix="wait")
        await wait_until(pilot, lambda: view.waiting == 12)
        assert "新着12件—Endで最新へ" in screen_text(app)
        assert visible(view) == shown_before  # nothing moved under the reader
        assert "wait00011" not in screen_text(app)

        for _ in range(10):  # far enough up, the older events are read by seq
            await pilot.press("pageup")
            await settle(pilot)
        await wait_until(pilot, lambda: view.seqs[0] < 700 - 300)
        assert not view.following

        await pilot.press("end")
        await settle(pilot)
        await wait_until(pilot, lambda: visible(view)[-1] == waiting[-1])
        assert view.following and view.waiting == 0
        assert "wait00011" in screen_text(app)
        assert "追従中" in screen.status


WRITER = """
import sys
from console.context import Context
from core.actor import Actor
from logs.audit import record_alone
ctx = Context.from_env()
for i in range(int(sys.argv[1])):
    record_alone(ctx.db, Actor(sys.argv[2]), "bench.write", target=f"{sys.argv[2]}-{i}")
"""


async def test_every_event_from_writer_processes_reaches_the_tail_in_order(
    ctx: Context, officer: None, juki_env: dict[str, str], tmp_path: Path,
) -> None:
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, OFFICER, PASSWORD)
        _, view = await open_tail_screen(pilot)
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, "200", f"w{n}"], env=juki_env,
                             cwd=tmp_path)
            for n in range(2)
        ]
        await wait_until(pilot, lambda: all(w.poll() is not None for w in writers))
        assert [w.returncode for w in writers] == [0, 0]
        head = last_seq(ctx.db)
        await wait_until(pilot, lambda: view.seqs[-1] == head)
        # Commits from two processes interleave; the poll reads up to the head it saw, so
        # no event is skipped or shown twice.
        assert list(view.seqs) == list(range(view.seqs[0], head + 1))
        targets = [view.rows[s].target for s in view.seqs]
        for n in range(2):
            assert [t for t in targets if t.startswith(f"w{n}-")] == [
                f"w{n}-{i}" for i in range(200)]
        assert view.following


async def test_a_locked_console_stops_reading_and_resumes_at_the_newest(
    ctx: Context, officer: None,
) -> None:
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, OFFICER, PASSWORD)
        screen, view = await open_tail_screen(pilot)
        assert screen.poller is not None
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
        assert screen.poller is None  # nothing read while the screen is covered
        shown = len(view.seqs)
        new = append(ctx.db, 20, prefix="locked")
        await pilot.pause(0.3)
        assert len(view.seqs) == shown
        await type_into(pilot, "#unlock-password", PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen and screen.poller is not None)
        await wait_until(pilot, lambda: new[-1] in view.seqs and view.following)
        assert "locked00019" in screen_text(app)


async def test_home_reads_from_the_start_and_end_returns_to_the_head(
    ctx: Context, officer: None,
) -> None:
    append(ctx.db, 400)
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, OFFICER, PASSWORD)
        _, view = await open_tail_screen(pilot)
        assert view.seqs[0] > 1
        await pilot.press("home")
        await wait_until(pilot, lambda: view.seqs[0] == 1 and int(view.scroll_y) == 0)
        assert not view.following
        await pilot.press("end")
        await wait_until(pilot, lambda: view.following and view.seqs[-1] == last_seq(ctx.db))


async def test_filters_narrow_and_each_filter_is_recorded(ctx: Context, officer: None) -> None:
    append(ctx.db, 30, login="clerk7", prefix="c7-")
    append(ctx.db, 4, login="clerk8", action="register.open", prefix="c8-")
    record_alone(ctx.db, Actor("clerk8"), "register.open", target="resident:4242",
                 outcome="refused", severity="warning")
    append(ctx.db, 1, login="dv1", action="register.open", prefix="dv-", severity="high")
    record_alone(ctx.db, Actor("clerk9"), "register.search", target="register",
                 details={"residents": [17, 4242], "count": 2})
    record_alone(ctx.db, Actor("clerk9"), "register.search", target="register",
                 details={"residents": [14242], "count": 1})  # another resident's id

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, OFFICER, PASSWORD)
        screen, view = await open_tail_screen(pilot)

        async def apply(selector: str, value: str) -> list[Any]:
            before = screen.gen
            await type_into(pilot, selector, value)
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.gen > before and screen.reader is not None
                             and screen.reader.filter == parse_filter(**screen.filter_inputs()))
            await settle(pilot)
            return [view.rows[s] for s in view.seqs]

        rows = await apply("#f-actor", "clerk8")
        assert {r.actor for r in rows} == {"clerk8"} and len(rows) == 5
        rows = await apply("#f-action", "register")  # an action and everything under it
        assert len(rows) == 5
        await type_into(pilot, "#f-actor", "")
        rows = await apply("#f-resident", "4242")
        assert [(r.actor, r.target) for r in rows] == [
            ("clerk8", "resident:4242"), ("clerk9", "register")]
        await type_into(pilot, "#f-resident", "")
        await type_into(pilot, "#f-action", "")
        screen.query_one("#f-severity", Select).value = "high"
        await wait_until(pilot, lambda: screen.reader is not None
                         and screen.reader.filter.severity == "high")
        await settle(pilot)
        rows = [view.rows[s] for s in view.seqs]
        assert [r.actor for r in rows] == ["dv1"]
        shown = screen_text(app)
        assert ALERT_MARK in shown and "重大" in shown  # the alert stands out
        with screen.prevent(Select.Changed):
            screen.query_one("#f-severity", Select).clear()
        rows = await apply("#f-until", "2001-01-01")  # a range with nothing in it
        assert rows == []
        rows = await apply("#f-until", "")
        assert len(rows) > 30
        rows = await apply("#f-since", "R1.5.1 09:30")  # 和暦 and a time
        assert len(rows) > 30

        reads = [d for a, o, d in audit(ctx.db) if a == "audit.read" and o == "success"]
        assert reads[0]["reason"] == "open" and reads[0]["filter"] == {}
        filters = [d["filter"] for d in reads if d["reason"] == "filter"]
        assert {"actor": "clerk8"} in filters
        assert {"actor": "clerk8", "action": "register"} in filters
        assert {"action": "register", "resident": 4242} in filters
        assert {"severity": "high"} in filters
        assert any(set(f) == {"until"} for f in filters)

        await type_into(pilot, "#f-since", "2026-13-40")  # the field is named
        await pilot.press("enter")
        await wait_until(pilot, lambda: "開始日時" in screen.message)


async def test_detail_pane_shows_the_whole_event_inert(ctx: Context, officer: None) -> None:
    hostile = "[@click=app.quit]x[/] \x1b[31mred\x1b]0;title\x07 \u202eevil"
    ev = record_alone(ctx.db, Actor("clerk7", None, "s-77", "198.51.100.4"), "register.open",
                      target=hostile, purpose="[b]purpose[/b]", outcome="alert",
                      severity="high", details={"note": hostile, "residents": [5, 6]})
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, OFFICER, PASSWORD)
        screen, view = await open_tail_screen(pilot)
        index = list(view.seqs).index(ev["seq"])
        await pilot.press("up")
        view._move_cursor(index)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.detail_event is not None)
        assert screen.detail_event is not None and screen.detail_event["seq"] == ev["seq"]
        shown = screen_text(app)
        assert POINTER in shown
        for value in ("s-77", "198.51.100.4", "[b]purpose[/b]", ev["hash"], ev["prev_hash"],
                      "[@click=app.quit]x[/]", '"residents":[', '"note":'):
            assert value.replace(" ", "") in shown, value
        assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
        assert isinstance(app.screen, AuditTailScreen)  # the click markup did nothing
        await pilot.press("up")  # the open pane follows the cursor
        await wait_until(pilot, lambda: screen.detail_event is not None
                         and screen.detail_event["seq"] == view.seqs[index - 1])
        await pilot.press("escape")  # closes the pane, then leaves the workspace
        await settle(pilot)
        assert screen.detail_event is None and isinstance(app.screen, AuditTailScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_a_clerk_is_refused_by_the_service_and_the_refusal_recorded(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1", roles=("clerk",))
    clerk = service_sign_in(ctx.db, ctx.settings, "clerk1", PASSWORD, "192.0.2.20")
    with pytest.raises(Refused) as refused:
        open_tail(ctx.db, clerk)
    assert audit(ctx.db)[-1][:2] == ("audit.read", "refused")

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        await pilot.press("f5")  # not offered: nothing opens
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        # Hiding is not the control: the screen pushed anyway gets the service's refusal.
        ident = app.screen.env.identity
        screen = AuditTailScreen(WorkspaceEnv(ctx.db, ctx.settings, ident))
        await app.push_screen(screen)
        await wait_until(pilot, lambda: screen.message == refused.value.message)
        assert len(screen.query_one(TailView).seqs) == 0
    refusals = [e for e in audit(ctx.db) if e[:2] == ("audit.read", "refused")]
    assert len(refusals) == 2 and refusals[-1][2]["permission"] == "audit.read"


def test_reading_is_recorded_with_the_filter_and_bad_input_names_the_field(
    ctx: Context, officer: None,
) -> None:
    ident = service_sign_in(ctx.db, ctx.settings, OFFICER, PASSWORD, "192.0.2.21")
    flt = parse_filter(actor="clerk7", outcome="refused", resident="12",
                       since="2026-04-01", until="R8.4.1")
    reader = open_tail(ctx.db, ident, flt, reason="filter")
    ev = events_after(ctx.db, 0, 10**6)[-1]
    assert (ev["action"], ev["outcome"], ev["actor"]) == ("audit.read", "success", OFFICER)
    assert json.loads(ev["details"])["filter"] == {
        "actor": "clerk7", "outcome": "refused", "resident": 12,
        "since": "2026-03-31T15:00:00.000000Z", "until": "2026-04-01T15:00:00.000000Z",
    }
    assert reader.newer(0) == ([], ev["seq"])  # nothing matches; the poll moves on
    for field, value, label in (("outcome", "oops", "結果"), ("resident", "abc", "住民"),
                                ("since", "yesterday", "開始日時")):
        with pytest.raises(BadInput, match=label):
            parse_filter(**{field: value})
    with pytest.raises(BadInput, match="終了日時"):
        parse_filter(since="2026-04-02", until="2026-04-01 09:00")


@pytest.mark.parametrize("window", [128, 50_000])
def test_paging_back_by_seq_ranges_under_a_rare_filter(
    ctx: Context, officer: None, monkeypatch: pytest.MonkeyPatch, window: int,
) -> None:
    monkeypatch.setattr("logs.tail.WINDOW", window)  # small: many seq windows per page
    append(ctx.db, 50, login="rare1", prefix="r")
    append(ctx.db, 3000, prefix="x")
    ident = service_sign_in(ctx.db, ctx.settings, OFFICER, PASSWORD, "192.0.2.21")
    reader = open_tail(ctx.db, ident, parse_filter(actor="rare1"))
    page = reader.older(reader.head() + 1, 20)
    assert [ln.target for ln in page.lines] == [f"r{i:05d}" for i in range(30, 50)]
    older = reader.older(page.next_before, 100)
    assert [ln.target for ln in older.lines] == [f"r{i:05d}" for i in range(30)]
    assert older.next_before <= 1


def test_a_tail_stops_when_the_reader_loses_the_permission(ctx: Context, officer: None) -> None:
    ident = service_sign_in(ctx.db, ctx.settings, OFFICER, PASSWORD, "192.0.2.21")
    reader = open_tail(ctx.db, ident, recheck_seconds=0)
    lines, after = reader.newer(0)
    assert lines and after == lines[-1].seq
    disable_user(ctx.db, Actor.cli(), OFFICER)  # a leaver, mid-tail
    append(ctx.db, 3)
    with pytest.raises(Refused):
        reader.newer(after)
    with pytest.raises(Refused):  # and stays refused, recorded once
        reader.older(after)
    refusals = [e for e in audit(ctx.db) if e[:2] == ("audit.read", "refused")]
    assert len(refusals) == 1


async def test_a_rare_filter_keeps_looking_back_window_by_window(
    ctx: Context, officer: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logs.tail

    append(ctx.db, 10, login="rare1", prefix="r")
    append(ctx.db, 1000)
    monkeypatch.setattr(logs.tail, "WINDOW", 64)
    kwdefaults = logs.tail.before.__kwdefaults__
    assert kwdefaults is not None
    monkeypatch.setitem(kwdefaults, "budget_seconds", 0.0)  # one window per read
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, OFFICER, PASSWORD)
        screen, view = await open_tail_screen(pilot)
        await type_into(pilot, "#f-actor", "rare1")
        await pilot.press("enter")
        await wait_until(pilot, lambda: view.start_reached and len(view.seqs) == 10)
        assert [view.rows[s].target for s in view.seqs] == [f"r{i:05d}" for i in range(10)]
        assert "r00009" in screen_text(app)
        assert screen.reader is not None and screen.reader.filter.actor == "rare1"
