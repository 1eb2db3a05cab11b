"""Roles are named sets of permissions; code checks permissions, never role names."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from enum import StrEnum


class Perm(StrEnum):
    LOOKUP = "register.lookup"
    LOOKUP_MY_NUMBER = "register.lookup_by_my_number"
    REVEAL_MY_NUMBER = "register.reveal_my_number"
    OPEN_RESTRICTED = "register.open_restricted"
    LINK_PROPOSE = "linkage.propose"
    LINK_REVIEW = "linkage.review"
    ACCESS_ADMIN = "access.admin"
    ACCESS_CONFIRM = "access.confirm"
    USER_ADMIN = "user.admin"
    AUDIT_READ = "audit.read"
    SCREEN_CAPTURE = "screen.capture"


ROLES: dict[str, tuple[str, frozenset[Perm]]] = {
    "clerk": ("事務担当", frozenset({Perm.LOOKUP, Perm.LINK_PROPOSE})),
    "reviewer": (
        "確認者",
        frozenset({
            Perm.LOOKUP, Perm.LOOKUP_MY_NUMBER, Perm.LINK_REVIEW, Perm.REVEAL_MY_NUMBER,
            Perm.ACCESS_CONFIRM,
        }),
    ),
    # DV等支援措置: opening a restricted record is granted explicitly, never with a
    # clerk's or reviewer's ordinary rights (docs/domain.md §7).
    "dv_officer": ("支援措置担当", frozenset({Perm.LOOKUP, Perm.OPEN_RESTRICTED})),
    "admin": ("システム管理者", frozenset({Perm.USER_ADMIN, Perm.ACCESS_ADMIN})),
    "security_officer": (
        "セキュリティ管理者",
        frozenset({Perm.AUDIT_READ, Perm.ACCESS_CONFIRM, Perm.SCREEN_CAPTURE}),
    ),
    "auditor": ("監査担当", frozenset({Perm.AUDIT_READ})),
}


def role_label(role: str) -> str:
    return ROLES[role][0] if role in ROLES else role


def permissions_of(roles: list[str] | tuple[str, ...] | AbstractSet[str]) -> frozenset[Perm]:
    perms: set[Perm] = set()
    for role in roles:
        if role in ROLES:
            perms |= ROLES[role][1]
    return frozenset(perms)


def is_role(name: str) -> bool:
    return name in ROLES
