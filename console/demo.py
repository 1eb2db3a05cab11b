"""``juki demo``: a database with synthetic residents and one account per role.

Only an empty register is prepared: when residents are already there, nothing is
added or changed (a real register never gets demo accounts with a published password).
Loaded by ``juki demo`` when it runs (console/commands/demo.py), so its services weigh
on no other command's start-up.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import select

from auth.accounts import add_user, list_users
from auth.roles import role_label
from console.context import Context
from core.actor import Actor
from services.personnel.rounds import import_round
from services.personnel.staff import import_staff
from services.register.models import Resident
from services.register.seed import seed_register
from services.schema import init_schema

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
    with ctx.db.read() as s:
        return int(s.exec(select(func.count()).select_from(Resident)).one())


# The staff registry behind the demo accounts (所属・職 as the role policy knows them), and
# one more person whose promotion the demo's change round carries.
DEMO_STAFF = (
    "職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日,ログイン名\n"
    "1001,山田 花子,ヤマダ ハナコ,市民課,係員,正規,,在職,2026-05-20,clerk1\n"
    "1002,佐藤 健,サトウ ケン,市民課,係長,正規,,在職,2026-05-20,reviewer1\n"
    "1003,中村 翼,ナカムラ ツバサ,市民課,係員,正規,,在職,2025-04-10,clerk2\n"
    "1004,伊藤 恵,イトウ メグミ,市民課,支援措置担当,正規,,在職,2026-05-20,dv1\n"
    "2001,鈴木 一郎,スズキ イチロウ,情報政策課,主査,正規,,在職,2026-05-20,admin1\n"
    "2002,髙橋 真理,タカハシ マリ,情報政策課,セキュリティ担当,正規,,在職,2026-05-20,security1\n"
    "3001,田中 誠,タナカ マコト,監査委員事務局,主査,正規,,在職,2026-05-20,auditor1\n"
    "5001,小林 優,コバヤシ ユウ,市民課,会計年度任用職員,会計年度任用,2027-03-31,在職,,\n"
)


def _personnel_demo(ctx: Context, out: Callable[[str], None]) -> None:
    """A staff registry and one change round for the F4 workspace: clerk2 (中村 翼) is
    promoted to 係長 today — the clerk role went at once, the reviewer role waits for an
    admin (admin1) to apply it and then for someone else (security1) to re-confirm."""
    add_user(ctx.db, ctx.settings, Actor.cli(), login="clerk2", name="中村 翼",
             roles=["clerk"], password=DEMO_PASSWORD, department="市民課 住民記録係")
    import_staff(ctx.db, Actor.cli(), name="demo-staff.csv", data=DEMO_STAFF.encode())
    change = ("発令日,職員番号,氏名,異動区分,旧所属,新所属,旧職,新職\n"
              f"{date.today().isoformat()},1003,中村 翼,転入,市民課,市民課,係員,係長\n")
    done = import_round(ctx.db, ctx.settings, Actor.cli(), name="demo-idou.csv",
                        data=change.encode())
    out(f"権限見直しのデモ: 異動処理 #{done.round_id} (clerk2 中村 翼 の係長への昇任)。"
        "admin1 で F4 から付与を適用し、security1 で再確認できます。")


def prepare_demo(ctx: Context, out: Callable[[str], None]) -> None:
    """Prepare the demo register if it is empty, then tell the user how to sign in."""
    init_schema(ctx.db)
    where = ctx.db.url.render_as_string(hide_password=True)
    if _resident_count(ctx) == 0:
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
        _personnel_demo(ctx, out)
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
