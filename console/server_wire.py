"""The console server's wire: one JSON message per datagram on a Unix SEQPACKET socket.

Standard library only: the small programs sshd runs on every connection (the
AuthorizedKeysCommand, the forced command's client) import this and nothing heavier,
so that a connection costs a Python start and a round trip, not Textual and SQLAlchemy
(docs/ssh.md). A message may carry file descriptors (SCM_RIGHTS): the client hands its
terminal over this way.

Requests (``op``): ``keys`` → ``{"line": str}`` (empty: the key may not enter);
``console`` (fds 0, 1, 2 attached) → ``{"pid": int}`` then, when the console ends,
``{"exit": int}``; ``signal`` (``{"sig": "HUP"|"WINCH"|"TERM"}``) → no answer.
"""

from __future__ import annotations

import array
import json
import os
import socket
from collections.abc import Sequence

TYPE_CHECKING = False  # not typing's: importing typing costs these programs 2 ms
if TYPE_CHECKING:
    from typing import Any

MAX_MESSAGE = 64 * 1024
MAX_FDS = 3


def connect(path: str, timeout: float) -> socket.socket | None:
    """A connected socket to the server at ``path``, or None when nobody answers there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def send(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(message, ensure_ascii=False).encode()
    if len(data) > MAX_MESSAGE:
        raise ValueError("message too large")
    if fds:
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        sock.sendall(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors it carried; (None, []) when the peer has gone."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(
        MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    if not data:
        for fd in fds:  # a peer that closed cannot have meant to hand these over
            close_quietly(fd)
        return None, []
    try:
        message = json.loads(data)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        for fd in fds:
            close_quietly(fd)
        return None, []
    return message, list(fds)


def ask(path: str, message: dict[str, Any], timeout: float = 2.0) -> dict[str, Any] | None:
    """One request, one answer; None when the server is not there or does not answer."""
    sock = connect(path, timeout)
    if sock is None:
        return None
    try:
        send(sock, message)
        answer, fds = receive(sock)
        for fd in fds:
            close_quietly(fd)
        return answer
    except OSError:
        return None
    finally:
        sock.close()


def close_quietly(*fds: int) -> None:
    """Close each descriptor; one already closed or never valid is no error here."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


