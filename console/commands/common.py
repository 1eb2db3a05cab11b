"""What every ``juki`` command group shares: a line to stdout or stderr, the context, the
exit codes, the parser class and the group record.

Every line goes through ``core.inert.clean`` here, the one place all output passes: a
name from the database, a header or a key quoted from a refused file, a peer's request
line — none reaches the terminal with an escape sequence, a C1 control or a bidi
override. JSON lines are written with ``core.inert.dumps``, which leaves nothing for
``clean`` to remove.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, TypeAlias

if TYPE_CHECKING:
    from console.context import Context

EXIT_OK, EXIT_CHECK, EXIT_BAD = 0, 1, 2
"""Exit codes: 0 success, 1 a failed check (refused, not found), 2 bad input."""


class Parser(argparse.ArgumentParser):
    """Every ``juki`` parser: bad input is said in Japanese and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        err(f"入力が正しくありません: {message}")
        self.exit(EXIT_BAD)


Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"
"""What ``add_subparsers`` returns: each group adds its parser to it."""


@dataclass(frozen=True)
class Group:
    """One top-level command (``juki NAME …``): its parsers and its handler."""

    name: str
    add_parsers: Callable[[Subparsers], None]
    run: Callable[[argparse.Namespace], int]


def run_chosen(args: argparse.Namespace) -> int:
    """A group's handler where each subcommand's parser names its own
    (``set_defaults(handler=…)``): run the one chosen."""
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def out(text: str) -> None:
    """One line of the command's answer, at once (a pipe or a terminal alike), inert."""
    from core.inert import clean  # on use: loads Rich (start-up time)

    print(clean(text), flush=True)


def err(text: str) -> None:
    """One line on stderr, prefixed ``juki:``, inert."""
    from core.inert import clean  # on use: loads Rich (start-up time)

    print(f"juki: {clean(text)}", file=sys.stderr, flush=True)


def context() -> Context:
    """The settings and database of this run (``JUKI_CONFIG`` and ``JUKI_*``)."""
    from console.context import Context  # on use: its SSH key checks slow `--help` (start-up)

    return Context.from_env()
