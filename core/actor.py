"""The acting user, passed explicitly to every service call (docs/architecture.md rule 2)."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass


def ssh_client_address(env: dict[str, str] | None = None) -> str:
    """The SSH client's address from ``SSH_CONNECTION`` ("client port server port"), or ''."""
    value = (env if env is not None else os.environ).get("SSH_CONNECTION", "")
    parts = value.split()
    return parts[0] if parts else ""


@dataclass(frozen=True)
class Actor:
    """Who acts: the account login, its user id (None before sign-in), session and client."""

    login: str
    user_id: int | None = None
    session_id: str = ""
    client_addr: str = ""

    @classmethod
    def cli(cls, env: dict[str, str] | None = None) -> Actor:
        """The operator of a CLI admin command: the OS account, marked as such."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = str(os.getuid())
        return cls(login=f"os:{who}", client_addr=ssh_client_address(env))
