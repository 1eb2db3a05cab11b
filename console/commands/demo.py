"""``juki demo``: the console on the demo database (synthetic residents, one account per
role), which is prepared behind the first paint of the sign-in form.

The preparation's lines (the accounts and their password among them) show under the
sign-in form while the console runs, and are printed once it ends, so they stay in the
terminal. Without a terminal the database is prepared and printed all the same, then the
console is refused as ``juki`` refuses it (a script can ready the demo this way).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.commands.common import Group, Subparsers, context, out
from console.commands.console import has_tty, start

if TYPE_CHECKING:
    from console.context import Context


def add_parsers(sub: Subparsers) -> None:
    sub.add_parser("demo", help="デモ用データベースを用意してコンソールを起動する")


def run(args: argparse.Namespace) -> int:
    ctx = context()
    if not has_tty():
        prepare(ctx, out)
        return start(ctx)  # refused: no terminal
    said: list[str] = []

    def prepare_and_keep(ctx: Context, say: Callable[[str], None]) -> None:
        def both(line: str) -> None:
            said.append(line)
            say(line)

        prepare(ctx, both)

    code = start(ctx, prepare_and_keep)
    try:
        for line in said:
            out(line)
    except OSError:  # the terminal has gone (a hang-up): nothing to show it on
        pass
    return code


def prepare(ctx: Context, say: Callable[[str], None]) -> None:
    from console.demo import prepare_demo  # on use: the services load behind the first paint

    prepare_demo(ctx, say)


GROUP = Group("demo", add_parsers, run)
