"""The workspaces a role may open, and how each is opened.

Each workspace is declared here with the permission(s) it needs; its screen module is
imported only when someone opens it. The home screen and the command palette offer a
workspace to exactly the users whose roles hold one of those permissions, so a clerk's
console never loads the audit tail or the access review (start-up CPU and memory count
when twenty staff sign in at 8:30 over SSH). Offering is only a courtesy: the service
behind the workspace checks the permission again. ``register_workspace`` adds more
(plug-ins, tests).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from textual.screen import Screen

from auth.roles import Perm
from screens.widgets import WorkspaceEnv


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


def _lazy(module: str, screen: str) -> Callable[[WorkspaceEnv], Screen]:
    """An opener that imports the workspace's module on first use."""

    def open_screen(env: WorkspaceEnv) -> Screen:
        return getattr(importlib.import_module(module), screen)(env)

    open_screen.__qualname__ = f"{module}.{screen}"
    return open_screen


_REGISTRY: dict[str, Workspace] = {}


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


def workspaces_for(perms: frozenset[Perm]) -> list[Workspace]:
    """The registered workspaces these permissions may open, in F-key order."""
    found = [ws for ws in _REGISTRY.values() if ws.allowed(perms)]
    return sorted(found, key=lambda ws: (len(ws.key), ws.key))


for _ws in (
    Workspace(name="lookup", key="f2", title="住民記録照会", needs=(Perm.LOOKUP,),
              open=_lazy("screens.lookup", "LookupScreen"),
              help="氏名・生年月日・住所などで住民記録を探す (事務の選択が必要)"),
    Workspace(name="linkage", key="f3", title="個人番号紐付け",
              needs=(Perm.LINK_PROPOSE, Perm.LINK_REVIEW),
              open=_lazy("screens.linkage", "LinkageScreen"),
              help="紐付けの申請の確認待ち一覧・確認 (二人目)・下書き"),
    Workspace(name="access", key="f4", title="権限見直し",
              needs=(Perm.ACCESS_ADMIN, Perm.ACCESS_CONFIRM),
              open=_lazy("screens.access_review", "AccessReviewScreen"),
              help="人事異動に伴う権限変更の適用・再確認・帳票"),
    Workspace(name="audit_tail", key="f5", title="操作ログ", needs=(Perm.AUDIT_READ,),
              open=_lazy("screens.audit_tail", "AuditTailScreen"),
              help="操作ログの監視 (新しい順に追従・絞り込み・詳細)"),
    Workspace(name="inspection", key="f6", title="自己点検", needs=(Perm.ACCESS_CONFIRM,),
              open=_lazy("screens.inspection", "InspectionScreen"),
              help="年度の自己点検の回答・承認 (二人目)、しきい値判断"),
):
    register_workspace(_ws)
