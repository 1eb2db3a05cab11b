"""The TOML settings files the services read (the role policy, the transfer destinations).

Each is checked whole before use, every problem named; reading starts the same way: the
text must be TOML (else ``BadInput`` naming the file) and hold no top-level key but its
own, the first problem when it does.
"""

from __future__ import annotations

import tomllib
from typing import Any

from core.errors import BadInput


def toml_document(text: str, what: str, keys: set[str],
                  only: str) -> tuple[dict[str, Any], list[str]]:
    """The document of ``text`` and its problems so far: a key other than ``keys`` is
    named, followed by ``only`` (which keys there may be). ``what`` names the file in the
    error when ``text`` is not TOML."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{what}: TOML として読めません ({exc})。") from None
    extra = set(data) - keys
    problems = [f"不明な項目 {', '.join(sorted(extra))} があります{only}"] if extra else []
    return data, problems
