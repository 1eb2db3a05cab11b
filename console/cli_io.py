"""What every ``juki`` command group shares: a line to stdout, and the context.

``console/cli.py`` and the ``cli_*`` modules it loads each used to carry their own copy;
the context is imported late so ``juki --help`` stays quick.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.context import Context


def out(text: str) -> None:
    """One line of the command's answer, at once (a pipe or a terminal alike)."""
    print(text, flush=True)


def err(text: str) -> None:
    """One line on stderr, prefixed ``juki:``."""
    print(f"juki: {text}", file=sys.stderr, flush=True)


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
