"""``juki demo``: a database with synthetic residents and one account per role.

Only an empty register is prepared: when residents are already there, nothing is
added or changed (a real register never gets demo accounts with a published password).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from console.context import Context

DEMO_PASSWORD = "sakura-demo-2026"
DEMO_RESIDENTS = 3000
DEMO_SEED = 1


@dataclass(frozen=True)
class DemoAccount:
    login: str
    name: str
    role: str
    department: str


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("clerk1", "山田 花子", "clerk", "市民課 住民記録係"),
    DemoAccount("reviewer1", "佐藤 健", "reviewer", "市民課 住民記録係"),
    DemoAccount("admin1", "鈴木 一郎", "admin", "情報政策課"),
    DemoAccount("security1", "髙橋 真理", "security_officer", "情報政策課"),
    DemoAccount("auditor1", "田中 誠", "auditor", "監査委員事務局"),
    DemoAccount("dv1", "伊藤 恵", "dv_officer", "市民課 支援措置担当"),
)


def _width(text: str) -> int:
    """Columns on a terminal: East Asian wide and fullwidth characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _resident_count(ctx: Context) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from services.register.models import Resident

    with ctx.db.read() as s:
        return int(s.exec(select(func.count()).select_from(Resident)).one())


def prepare_demo(ctx: Context, out: Callable[[str], None]) -> None:
    """Prepare the demo register if it is empty, then tell the user how to sign in."""
    from auth.accounts import add_user, list_users
    from auth.roles import role_label
    from core.actor import Actor
    from services.schema import init_schema

    init_schema(ctx.db)
    where = ctx.db.url.render_as_string(hide_password=True)
    if _resident_count(ctx) == 0:
        from services.register.seed import seed_register

        out(f"デモ用データベースを用意しています: {where}")
        out(f"合成の住民記録を {DEMO_RESIDENTS} 人分作成しています…")
        summary = seed_register(ctx.db, Actor.cli(), residents=DEMO_RESIDENTS, seed=DEMO_SEED)
        out(str(summary))
        existing = {a.login for a in list_users(ctx.db)}
        for acct in DEMO_ACCOUNTS:
            if acct.login not in existing:
                add_user(
                    ctx.db, ctx.settings, Actor.cli(), login=acct.login, name=acct.name,
                    roles=[acct.role], password=DEMO_PASSWORD, department=acct.department,
                )
        out("デモ用アカウントを作成しました。")
    else:
        out(f"既存のデモ用データベースをそのまま使います: {where}")

    present = {a.login: a for a in list_users(ctx.db)}
    demo = [a for a in DEMO_ACCOUNTS if a.login in present and not present[a.login].disabled]
    if not demo:
        out("デモ用アカウントはありません。juki user add でアカウントを追加してください。")
        return
    out("")
    out(f"デモ用アカウント (パスワードはすべて {DEMO_PASSWORD}):")
    rows = [(a.login, f"{role_label(a.role)} ({a.role})", a.name, a.department) for a in demo]
    widths = [max(_width(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        out("  " + "  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=False))
            + "  " + row[3])
    out("")
    out("コンソールが開いたら、ログイン名とパスワードを入力して Enter を押してください。")
    out("ctrl+l で画面をロック、ctrl+o でサインアウト、ctrl+q で終了します。")
