"""``juki`` with no command: the console itself, in this terminal (``juki demo`` too).

``start_forced`` is the console of an SSH connection whose key the door let in (the
forced command ``juki connect --key …``): run by the console server's child, or by the
client itself when the server is down (docs/ssh.md, "The console server").
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from console.commands.common import context
from core.errors import BadInput, Refused

if TYPE_CHECKING:
    from console.app import Prepare
    from console.context import Context
    from core.private_files import Problem
    from core.settings import Settings



def has_tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def require_tty() -> None:
    """Refuse (bad input) when there is no terminal to draw the console on."""
    if not has_tty():
        raise BadInput(
            "端末 (TTY) がないためコンソールを起動できません。"
            "ssh -t で接続するか、端末から実行してください。"
        )


def require_private_files(ctx: Context) -> None:
    """Refuse (exit 1, nothing painted) when the database, the My Number key or the
    settings file is open to the group or to others (``core.private_files``); the
    refusal is recorded in the trail when there is one to write to."""
    from core.private_files import exposed, refusal

    problems = exposed(ctx.settings)
    if problems:
        _record(ctx, problems)
        raise refusal(problems)


def _record(ctx: Context, problems: list[Problem]) -> None:
    """``console.start`` refused, severity high: the files were open for some time, and
    the security officers read of it in the trail. Only a trail that is there: a SQLite
    file that does not exist is not made for it, and a database that cannot be opened or
    has no schema leaves the message alone (the refusal must reach the operator whatever
    the trail's state)."""
    # on use: only on a refusal (start-up time)
    from sqlalchemy.exc import SQLAlchemyError

    from core.actor import Actor
    from core.errors import JukiError
    from core.private_files import sqlite_path
    from logs.audit import record_alone
    from services.schema import current_revision

    database = sqlite_path(ctx.settings.resolved_database_url)
    if database is not None and not database.exists():
        return
    files = [{"file": p.what, "path": str(p.path), "mode": f"{p.mode:04o}"} for p in problems]
    try:
        if current_revision(ctx.db) is None:
            return
        record_alone(ctx.db, Actor.cli(), "console.start", outcome="refused", severity="high",
                     details={"reason": "private_files", "files": files})
    except (JukiError, SQLAlchemyError, OSError):
        return


def start(ctx: Context, prepare: Prepare | None = None) -> int:
    """Run the console on ``ctx`` in this terminal, with ``prepare`` run behind the first
    paint of the sign-in form; its exit code. The private files are looked at first, so
    their refusal is said with or without a terminal."""
    require_private_files(ctx)
    require_tty()
    from console.app import run_console  # on use: loads Textual (start-up time)

    return run_console(ctx, prepare=prepare)


def start_forced(settings: Settings, fingerprint: str, *, direct: str | None = None,
                 login: str | None = None) -> int:
    """The console for the key ``fingerprint`` (sshd's forced command named it).

    The key's account is decided again (``services.door.door_login``; an account may have
    been barred since sshd asked): a refusal is recorded there and said, exit 1. It is
    decided here unless ``login`` is given: the console server decided it just before it
    forked this console (the same rule, recorded the same way: ``ConsoleServer._admit``),
    so no database handle is built before the first frame. The sign-in screen then shows
    that login fixed; the password and every check of a sign-in follow as always.
    ``direct``: why the console server was not used (the event ``console.direct`` records
    it, not the user's screen).
    """
    require_tty()
    from console.context import Context  # on use: the client stays light until it falls back

    ctx = Context(settings, ssh_keys=(fingerprint,))
    require_private_files(ctx)  # before the database is opened for the door's question
    if login is None:
        from services import door  # on use: the database layers (after the fallback began)

        login = door.door_login(ctx.db, fingerprint)
        if direct is not None:
            _record_direct(ctx, fingerprint, login, direct)
        if login is None:
            raise Refused(door.REFUSED_AT_START)
    ctx.door_login = login
    return start(ctx)


def _record_direct(ctx: Context, fingerprint: str, login: str | None, reason: str) -> None:
    from core.actor import Actor, ssh_client_address  # on use: after the fallback began
    from logs.audit import record_alone

    record_alone(
        ctx.db, Actor(login=login or fingerprint, client_addr=ssh_client_address()),
        "console.direct", target=login or "", outcome="success", severity="warning",
        details={"reason": reason, "fingerprint": fingerprint},
    )


def run(args: argparse.Namespace) -> int:
    return start(context())
