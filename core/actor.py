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
        """The operator of a CLI admin command: the OS account, marked as such — and the
        person behind it when sudo made them the service account (``os:juki sudo:tanaka``):
        with one service account every operator runs ``sudo -u juki juki …``, and the trail
        must still name who (docs/ssh.md)."""
        source = os.environ if env is None else env
        # getpass.getuser's order, on ``source``
        who = next((source[k] for k in ("LOGNAME", "USER", "LNAME", "USERNAME")
                    if source.get(k)), "")
        if not who:
            try:
                who = getpass.getuser()
            except (KeyError, OSError):
                who = str(os.getuid())
        sudo = source.get("SUDO_USER", "")
        by = f" sudo:{sudo[:40]}" if sudo and sudo != who else ""
        return cls(login=f"os:{who}{by}", client_addr=ssh_client_address(env))
