"""``prepare_demo``: an empty register gets residents and one account per role, once."""

from __future__ import annotations

from auth.accounts import list_users
from auth.roles import ROLES
from auth.signin import sign_in
from console.context import Context
from console.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, prepare_demo
from core.db import Database
from core.settings import Settings
from logs.audit import last_seq


def test_prepares_an_empty_register_once(db: Database, settings: Settings) -> None:
    ctx = Context(settings=settings, db=db)
    lines: list[str] = []
    prepare_demo(ctx, lines.append)
    said = "\n".join(lines)

    accounts = {a.login: a for a in list_users(db)}
    assert {a.login for a in DEMO_ACCOUNTS} <= set(accounts)
    assert {r for a in accounts.values() for r in a.roles} == set(ROLES)  # every role
    for demo in DEMO_ACCOUNTS:
        assert demo.login in said
        ident = sign_in(db, settings, demo.login, DEMO_PASSWORD, "")
        assert ident.roles == (demo.role,)
    assert DEMO_PASSWORD in said and "ログイン名" in said

    before = last_seq(db)
    again: list[str] = []
    prepare_demo(ctx, again.append)
    assert last_seq(db) == before  # nothing written the second time
    assert "既存" in again[0]
    assert DEMO_PASSWORD in "\n".join(again)
