"""A refused attempt leaves an event, whatever refused it (docs/architecture.md rule 3).

Rules that say no (a permission, four eyes, a too-broad query) record their refusal where
they decide. Two kinds of "no" arise below the rule, in the middle of the act, and roll
its transaction back: input that cannot be used (``BadInput``) and a My Number that
cannot be sealed or opened (``SealingError``: the key file is missing or wrong, or a
sealed value was edited in the database). ``recorded_refusals`` wraps a service call so
that either still leaves a refused event, in a transaction of its own, before the error
reaches the user. A sealing failure is ``high``: a security officer must see a lost key
or an edited number at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from auth.identity import Identity
from core.actor import Actor
from core.errors import BadInput, JukiError
from core.sealed import SealingError
from logs.audit import record_alone

_F = TypeVar("_F", bound=Callable[..., Any])

BOTH: tuple[type[JukiError], ...] = (BadInput, SealingError)
SEALING: tuple[type[JukiError], ...] = (SealingError,)


def _actor_and_key(args: tuple[Any, ...]) -> tuple[Actor | None, Any]:
    """The acting person (the first Identity or Actor argument) and the argument after it."""
    for i, arg in enumerate(args):
        if isinstance(arg, Identity | Actor):
            actor = arg.actor if isinstance(arg, Identity) else arg
            return actor, args[i + 1] if len(args) > i + 1 else None
    return None, None


def _details(exc: JukiError) -> tuple[str, dict[str, Any]]:
    if isinstance(exc, SealingError):
        return "high", {"reason": "identifier_key", "message": exc.message}
    return "info", {"reason": "bad_input", "message": exc.message}


def recorded_refusals(
    action: str, what: str, errors: tuple[type[JukiError], ...] = BOTH,
) -> Callable[[_F], _F]:
    """Record ``errors`` raised by the wrapped service call as a refused ``action``.

    The target is ``what:KEY`` when the argument after the identity is an id or a text
    (a resident, a proposal), else ``what`` itself. Nothing else changes: the error is
    raised on as it was."""

    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def run(*args: Any, **kw: Any) -> Any:
            try:
                return fn(*args, **kw)
            except errors as exc:
                actor, key = _actor_and_key(args)
                if actor is not None:
                    severity, details = _details(exc)
                    target = f"{what}:{key}" if isinstance(key, int | str) else what
                    record_alone(args[0], actor, action, target=target, outcome="refused",
                                 severity=severity, details=details)
                raise

        return cast(_F, run)  # wraps keeps fn's signature

    return wrap
