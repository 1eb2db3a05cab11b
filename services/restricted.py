"""DV等支援措置 in lists: the one rule for every row about a resident that leaves a service.

A resident under DV等支援措置 (``resident.dv_support``) is shown to an actor without
``Perm.OPEN_RESTRICTED`` as the 【支援措置】 marker and the name only: no address,
household number, date of birth, 住民票コード, number or any other item. Search results,
the household tab of a record, the linkage queue and review and the linkage record pass
their rows through ``withheld`` before they return them, so the screen, the CLI and a
file get the same withheld form from here.

Each row type names the fields that survive (``KEPT_WHEN_WITHHELD``): the name, the keys
a screen needs to act on the row (the service checks the act again), and facts about the
act rather than the resident (who proposed, when, the verdicts). Every other field is
blanked — "" for text, None for a date, () for a tuple — so a field added to a row later
is withheld until someone names it as kept. A nested row (the register side of a
proposal, its reviews) is blanked by its own ``KEPT_WHEN_WITHHELD`` (none: everything).
The row's ``withheld`` is set, so a face can say why the cells are empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, is_dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from auth.roles import Perm

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")  # a row is a dataclass

WITHHELD_NOTE = "支援措置対象のため、氏名のほかは表示しません"
_ALWAYS = frozenset({"restricted", "withheld"})


def may_see_restricted(perms: Iterable[Perm]) -> bool:
    """Whether these permissions show a restricted resident's items (DV等支援措置)."""
    return Perm.OPEN_RESTRICTED in set(perms)


def _blank(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _strip(value)
    if isinstance(value, tuple):
        if value and all(is_dataclass(v) and not isinstance(v, type) for v in value):
            return tuple(_strip(v) for v in value)
        return ()
    if isinstance(value, str):
        return ""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 0
    return None


def _strip(row: T) -> T:
    kept = getattr(type(row), "KEPT_WHEN_WITHHELD", frozenset()) | _ALWAYS
    changes = {f.name: _blank(getattr(row, f.name)) for f in fields(row)
               if f.name not in kept}
    if any(f.name == "withheld" for f in fields(row)):
        changes["withheld"] = True
    return replace(row, **changes)


def withheld(row: T, *, may_see: bool) -> T:
    """``row`` as its reader may see it: unchanged unless the resident is restricted
    (``row.restricted``) and the reader lacks the permission; then the name and the
    fields of ``KEPT_WHEN_WITHHELD`` only."""
    if may_see or not getattr(row, "restricted", False):
        return row
    return _strip(row)
