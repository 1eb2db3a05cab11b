"""What every ``juki`` command group shares: a line to stdout or stderr, and the context.

``console/cli.py`` and the ``cli_*`` modules it loads each used to carry their own copy;
the context is imported late so ``juki --help`` stays quick.

Every line goes through ``core.inert.clean`` here, the one place all output passes: a
name from the database, a header or a key quoted from a refused file, a peer's request
line — none reaches the terminal with an escape sequence, a C1 control or a bidi
override. JSON lines are written with ``core.inert.dumps``, which leaves nothing for
``clean`` to remove.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.context import Context


def out(text: str) -> None:
    """One line of the command's answer, at once (a pipe or a terminal alike), inert."""
    from core.inert import clean

    print(clean(text), flush=True)


def err(text: str) -> None:
    """One line on stderr, prefixed ``juki:``, inert."""
    from core.inert import clean

    print(f"juki: {clean(text)}", file=sys.stderr, flush=True)


def context() -> Context:
    """The settings and database of this run (``JUKI_CONFIG`` and ``JUKI_*``)."""
    from console.context import Context

    return Context.from_env()


def add_output(parser: argparse.ArgumentParser, help: str) -> None:
    """``--output FILE`` and ``--force``, alike for every command that writes a file
    (the rules: ``core.files.check_output``)."""
    parser.add_argument("--output", metavar="FILE", help=help)
    parser.add_argument("--force", action="store_true",
                        help="--output のファイルが既にあれば置き換える (通常のファイルだけ。"
                             "デバイス・FIFO・フォルダ・シンボリックリンクには書きません)")
