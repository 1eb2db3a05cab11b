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
    transfer,
    user,
)
from console.commands import console as bare
from console.commands.common import EXIT_BAD, EXIT_CHECK, EXIT_OK, Group, Parser, err
from core.errors import JukiError
from core.settings import Settings, SettingsError

GROUPS: tuple[Group, ...] = (
    demo.GROUP, settings.GROUP, db.GROUP, user.GROUP, audit.GROUP, linkage.GROUP, hr.GROUP,
    access.GROUP, assess.GROUP, inspect.GROUP, transfer.GROUP, register.GROUP,
    jukinet_sim.GROUP, server.SERVER, server.CONNECT,
)
"""In the order ``juki --help`` lists them."""

COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: bare.run,  # ``juki`` alone: the console
    **{g.name: g.run for g in GROUPS},
}


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="juki", description="住民記録 業務コンソール")
    sub = p.add_subparsers(dest="cmd", parser_class=Parser)
    for group in GROUPS:
        group.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["connect"]:
        # sshd's forced command, on every connection: stdlib only until the console
        # server is known to be down (docs/ssh.md, "The console server").
        from console.connect import main as connect

        return guarded(lambda: connect(argv[1:]))
    args = build_parser().parse_args(argv)
    return guarded(lambda: COMMANDS[args.cmd](args))


def guarded(call: Callable[[], int], settings: Settings | None = None) -> int:
    """Run a command; an error becomes its message and exit code, never a traceback.
    ``settings``: where the error log is, when the environment does not say (a console
    forked by the console server)."""
    try:
        return call()
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
        from core.crashlog import (  # on use: only on a failure (start-up)
            log_unexpected,
            log_unexpected_from_env,
        )

        err(log_unexpected(settings, exc) if settings else log_unexpected_from_env(exc))
        return EXIT_CHECK


if __name__ == "__main__":
    sys.exit(main())
