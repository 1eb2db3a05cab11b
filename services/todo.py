"""What the home screen asks of the person signed in: one call, one permission read.

Each part lives with its service and checks its own permission; this module only avoids
loading the parts a person can have nothing from. A clerk's console then never imports
the alert engine, the self-inspection or the linkage check (start-up CPU and memory per
console count when twenty staff sign in at once over SSH). The gate here is a pre-filter
only: every part still refuses by itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from auth.access import permissions_on
from auth.identity import Identity
from auth.roles import Perm
from core.db import Database
from core.settings import Settings

# (module, function, takes settings, permissions any of which makes the part worth asking)
PARTS: tuple[tuple[str, str, bool, frozenset[Perm]], ...] = (
    ("services.alerts.engine", "alert_lines", False, frozenset({Perm.AUDIT_READ})),
    ("services.personnel.confirm", "waiting", True,
     frozenset({Perm.ACCESS_CONFIRM, Perm.ACCESS_ADMIN})),
    ("services.assessment.inspection", "waiting_lines", True,
     frozenset({Perm.ACCESS_CONFIRM})),
    ("services.linkage.check", "drift_lines", False, frozenset({Perm.LINK_REVIEW})),
)


def todo_lines(db: Database, settings: Settings, ident: Identity) -> list[str]:
    """Every line the home screen shows this person, in a fixed order."""
    with db.read() as s:
        perms = permissions_on(s.connection(), ident)
    lines: list[str] = []
    for module, name, with_settings, gate in PARTS:
        if not perms & gate:
            continue
        part: Callable[..., list[str]] = getattr(importlib.import_module(module), name)
        args: tuple[Any, ...] = (db, settings, ident) if with_settings else (db, ident)
        lines += part(*args)
    return lines
