"""``juki ssh authorized-keys [--config F] USER TYPE KEY``: sshd's AuthorizedKeysCommand.

sshd runs it for every key a client offers and waits for its answer, so it stays light:
the standard library, ``core.settings_file`` (the socket's path, without building the
whole ``Settings``) and ``console.server_wire`` only. It asks the console server (which
has the database open) and prints its line; when the server is not there it loads the
settings and the database layers and answers itself with the same rule
(``services.door.authorized_line``): slower, the same answer.

Prints one authorized_keys line, or nothing (the key may not enter); exit 0. Bad
arguments are left to the full parser (exit 2); a settings error exits 2.
"""

from __future__ import annotations

import os
import sys

from console import server_wire
from core.settings_file import server_socket

TYPE_CHECKING = False  # not typing's, nor collections.abc: 2 ms of this program's start
if TYPE_CHECKING:
    from collections.abc import Sequence

ASK_TIMEOUT = 2.0
"""Seconds to wait for the server's answer before answering here instead."""
MAX_FIELD = {"user": 64, "type": 64, "key": 16384}
"""Longest value of each field, in characters (a login, a key type, a key's base64): a
longer one is no key of ours, and gets nothing without a question."""


class Request:
    """What sshd asks: the settings file, the OS user (%u), the key's type (%t) and
    base64 (%k). (A plain class: ``dataclasses`` would cost this program a tenth of its
    time.)"""

    __slots__ = ("config", "key", "key_type", "user")

    def __init__(self, config: str | None, user: str, key_type: str, key: str) -> None:
        self.config, self.user, self.key_type, self.key = config, user, key_type, key

    def message(self) -> dict[str, str]:
        return {"op": "keys", "user": self.user, "type": self.key_type, "key": self.key}


def parse(argv: Sequence[str]) -> Request | None:
    """``[--config F] USER TYPE KEY`` as sshd passes them; None for anything else (the full
    parser then explains, or prints the help)."""
    config: str | None = None
    words: list[str] = []
    items = iter(argv)
    for item in items:
        if item == "--config":
            config = next(items, None)
            if config is None:
                return None
        elif item.startswith("--config="):
            config = item.removeprefix("--config=")
        elif item.startswith("-"):
            return None
        else:
            words.append(item)
    if len(words) != 3 or config == "":
        return None
    return Request(config, *words)


def fast(argv: Sequence[str]) -> int | None:
    """Answer ``argv`` (what follows ``ssh authorized-keys``); None when it is not the
    shape sshd uses, for the full parser to handle."""
    request = parse(argv)
    if request is None:
        return None
    return respond(request)


def respond(request: Request) -> int:
    """Print the line for ``request`` (the server's, or else our own); exit code 0, or 2
    when the server says the settings are wrong (as a settings error here would)."""
    if request.config is not None:
        os.environ["JUKI_CONFIG"] = request.config  # the fallback's settings read it too
    sizes = request.message()
    if any(len(sizes[name]) > longest for name, longest in MAX_FIELD.items()):
        return 0
    answer = ask(request)
    if answer is None:
        line = direct(request)
    elif "error" in answer:
        print(f"juki: {answer['error']}", file=sys.stderr, flush=True)
        return 2
    else:
        line = answer["line"]
    if line:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return 0


def ask(request: Request) -> dict[str, str] | None:
    """The server's answer, checked; None when there is no usable one."""
    path = server_socket()
    if path is None:
        return None
    answer = server_wire.ask(path, request.message(), timeout=ASK_TIMEOUT)
    if answer is None:
        return None
    error = answer.get("error")
    if isinstance(error, str) and error.isprintable():
        return {"error": error}
    line = answer.get("line")
    if not isinstance(line, str) or not line.isprintable():
        return None  # one line, no control characters, or we answer ourselves
    return {"line": line}


def direct(request: Request) -> str:
    """The answer without the server: the settings and the whole stack, loaded now."""
    from console.context import Context
    from core.settings import load_settings
    from services.door import authorized_line

    settings = load_settings()
    ctx = Context(settings)
    try:
        return authorized_line(ctx.db, settings, request.user, request.key_type, request.key)
    finally:
        ctx.db.dispose()
