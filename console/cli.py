"""The ``juki`` command. Exit codes: 0 success, 1 a failed check, 2 bad input.

The entry alone: the top parser built from the command groups (one module each in
console/commands/, with its parsers and its handler), the dispatch, and the one place an
error becomes an exit code. ``juki ssh authorized-keys`` (sshd's AuthorizedKeysCommand)
is answered before the groups are imported (console/authorized_keys.py). Messages are
Japanese; no traceback reaches the user (an unexpected error prints one line and the path
of a log with the details, core.crashlog).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: the fast path below does without typing (2 ms)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from console.commands.common import Group
    from core.settings import Settings

FAST = ("ssh", "authorized-keys")
"""sshd's AuthorizedKeysCommand: answered before the command groups (and argparse) are
imported (console/authorized_keys.py), so that asking the console server costs a Python
start and little more."""

CONSOLE_STARTS: dict[tuple[str, ...], str] = {(): "console", ("demo",): "demo"}
"""``juki`` and ``juki demo`` take no options: they start the console without building
the parser, so no other group is imported before the sign-in paints (bench/startup.py)."""


def groups() -> tuple[Group, ...]:
    """The command groups, in the order ``juki --help`` lists them (imported on use: the
    fast path above needs none of them)."""
    from console.commands import (
        access,
        assess,
        audit,
        db,
        demo,
        hr,
        inspect,
        jukinet_sim,
        linkage,
        register,
        server,
        settings,
        ssh,
        transfer,
        user,
    )

    return (
        demo.GROUP, settings.GROUP, db.GROUP, user.GROUP, audit.GROUP, linkage.GROUP,
        hr.GROUP, access.GROUP, assess.GROUP, inspect.GROUP, transfer.GROUP, register.GROUP,
        jukinet_sim.GROUP, ssh.GROUP, server.SERVER, server.CONNECT,
    )




def build_parser() -> argparse.ArgumentParser:
    from console.commands.common import Parser

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
    words = list(sys.argv[1:] if argv is None else argv)
    return guarded(lambda: _run(words))


def _run(words: list[str]) -> int:
    if tuple(words[:2]) == FAST:
        from console.authorized_keys import fast

        answered = fast(words[2:])
        if answered is not None:
            return answered
    if words[:1] == ["connect"]:
        # sshd's forced command, on every connection: stdlib only until the console
        # server is known to be down (docs/ssh.md, "The console server").
        from console.connect import main as connect

        return connect(words[1:])
    if tuple(words) in CONSOLE_STARTS:
        import argparse
        from importlib import import_module  # here: the door's programs do without it

        start = import_module(f"console.commands.{CONSOLE_STARTS[tuple(words)]}")
        return int(start.run(argparse.Namespace(cmd=words[0] if words else None)))
    args = build_parser().parse_args(words)
    return commands()[args.cmd](args)


def guarded(call: Callable[[], int], settings: Settings | None = None) -> int:
    """The one place an error becomes its message and exit code, never a traceback.
    ``settings``: where the error log is, when the environment does not say (a console
    forked by the console server)."""
    try:
        return call()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _failed(exc, settings)


def _failed(exc: Exception, settings: Settings | None) -> int:
    # on use: the fast paths above do not load argparse and Rich unless they fail
    from console.commands.common import EXIT_BAD, EXIT_CHECK, EXIT_OK, err
    from core.errors import JukiError
    from core.settings import SettingsError

    if isinstance(exc, JukiError):
        err(exc.message)
        return exc.exit_code
    if isinstance(exc, SettingsError):
        err(str(exc))
        return EXIT_BAD
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK
    from core.crashlog import (  # on use: only on a failure (start-up)
        log_unexpected,
        log_unexpected_from_env,
    )

    err(log_unexpected(settings, exc) if settings else log_unexpected_from_env(exc))
    return EXIT_CHECK


if __name__ == "__main__":
    sys.exit(main())
