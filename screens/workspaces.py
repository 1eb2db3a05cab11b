"""The workspaces a role may open, registered by the workspaces themselves.

A workspace module calls ``register_workspace`` at import with the permission(s) it
needs and is listed in ``WORKSPACE_MODULES``; the home screen and the command palette
then offer it to exactly the users whose roles hold one of those permissions. Offering
is only a courtesy: the service behind the workspace checks the permission again.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from textual.screen import Screen

from auth.roles import Perm
from screens.widgets import WorkspaceEnv

# Modules that register a workspace when imported.
WORKSPACE_MODULES: tuple[str, ...] = (
    "screens.lookup",  # 住民記録照会 (F2)
    "screens.linkage",  # 個人番号紐付け (F3)
    "screens.access_review",  # 権限見直し (F4)
    "screens.audit_tail",  # 操作ログ (F5)
    "screens.inspection",  # 自己点検 (F6)
)


@dataclass(frozen=True)
class Workspace:
    """One workspace: its id, F-key, Japanese title, the permissions that open it."""

    name: str
    key: str
    title: str
    needs: tuple[Perm, ...]
    open: Callable[[WorkspaceEnv], Screen]
    help: str = ""

    def allowed(self, perms: frozenset[Perm]) -> bool:
        return any(p in perms for p in self.needs)


_REGISTRY: dict[str, Workspace] = {}
_loaded = False


def register_workspace(ws: Workspace) -> Workspace:
    """Add a workspace; its name and key must be its own."""
    for other in _REGISTRY.values():
        if other.name != ws.name and other.key == ws.key:
            raise ValueError(f"key {ws.key} is already used by workspace {other.name}")
    if not ws.needs:
        raise ValueError(f"workspace {ws.name} must name the permission it needs")
    _REGISTRY[ws.name] = ws
    return ws


def unregister_workspace(name: str) -> None:
    _REGISTRY.pop(name, None)


@contextmanager
def registered(ws: Workspace) -> Iterator[Workspace]:
    """Register for the duration of a block (tests, plug-ins tried out at runtime)."""
    register_workspace(ws)
    try:
        yield ws
    finally:
        unregister_workspace(ws.name)


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in WORKSPACE_MODULES:
            importlib.import_module(module)
        _loaded = True


def workspaces_for(perms: frozenset[Perm]) -> list[Workspace]:
    """The registered workspaces these permissions may open, in F-key order."""
    _load()
    found = [ws for ws in _REGISTRY.values() if ws.allowed(perms)]
    return sorted(found, key=lambda ws: (len(ws.key), ws.key))
