"""The one gate every service act passes through (docs/architecture.md, "The gate").

An act is one write transaction. The gate opens it, reads the caller's permissions (and,
for a sensitive act, the time of their last password) on the act's own connection, so the
check and the act see the same database state and cost no extra round trip. Inside, the
act's code may refuse anywhere with ``Refusal`` — a rule of four eyes, a state that does
not allow the step, a missing permission found late. A refusal rolls the whole transaction
back and is recorded once, in a transaction of its own, under the act's action and its
target as the act last set it; the caller gets ``Refused`` (or ``StepUpNeeded``). The same
holds for input that cannot be used (``BadInput``) and a number that cannot be sealed
(``SealingError``): recorded, then raised as they are. The act records its own success in
the same transaction with ``Act.record``, so an act and its event commit together or not
at all.

The operator of a CLI admin command (an ``Actor``, not a signed-in ``Identity``) is trusted
like the other admin commands: the permission check is for console accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy import select
from sqlmodel import Session, col

from auth.access import NOT_ALLOWED, permissions_on
from auth.identity import Identity
from auth.models import ConsoleSession
from auth.roles import Perm
from auth.stepup import StepUpNeeded, recent
from core.actor import Actor
from core.db import Database
from core.errors import BadInput, JukiError, Refused
from core.sealed import SealingError
from core.settings import Settings
from logs.audit import record, record_alone

Who = Identity | Actor
Perms = Perm | tuple[Perm, ...]  # one permission, or any one of several

class Refusal(Exception):
    """Raised anywhere inside an act: the act rolls back and the refusal is recorded once.

    ``reason`` is the machine-readable word in the event's details (``permission``,
    ``four_eyes``, ``state`` …); ``details`` are added beside it (any name, ``message``
    too: the first two are positional); ``error`` is the class the caller receives with
    ``message`` (``Refused`` by default; an act whose callers have always had ``BadInput``
    or ``NotFound`` for a recorded refusal keeps giving them). ``raising`` is the error
    itself, for one that carries more than its message (a query refused with the items it
    lacks, bad input recorded with what was typed beside it)."""

    def __init__(self, message: str, reason: str, /, *, severity: str = "warning",
                 error: type[JukiError] = Refused, raising: JukiError | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.severity = severity
        self.error = error
        self.raising = raising
        self.details = details

    @classmethod
    def of(cls, exc: JukiError, reason: str | None = None, *, severity: str = "warning",
           **details: Any) -> Refusal:
        """``exc``, raised inside the act by a check that says its no as an error, as a
        refusal: recorded under ``reason`` (default: the message, at most 300 characters),
        and the caller receives ``exc``'s class and message."""
        word = exc.message[:300] if reason is None else reason
        return cls(exc.message, word, severity=severity, error=type(exc), **details)

    @classmethod
    def saying(cls, message: str, reason: str, *, error: type[JukiError] = Refused,
               severity: str = "warning") -> Refusal:
        """A refusal whose event carries its message too (``message``, at most 300
        characters) beside the reason word."""
        return cls(message, reason, severity=severity, error=error, message=message[:300])

    def raised(self) -> JukiError:
        """The error the caller receives."""
        if self.raising is not None:
            return self.raising
        if self.error is StepUpNeeded:
            return StepUpNeeded()
        return self.error(self.message)


def _wanted(perm: Perms) -> tuple[Perm, ...]:
    return perm if isinstance(perm, tuple) else (perm,)


def lacking(perm: Perms, what: str, **details: Any) -> Refusal:
    """The refusal for a permission the caller does not hold now (for several, any one
    would do: the event names them ``a | b``); ``details`` go beside it in the event."""
    named = " | ".join(map(str, _wanted(perm)))
    return Refusal(NOT_ALLOWED.format(what=what), "permission", permission=named, **details)


@dataclass
class Act:
    """One act under way: its session, who acts, and what the event will say."""

    s: Session
    who: Who
    action: str
    target: str = ""
    purpose: str = ""
    perms: frozenset[Perm] = field(default_factory=frozenset)
    trusted: bool = False  # a CLI operator: every permission check passes

    @property
    def actor(self) -> Actor:
        return self.who.actor if isinstance(self.who, Identity) else self.who

    @property
    def ident(self) -> Identity | None:
        return self.who if isinstance(self.who, Identity) else None

    def holds(self, perm: Perms) -> bool:
        """The caller holds ``perm`` now (for several: any one of them)."""
        return self.trusted or any(p in self.perms for p in _wanted(perm))

    def need(self, perm: Perms, what: str, **details: Any) -> None:
        """Refuse (recorded, after the rollback) unless the caller holds ``perm`` now (for
        several: any one of them); ``details`` go beside it in the refusal's event."""
        if not self.holds(perm):
            raise lacking(perm, what, **details)

    def refuse(self, message: str, reason: str, *, severity: str = "warning",
               **details: Any) -> NoReturn:
        raise Refusal(message, reason, severity=severity, **details)

    def record(self, *, outcome: str = "success", severity: str = "info",
               details: dict[str, Any] | None = None, target: str | None = None,
               action: str | None = None, purpose: str | None = None) -> dict[str, Any]:
        """Record the act's event in its own transaction (it commits with the act)."""
        return record(
            self.s, self.actor, action or self.action,
            target=self.target if target is None else target,
            purpose=self.purpose if purpose is None else purpose,
            outcome=outcome, severity=severity, details=details,
        )


def _fresh(s: Session, ident: Identity, settings: Settings | None) -> bool:
    """The session's last password is within ``step_up_minutes`` (read on the act's
    connection). A script's identity without a console session has nothing to refresh."""
    if not ident.session_id:
        return True
    last = s.connection().execute(
        select(col(ConsoleSession.last_auth_at)).where(
            col(ConsoleSession.id) == ident.session_id)
    ).scalar()
    return recent(last, settings)


def _problem(exc: JukiError) -> tuple[str, dict[str, Any]]:
    if isinstance(exc, SealingError):
        return "high", {"reason": "identifier_key", "message": exc.message}
    return "info", {"reason": "bad_input", "message": exc.message}


@contextmanager
def act(
    db: Database, who: Who, action: str, *, perm: Perms | None, what: str,
    target: str = "", purpose: str = "", step_up: bool = False,
    settings: Settings | None = None, numbers: bool = False, write: bool = True,
    translate: Callable[[Exception], Refusal | None] | None = None,
    record_bad_input: bool = True,
) -> Iterator[Act]:
    """Run one act: check ``perm`` (any one of a tuple; with ``step_up``, a recent password
    too) inside its transaction, yield the ``Act``, commit. Refusals, bad input and
    sealing failures roll back and are recorded once. ``translate`` turns a database error
    (a unique index that holds a rule) into a refusal; ``write=False`` runs a read that
    only records refusals. ``record_bad_input=False``: a form's field that cannot be used
    is raised as it is, rolled back but not recorded (an act whose typed fields were never
    recorded when refused, such as opening a record: it keeps its trail as it was)."""
    the_act: Act | None = None
    refusal: Refusal | None = None
    problem: JukiError | None = None
    opened = db.write(numbers=numbers) if write else db.read()
    try:
        with opened as s:
            the_act = Act(s, who, action, target=target, purpose=purpose)
            if isinstance(who, Identity):
                the_act.perms = permissions_on(s.connection(), who)
                if perm is not None:
                    the_act.need(perm, what)
                if step_up and not _fresh(s, who, settings):
                    raise Refusal(StepUpNeeded().message, "step_up", severity="info",
                                  error=StepUpNeeded)
            else:
                the_act.trusted = True
            yield the_act
    except Refusal as r:
        refusal = r
    except (BadInput, SealingError) as exc:
        if isinstance(exc, BadInput) and not record_bad_input:
            raise
        problem = exc
    except Exception as exc:
        found = translate(exc) if translate is not None else None
        if found is None:
            raise
        refusal = found
    actor = who.actor if isinstance(who, Identity) else who
    where = the_act.target if the_act is not None else target
    if refusal is not None:
        record_alone(db, actor, action, target=where, purpose=purpose, outcome="refused",
                     severity=refusal.severity,
                     details={"reason": refusal.reason, **refusal.details})
        raise refusal.raised()
    if problem is not None:
        severity, details = _problem(problem)
        record_alone(db, actor, action, target=where, purpose=purpose, outcome="refused",
                     severity=severity, details=details)
        raise problem
