"""``juki ssh authorized-keys [--config F] USER TYPE KEY``: sshd's AuthorizedKeysCommand.

sshd runs it for every key a client offers and waits for its answer, so it stays light:
the standard library, ``core.settings`` and ``console.server_wire`` only. It asks the
console server (which has the database open) and prints its line; when the server is
not there it imports the database layers and answers itself with the same rule
(``services.door.authorized_line``): slower, the same answer.

Prints one authorized_keys line, or nothing (the key may not enter); exit 0. Bad
arguments are left to the full parser (exit 2); a settings error exits 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from console import server_wire
from core.settings import Settings, load_settings

ASK_TIMEOUT = 2.0
"""Seconds to wait for the server's answer before answering here instead."""
MAX_FIELD = {"user": 64, "type": 64, "key": 16384}
"""Longest value of each field, in characters (a login, a key type, a key's base64): a
longer one is no key of ours, and gets nothing without a question."""


@dataclass(frozen=True)
class Request:
    config: str | None
    user: str
    key_type: str
    key: str


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
        os.environ["JUKI_CONFIG"] = request.config  # the fallback's context reads it too
    settings = load_settings()
    sizes = {"user": request.user, "type": request.key_type, "key": request.key}
    if any(len(value) > MAX_FIELD[name] for name, value in sizes.items()):
        return 0
    answer = ask(settings, request)
    if answer is None:
        line = direct(settings, request)
    elif "error" in answer:
        print(f"juki: {answer['error']}", file=sys.stderr, flush=True)
        return 2
    else:
        line = answer["line"]
    if line:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return 0


def ask(settings: Settings, request: Request) -> dict[str, str] | None:
    """The server's answer, checked; None when there is no usable one."""
    answer = server_wire.ask(settings.console_server_socket, {
        "op": "keys", "user": request.user, "type": request.key_type, "key": request.key,
    }, timeout=ASK_TIMEOUT)
    if answer is None:
        return None
    error = answer.get("error")
    if isinstance(error, str) and error.isprintable():
        return {"error": error}
    line = answer.get("line")
    if not isinstance(line, str) or not line.isprintable():
        return None  # one line, no control characters, or we answer ourselves
    return {"line": line}


def direct(settings: Settings, request: Request) -> str:
    """The answer without the server: the whole stack, imported now."""
    from console.context import Context
    from services.door import authorized_line

    ctx = Context(settings)
    try:
        return authorized_line(ctx.db, settings, request.user, request.key_type, request.key)
    finally:
        ctx.db.dispose()
