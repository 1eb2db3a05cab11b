"""What other services do inside a register import, without the register importing them.

The register is the floor of the services (docs/architecture.md, "The layers"): it
imports no other service package. Yet an import that changes a linked resident's 4
items (氏名・生年月日・性別・住所) must leave the My Number linkage something to check, in
the import's own transaction. So the register owns this list of hooks and calls each one
with the linked residents the import changed; ``services.linkage`` registers its drift
hook here when it is imported (``services/linkage/__init__.py``). Every door that runs
an import (``juki register import``, ``bench/import.py``, the tests) imports
``services.linkage`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from core.actor import Actor


@dataclass(frozen=True)
class LinkedChange:
    """One daily row that changed a resident with an active My Number link."""

    link_id: int
    resident_id: int
    before: Mapping[str, Any]  # the resident's columns before the row
    after: Mapping[str, Any]  # … and after it


# Called inside the import's write transaction, with the changes in file order; returns
# the ids of the links whose resident changed in a way a reviewer must see (drift).
LinkedChangesHook = Callable[[Connection, Actor, Sequence[LinkedChange]], Sequence[int]]

linked_residents_changed: list[LinkedChangesHook] = []


def on_linked_residents_changed(hook: LinkedChangesHook) -> LinkedChangesHook:
    """Register ``hook`` once (importing its module twice registers it once)."""
    if hook not in linked_residents_changed:
        linked_residents_changed.append(hook)
    return hook


def flagged_links(conn: Connection, actor: Actor, changes: Sequence[LinkedChange]) -> list[int]:
    """Run every hook on ``changes``; the link ids they flag, each once, in order."""
    flagged: list[int] = []
    if not changes:
        return flagged
    for hook in linked_residents_changed:
        for link_id in hook(conn, actor, changes):
            if link_id not in flagged:
                flagged.append(link_id)
    return flagged
