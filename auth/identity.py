"""The signed-in identity: who, which roles, which session; it yields the ``Actor``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auth.roles import Perm, permissions_of
from core.actor import Actor


@dataclass(frozen=True)
class Identity:
    user_id: int
    login: str
    name: str
    department: str
    roles: tuple[str, ...]
    session_id: str
    client_addr: str
    started_at: datetime

    @property
    def actor(self) -> Actor:
        return Actor(
            login=self.login,
            user_id=self.user_id,
            session_id=self.session_id,
            client_addr=self.client_addr,
        )

    @property
    def permissions(self) -> frozenset[Perm]:
        return permissions_of(self.roles)

    def can(self, perm: Perm) -> bool:
        return perm in self.permissions
