"""``juki`` with no command: the console itself, in this terminal (``juki demo`` too)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from console.commands.common import context
from core.errors import BadInput

if TYPE_CHECKING:
    from console.app import Prepare
    from console.context import Context


def has_tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def require_tty() -> None:
    """Refuse (bad input) when there is no terminal to draw the console on."""
    if not has_tty():
        raise BadInput(
            "端末 (TTY) がないためコンソールを起動できません。"
            "ssh -t で接続するか、端末から実行してください。"
        )


def start(ctx: Context, prepare: Prepare | None = None) -> int:
    """Run the console on ``ctx`` in this terminal, with ``prepare`` run behind the first
    paint of the sign-in form; its exit code."""
    require_tty()
    from console.app import run_console  # on use: loads Textual (start-up time)

    return run_console(ctx, prepare=prepare)


def run(args: argparse.Namespace) -> int:
    return start(context())
