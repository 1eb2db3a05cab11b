"""The ``juki`` command. Exit codes: 0 success, 1 a failed check, 2 bad input.

The entry alone: the top parser built from the command groups (one module each in
console/commands/, with its parsers and its handler), the dispatch, and the one place an
error becomes an exit code. Messages are Japanese; no traceback reaches the user (an
unexpected error prints one line and the path of a log with the details, core.crashlog).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from console.commands.common import EXIT_BAD, EXIT_CHECK, EXIT_OK, Group, Parser, err
from core.errors import JukiError
from core.settings import SettingsError

GROUP_MODULES = (
    "demo", "settings", "db", "user", "audit", "linkage", "hr", "access", "assess", "inspect",
    "transfer", "register", "jukinet_sim",
)
"""The command groups (console/commands/NAME.py, each a ``GROUP``), in the order
``juki --help`` lists them. Imported when the parser is built, not with this module."""

CONSOLE_STARTS: dict[tuple[str, ...], str] = {(): "console", ("demo",): "demo"}
"""``juki`` and ``juki demo`` take no options: they start the console without building
the parser, so no other group is imported before the sign-in paints (bench/startup.py)."""


def groups() -> tuple[Group, ...]:
    return tuple(import_module(f"console.commands.{name}").GROUP for name in GROUP_MODULES)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="juki", description="住民記録 業務コンソール")
    sub = p.add_subparsers(dest="cmd", parser_class=Parser)
    for group in groups():
        group.add_parsers(sub)
    return p


def commands() -> dict[str | None, Callable[[argparse.Namespace], int]]:
    """Each command's handler by name; ``None``: ``juki`` alone, the console."""
    from console.commands import console as bare

    return {None: bare.run, **{g.name: g.run for g in groups()}}


def main(argv: Sequence[str] | None = None) -> int:
    words = tuple(sys.argv[1:] if argv is None else argv)
    try:
        if words in CONSOLE_STARTS:
            start = import_module(f"console.commands.{CONSOLE_STARTS[words]}")
            return int(start.run(argparse.Namespace(cmd=words[0] if words else None)))
        args = build_parser().parse_args(words)
        return commands()[args.cmd](args)
    except JukiError as exc:
        err(exc.message)
        return exc.exit_code
    except SettingsError as exc:
        err(str(exc))
        return EXIT_BAD
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        from core.crashlog import log_unexpected_from_env  # on use: only on a failure (start-up)

        err(log_unexpected_from_env(exc))
        return EXIT_CHECK


if __name__ == "__main__":
    sys.exit(main())
