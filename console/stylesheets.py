"""One parse of each stylesheet source per process, shared by every app in it.

Textual parses each stylesheet source afresh for every App, and all of them again each
time a screen with CSS of its own is first shown (``Stylesheet.reparse`` starts from a new
Stylesheet, so its cache starts empty). What a parse gives depends only on the source
text, where it was read from, its scope and tie-breaker, and the theme's variables: the
same inputs give the same rules, so one memo can serve the whole process. The console
server fills it before it forks (``console.server.warm``): each console it forks starts
with every rule of the sign-in and home screens parsed (bench/ssh counts the CPU per
sign-in). Textual already reuses a parsed source's rules from parse to parse within one
stylesheet; this only widens that reuse to every stylesheet of the process.

``share()`` wraps ``Stylesheet._parse_rules`` (a private method, so the wrapper checks its
parameters first and leaves Textual as it is when they are not the ones it was written
for; tests/console/test_stylesheets.py fails then).
"""

from __future__ import annotations

import inspect
from typing import Any

from textual.css.model import RuleSet
from textual.css.stylesheet import Stylesheet

EXPECTED = ("self", "css", "read_from", "is_default_rules", "tie_breaker", "scope")
_MEMO: dict[tuple[Any, ...], list[RuleSet]] = {}
_original: Any = None


def share() -> bool:
    """Make every Stylesheet of this process share one memo of parsed sources; True
    when it does (idempotent)."""
    global _original
    if _original is not None:
        return True
    method = Stylesheet._parse_rules
    if tuple(inspect.signature(method).parameters) != EXPECTED:
        return False
    _original = method

    def parse_rules(self: Stylesheet, css: str, read_from: Any, is_default_rules: bool = False,
                    tie_breaker: int = 0, scope: str = "") -> list[RuleSet]:
        key = (css, read_from, is_default_rules, tie_breaker, scope,
               tuple(sorted(self._variables.items())))
        rules = _MEMO.get(key)
        if rules is None:
            rules = method(self, css, read_from, is_default_rules, tie_breaker, scope)
            _MEMO[key] = rules
        return rules

    Stylesheet._parse_rules = parse_rules  # type: ignore[method-assign]
    return True


def parsed() -> int:
    """How many sources the memo holds (the server logs it after its warm-up)."""
    return len(_MEMO)
