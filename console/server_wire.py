"""The console server's wire: one message per datagram on a Unix SEQPACKET socket.

Standard library only: the small programs sshd runs on every connection (the
AuthorizedKeysCommand, the forced command's client) import this and nothing heavier,
so that a connection costs a Python start and a round trip, not Textual and SQLAlchemy
(docs/ssh.md). It speaks ``_socket``, the module under ``socket``: ``socket`` builds its
enums at import (8 ms of such a program's ~40 here, bench/ssh_keys.py); the server's
``socket.socket`` objects are ``_socket.socket`` too. A message may carry file
descriptors (SCM_RIGHTS): the client hands its terminal over this way.

A message is a dict of strings and integers (and one dict of strings) in ``marshal``'s
format, the interpreter's own, built in: ``json`` imports ``re`` and ``enum``, 8 ms of
each of the three programs sshd runs per connection. ``marshal`` is not made for data
from strangers, and none comes here: the server takes connections from its own uid only
(SO_PEERCRED; the socket is 0600 in the service account's directory), the programs of
the door, and ``receive`` still passes on nothing but a dict with string keys.

Requests (``op``): ``keys`` → ``{"line": str}`` (empty: the key may not enter);
``console`` (fds 0, 1, 2 attached) → ``{"pid": int}`` then, when the console ends,
``{"exit": int}``; ``signal`` (``{"sig": "HUP"|"WINCH"|"TERM"}``) → no answer.
"""

from __future__ import annotations

import _socket
import marshal
import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs these programs 2 ms
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

MAX_MESSAGE = 64 * 1024
MAX_FDS = 3
FD_SIZE = 4
"""Bytes of one descriptor in an SCM_RIGHTS payload (a C int)."""


def connect(path: str, timeout: float) -> _socket.socket | None:
    """A connected socket to the server at ``path``, or None when nobody answers there."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def send(sock: _socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    data = marshal.dumps(message)
    if len(data) > MAX_MESSAGE:
        raise ValueError("message too large")
    if fds:
        payload = b"".join(fd.to_bytes(FD_SIZE, sys.byteorder, signed=True) for fd in fds)
        sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, payload)])
    else:
        sock.sendall(data)


def receive(sock: _socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors it carried; (None, []) when the peer has gone."""
    fds: list[int] = []
    data, ancdata, _flags, _addr = sock.recvmsg(
        MAX_MESSAGE, _socket.CMSG_SPACE(MAX_FDS * FD_SIZE))
    for level, kind, payload in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.extend(int.from_bytes(payload[at:at + FD_SIZE], sys.byteorder, signed=True)
                       for at in range(0, len(payload) - FD_SIZE + 1, FD_SIZE))
    if not data:
        for fd in fds:  # a peer that closed cannot have meant to hand these over
            close_quietly(fd)
        return None, []
    try:
        message = marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        message = None
    if not isinstance(message, dict) or not all(isinstance(k, str) for k in message):
        for fd in fds:
            close_quietly(fd)
        return None, []
    return message, fds


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


