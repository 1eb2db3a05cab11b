"""権限見直し (F4) through Pilot: apply, confirm, dispute, self-confirm, self-grant, report.

The services decide (services.personnel.apply / confirm / rounds); these tests drive the
screens as the admin and the second person would and check what is painted, what the
database holds and what the audit trail recorded. Refusal texts are not copied here:
each is taken from the service itself (the same call made again), so the screen is shown
to pass the service's words through unchanged.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from textual.pilot import Pilot
from textual.widgets import DataTable

from auth.accounts import list_users
from auth.identity import Identity
from auth.signin import sign_in as service_sign_in
from console.app import JukiApp
from console.context import Context
from core.errors import BadInput, Refused
from screens.access_review import AccessReviewScreen
from screens.access_round import (
    APPLIED,
    CONFIRMED,
    DISPUTE_REQUIRED,
    DISPUTED,
    AccessRoundScreen,
    change_text,
)
from screens.home import TODO_TITLE, HomeScreen
from screens.widgets import CommentDialog
from services.personnel.apply import apply_change
from services.personnel.confirm import confirm_change, waiting
from services.personnel.models import ChangeRound
from services.personnel.report import export_round_report
from services.personnel.rounds import RightsLine, get_line, import_round, round_lines
from services.personnel.staff import link_account
from tests.factories import ADMIN, PASSWORD, account, screen_user
from tests.screens.drive import (
    SIZE,
    answer,
    audit,
    enter_row,
    open_workspace,
    painted,
    press,
    screen_text,
    settle,
    sign_in,
    to_row,
    type_into,
    wait_until,
)
from tests.services.personnel_setup import DAY, csv_file, registry

WIDE = (220, 40)

# --- the registry and a round ------------------------------------------------------------


def applied_round(ctx: Context, *, grant_by: Identity | None = None) -> dict[str, RightsLine]:
    """山田 花子 (4001) moves into 市民課 (a clerk grant) and suzuki retires (revoked on
    import). 山田 gets an account of her own, linked; the grant is applied when asked."""
    done = import_round(ctx.db, ctx.settings, ADMIN, name="idou.csv", data=csv_file(
        "2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員",
        "2026-04-01,1002,職員 suzuki,退職,市民課,,,",
    ), today=DAY)
    account(ctx.db, ctx.settings, "yamada", ["auditor"], name="山田 花子", department="総務課")
    link_account(ctx.db, ADMIN, "4001", "yamada")
    if grant_by is not None:
        grant = next(ln for ln in round_lines(ctx.db, done.round_id) if ln.action == "grant")
        apply_change(ctx.db, grant_by, grant.id)
    return {ln.action: ln for ln in round_lines(ctx.db, done.round_id)}


def line_now(ctx: Context, line_id: int) -> RightsLine:
    return get_line(ctx.db, line_id)


def roles_of(ctx: Context, login: str) -> tuple[str, ...]:
    return next(a.roles for a in list_users(ctx.db) if a.login == login)


def rounds_count(ctx: Context) -> int:
    with ctx.db.read() as s:
        count = select(func.count()).select_from(ChangeRound.__table__)  # type: ignore[attr-defined]
        return int(s.connection().execute(count).scalar_one())


# --- driving the screens ------------------------------------------------------------------


async def open_rounds(pilot: Pilot[Any]) -> AccessReviewScreen:
    return await open_workspace(pilot, "f4", AccessReviewScreen)


async def open_round(pilot: Pilot[Any], round_id: int) -> AccessRoundScreen:
    rounds = await open_rounds(pilot)
    await enter_row(pilot, rounds.query_one("#rounds", DataTable),
                    [r.id for r in rounds.rounds].index(round_id))
    screen = pilot.app.screen
    assert isinstance(screen, AccessRoundScreen), type(screen).__name__
    await wait_until(pilot, lambda: bool(screen.lines))
    return screen


async def choose(pilot: Pilot[Any], screen: AccessRoundScreen, line_id: int) -> None:
    await to_row(pilot, screen.query_one("#lines", DataTable),
                 [ln.id for ln in screen.shown_lines()].index(line_id))


async def comment(pilot: Pilot[Any], words: str) -> None:
    await answer(pilot, CommentDialog, words)


def row_for(screen: AccessRoundScreen, staff_no: str, change: str) -> list[str]:
    return next(r for r in screen.table_rows() if r[1] == staff_no and r[4] == change)


def outcomes(ctx: Context, action: str, since: int = 0) -> list[str]:
    return [o for a, o, _ in audit(ctx.db)[since:] if a == action]


# --- the tests ------------------------------------------------------------------------------


async def test_an_admin_applies_a_grant_from_the_screen(ctx: Context) -> None:
    registry(ctx.db, ctx.settings)
    lines = applied_round(ctx)
    grant, revoke = lines["grant"], lines["revoke"]
    assert grant.state_label == "未適用" and "clerk" not in roles_of(ctx, "yamada")

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "kato", PASSWORD)
        screen = await open_round(pilot, grant.round_id)
        assert row_for(screen, "4001", "付与")[6] == "未適用"
        await painted(pilot, "令和8年4月1日", "山田 花子", "未適用")

        # a revocation is the mechanism's, not the admin's: the service says so
        await choose(pilot, screen, revoke.id)
        await press(pilot, "a")
        with pytest.raises(BadInput) as info:
            apply_change(ctx.db, ADMIN, revoke.id)
        assert screen.message == info.value.message

        await choose(pilot, screen, grant.id)
        await press(pilot, "a")
        assert screen.message == APPLIED.format(id=grant.id, name="山田 花子",
                                                change=change_text(grant))
        after = line_now(ctx, grant.id)
        assert (after.state_label, after.applied_by) == ("確認待ち", "kato")
        assert "clerk" in roles_of(ctx, "yamada")
        await wait_until(pilot, lambda: row_for(screen, "4001", "付与")[6] == "確認待ち")
        assert row_for(screen, "4001", "付与")[7] == "kato"
        assert outcomes(ctx, "access.grant") == ["refused", "refused", "success"]


async def test_a_second_person_confirms_a_line(ctx: Context) -> None:
    people = registry(ctx.db, ctx.settings)
    grant = applied_round(ctx, grant_by=people["kato"])["grant"]

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sec", PASSWORD)
        screen = await open_round(pilot, grant.round_id)
        await choose(pilot, screen, grant.id)
        await press(pilot, "c")
        assert screen.message == CONFIRMED.format(id=grant.id, name="山田 花子",
                                                  change=change_text(grant))
        after = line_now(ctx, grant.id)
        assert (after.verdict, after.confirmed_by) == ("confirmed", "sec")
        await wait_until(pilot, lambda: row_for(screen, "4001", "付与")[6] == "確認済み")
        assert row_for(screen, "4001", "付与")[8] == "sec"
        await painted(pilot, "確認済み")
        assert outcomes(ctx, "access.confirm") == ["success"]


async def test_a_dispute_needs_a_comment_and_records_it(ctx: Context) -> None:
    registry(ctx.db, ctx.settings)
    revoke = applied_round(ctx)["revoke"]  # applied by the mechanism on import
    assert revoke.state_label == "確認待ち"

    app = JukiApp(ctx)
    async with app.run_test(size=WIDE) as pilot:  # wide enough for the comment column
        await sign_in(pilot, "takaha", PASSWORD)
        screen = await open_round(pilot, revoke.round_id)
        await choose(pilot, screen, revoke.id)
        await press(pilot, "d")
        await comment(pilot, "")  # the dialog says a reason is needed and stays open
        assert isinstance(pilot.app.screen, CommentDialog)
        assert DISPUTE_REQUIRED in screen_text(pilot.app)
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.screen is screen
        assert line_now(ctx, revoke.id).verdict == ""
        takaha = service_sign_in(ctx.db, ctx.settings, "takaha", PASSWORD)
        with pytest.raises(BadInput):  # the service's own rule, whoever asks
            confirm_change(ctx.db, takaha, revoke.id, "disputed", "")
        assert outcomes(ctx, "access.dispute") == ["refused"]

        await press(pilot, "d")
        await comment(pilot, "退職日が違う [b]要確認[/b]")
        assert screen.message == DISPUTED.format(id=revoke.id, name="職員 suzuki",
                                                 change=change_text(revoke))
        after = line_now(ctx, revoke.id)
        assert (after.verdict, after.confirmed_by) == ("disputed", "takaha")
        assert after.comment == "退職日が違う [b]要確認[/b]"
        await wait_until(pilot, lambda: row_for(screen, "1002", "削除")[6] == "異議あり")
        assert row_for(screen, "1002", "削除")[10] == "退職日が違う [b]要確認[/b]"
        await painted(pilot, "異議あり", "[b]要確認[/b]")
        assert outcomes(ctx, "access.dispute")[-1] == "success"


async def test_self_confirmation_is_refused_on_screen(ctx: Context) -> None:
    registry(ctx.db, ctx.settings)
    # an admin who also holds the review permission: may apply, may review others' lines
    screen_user(ctx.db, ctx.settings, "boss", name="二役 太郎",
              roles=("admin", "security_officer"), department="情報政策課")
    grant = applied_round(ctx)["grant"]

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "boss", PASSWORD)
        screen = await open_round(pilot, grant.round_id)
        await choose(pilot, screen, grant.id)
        await press(pilot, "a")
        assert line_now(ctx, grant.id).applied_by == "boss"
        await wait_until(pilot, lambda: row_for(screen, "4001", "付与")[6] == "確認待ち")
        await press(pilot, "c")
        refused = screen.message
        assert line_now(ctx, grant.id).verdict == ""
        assert outcomes(ctx, "access.confirm") == ["refused"]
        await painted(pilot, refused)
        assert row_for(screen, "4001", "付与")[6] == "確認待ち"

    boss = service_sign_in(ctx.db, ctx.settings, "boss", PASSWORD)
    with pytest.raises(Refused) as info:
        confirm_change(ctx.db, boss, grant.id, "confirmed")
    assert refused == info.value.message and "自分が適用" in refused


async def test_an_admin_cannot_apply_a_grant_to_their_own_account_on_screen(
    ctx: Context,
) -> None:
    registry(ctx.db, ctx.settings)
    # kato (情報政策課, admin) becomes its 課長: a security_officer grant to himself
    done = import_round(ctx.db, ctx.settings, ADMIN, name="idou.csv", data=csv_file(
        "2026-04-01,2001,職員 kato,転入,情報政策課,情報政策課,主査,課長",
    ), today=DAY)
    [own] = [ln for ln in round_lines(ctx.db, done.round_id) if ln.action == "grant"]
    assert (own.login, own.role, own.state_label) == ("kato", "security_officer", "未適用")
    since = len(audit(ctx.db))

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "kato", PASSWORD)
        screen = await open_round(pilot, done.round_id)
        await choose(pilot, screen, own.id)
        await press(pilot, "a")
        refused = screen.message
        await painted(pilot, refused)
        assert row_for(screen, "2001", "付与")[6] == "未適用"

    assert line_now(ctx, own.id).state_label == "未適用"
    assert roles_of(ctx, "kato") == ("admin",)
    grants = [(o, d) for a, o, d in audit(ctx.db)[since:] if a == "access.grant"]
    assert grants == [("refused", {"reason": refused})]
    kato = service_sign_in(ctx.db, ctx.settings, "kato", PASSWORD)
    with pytest.raises(Refused) as info:  # the service's own rule, and its words
        apply_change(ctx.db, kato, own.id)
    assert refused == info.value.message and "自分自身" in refused


async def test_the_home_screen_shows_overdue_reconfirmations(ctx: Context) -> None:
    people = registry(ctx.db, ctx.settings)
    applied_round(ctx, grant_by=people["kato"])
    with ctx.db.write() as s:  # applied long ago: the re-confirmations are overdue
        s.connection().execute(text("UPDATE rights_change SET applied_at = :t "
                                    "WHERE state = 'applied'"), {"t": "2026-01-01 00:00:00+00:00"})
    expected = waiting(ctx.db, ctx.settings, people["sec"])
    assert any("期限（7日）を過ぎた" in w for w in expected), expected

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sec", PASSWORD)
        home = pilot.app.screen
        assert isinstance(home, HomeScreen)
        await wait_until(pilot, lambda: home.todo == expected)
        await painted(pilot, TODO_TITLE, *expected)

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sato", PASSWORD)  # a clerk: nothing to act on, no section
        home = pilot.app.screen
        assert isinstance(home, HomeScreen)
        await settle(pilot)
        assert home.todo == []
        assert TODO_TITLE not in screen_text(app)


async def test_import_from_the_screen_bad_file_writes_nothing_and_names_stay_literal(
    ctx: Context, tmp_path: Path,
) -> None:
    registry(ctx.db, ctx.settings)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_file("2026-04-01,5001,[b]x[/b],採用,,市民課,,係員",
                             "2026-04-01,1002,職員 suzuki,昇任,市民課,市民課,係員,係長"))
    good = tmp_path / "good.csv"
    good.write_bytes(csv_file("2026-04-01,5001,[b]x[/b],採用,,市民課,,係員"))

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "kato", PASSWORD)
        rounds = await open_rounds(pilot)
        await press(pilot, "i")
        await type_into(pilot, "#import-path", str(tmp_path / "missing.csv"))
        await press(pilot, "enter")
        assert "missing.csv" in rounds.message and rounds.message.startswith("異動ファイル")

        await type_into(pilot, "#import-path", str(bad))
        await press(pilot, "enter")
        refused = rounds.message
        assert "3行目 異動区分" in refused
        assert rounds_count(ctx) == 0 and rounds.rounds == []
        assert outcomes(ctx, "hr.import") == ["refused"]

        await type_into(pilot, "#import-path", str(good))
        await press(pilot, "enter")
        await wait_until(pilot, lambda: len(rounds.rounds) == 1)
        [summary] = rounds.rounds
        assert f"#{summary.id}" in rounds.message and summary.source_name == "good.csv"
        assert outcomes(ctx, "hr.import") == ["refused", "success"]

        await press(pilot, "enter")
        screen = pilot.app.screen
        assert isinstance(screen, AccessRoundScreen)
        await wait_until(pilot, lambda: bool(screen.lines))
        assert row_for(screen, "5001", "付与")[2] == "[b]x[/b]"
        await painted(pilot, "[b]x[/b]")

    with pytest.raises(BadInput) as info:  # the same file again, outside the console
        import_round(ctx.db, ctx.settings, ADMIN, name="bad.csv", data=bad.read_bytes())
    assert refused == info.value.message


def written_path(message: str) -> Path:
    """The file a report message names (「ファイル: <path>」; the message line shows the
    message on one line, and the test's paths hold no spaces)."""
    found = re.search(r"ファイル: (\S+)", message)
    assert found, message
    return Path(found.group(1))


@pytest.mark.skipif(not shutil.which("pdftotext"),
                    reason="poppler-utils (pdftotext) not installed; dev/test installs it")
async def test_the_round_report_as_csv_and_pdf_from_the_screen(ctx: Context) -> None:
    people = registry(ctx.db, ctx.settings)
    grant = applied_round(ctx, grant_by=people["kato"])["grant"]
    reports = ctx.settings.resolved_data_dir / "reports"

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sec", PASSWORD)
        screen = await open_round(pilot, grant.round_id)
        await press(pilot, "v")
        await wait_until(pilot, lambda: "ファイル:" in screen.message)
        csv_path = written_path(screen.message)
        await press(pilot, "r")
        await wait_until(pilot, lambda: ".pdf" in screen.message)
        pdf_path = written_path(screen.message)

    assert csv_path.parent == reports and pdf_path.parent == reports
    assert sorted(p.name for p in reports.iterdir()) == sorted([csv_path.name, pdf_path.name])
    data = csv_path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "山田 花子" in data.decode("utf-8-sig")
    text = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, check=True,
                          text=True).stdout
    assert "権限変更一覧" in text
    assert outcomes(ctx, "access.report") == ["success", "success"]


async def test_the_round_report_is_not_offered_without_the_permission_and_refused_once_lost(
    ctx: Context,
) -> None:
    """A clerk has no F4, so no report key. The only one who meets the key without the
    permission is someone who loses it with the round open (the screen holds the sign-in's
    snapshot): the service checks again, refuses in its words and records it."""
    people = registry(ctx.db, ctx.settings)
    grant = applied_round(ctx, grant_by=people["kato"])["grant"]
    reports = ctx.settings.resolved_data_dir / "reports"

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sato", PASSWORD)  # a clerk
        home = pilot.app.screen
        assert isinstance(home, HomeScreen)
        assert "f4" not in {ws.key for ws in home.workspaces}
        before = len(audit(ctx.db))
        await press(pilot, "f4")
        assert pilot.app.screen is home and "権限見直し" not in screen_text(app)
        assert len(audit(ctx.db)) == before

    # takaha (a reviewer) retires while the round is open: the import revokes his role and
    # ends his session at once. The console's session check would close it within seconds;
    # an hour here holds that window open, in which the key is still on the screen.
    app = JukiApp(ctx, session_check_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "takaha", PASSWORD)
        screen = await open_round(pilot, grant.round_id)
        import_round(ctx.db, ctx.settings, ADMIN, name="taishoku.csv", data=csv_file(
            "2026-04-01,1003,職員 takaha,退職,市民課,,,"), today=DAY)
        assert "reviewer" not in roles_of(ctx, "takaha")
        offered = {b.binding.key for b in screen.active_bindings.values() if b.binding.show}
        assert "v" in offered
        since = len(audit(ctx.db))
        await press(pilot, "v")
        refused = screen.message
        await painted(pilot, refused)

    assert not reports.exists() or not any(reports.iterdir())
    assert outcomes(ctx, "access.report", since) == ["refused"]
    with pytest.raises(Refused) as info:  # the service's own rule, and its words
        export_round_report(ctx.db, ctx.settings, people["takaha"], grant.round_id, "csv")
    assert refused == info.value.message and "権限がありません" in refused
