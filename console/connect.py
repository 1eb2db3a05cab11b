"""``juki connect --key FP``: sshd's forced command hands its terminal to the console server.

Runs on every SSH connection (deploy/juki-console execs it), so it imports the standard
library's lightest modules, ``core.settings_file`` (the socket's path, the file parsed only
when it names one) and ``console.server_wire``, and nothing more until it knows the server
is down: each import is milliseconds of every connection (bench/ssh.py).

With the server up: it sends ``{"op": "console", "key": FP, "env": …}`` with its
descriptors 0, 1 and 2, gets ``{"pid": n}``, passes SIGHUP, SIGWINCH and SIGTERM on as
``{"op": "signal"}`` messages (the terminal's signals come to this process, which leads
the terminal's session, not to the console), and exits with the ``{"exit": n}`` the
server sends when the console ends.

The server gone mid-session (killed; a crash): the console goes on — it is the server's
child, not this process's, and its terminal is still there. This process keeps the SSH
session open for it: it waits for the console's end on a pidfd, sends the signals to the
console itself, and then says that the server went and exits 1 (the exit status was the
server's to tell). The server itself sends SIGHUP to a console whose client went away.

The server not there (no socket, nobody answering): the console starts here, in this
process (slower: it imports everything), with the same checks; the trail records
``console.direct`` and why. Nothing is said on the user's screen.
"""

from __future__ import annotations

# signal's C module: ``signal`` wraps its numbers in enums, and ``enum`` costs this program
# 4 ms of every connection. No stub ships for it; it has been signal's core since 3.5.
import _signal  # type: ignore[import-not-found]
import os
import select
import sys

from console import server_wire
from core.settings_file import server_socket

TYPE_CHECKING = False  # not typing's: this program imports neither typing nor re (4 ms)
if TYPE_CHECKING:
    from _socket import socket
    from typing import Any

FINGERPRINT_PREFIX = "SHA256:"
FINGERPRINT_DIGITS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
"""The door writes ``SHA256:`` and 43 of these into the forced command (``ssh-keygen -l``)."""
PASSED_ENV = ("TERM", "COLORTERM", "LANG", "LC_ALL", "SSH_CONNECTION")
"""What the server may take from this connection; it checks each against its allowlist."""
RELAYED: dict[int, str] = {_signal.SIGHUP: "HUP", _signal.SIGWINCH: "WINCH",
                           _signal.SIGTERM: "TERM"}
IGNORED: tuple[int, ...] = (_signal.SIGINT, _signal.SIGQUIT, _signal.SIGTSTP)
"""Keys typed before the console sets its terminal mode must not end this process."""
CONNECT_SECONDS = 2.0
ANSWER_SECONDS = 15.0

USAGE = "juki: 使い方: juki connect --key SHA256:… (sshd の強制コマンドとして使います)"
SERVER_LOST = (
    "juki: コンソールサーバーが途中で停止しました。コンソールは最後まで動きましたが、"
    "終了状態は受け取れませんでした。"
)
SERVER_CUT = "juki: コンソールサーバーとの接続が切れたため、コンソールを終了します。"


def main(argv: list[str]) -> int:
    fingerprint = key_argument(argv)
    if fingerprint is None:
        _say(USAGE)
        return 2
    path = server_socket()  # None: the settings cannot say; the direct start names why
    sock = None if path is None else server_wire.connect(path, CONNECT_SECONDS)
    if sock is None:
        return _direct(fingerprint, "no_socket" if path is None or not os.path.exists(path)
                       else "refused")
    try:
        code = via_server(sock, fingerprint)
    finally:
        sock.close()
    if code is None:
        return _direct(fingerprint, "no_reply")
    return code


def is_fingerprint(value: str) -> bool:
    """``SHA256:`` and 43 base64 digits: the form the door writes (no ``re``: see above)."""
    digits = value.removeprefix(FINGERPRINT_PREFIX)
    return (digits != value and len(digits) == 43
            and all(c in FINGERPRINT_DIGITS for c in digits))


def key_argument(argv: list[str]) -> str | None:
    """The fingerprint of ``--key FP`` (or ``--key=FP``), or None when argv is not that."""
    if len(argv) == 2 and argv[0] == "--key":
        value = argv[1]
    elif len(argv) == 1 and argv[0].startswith("--key="):
        value = argv[0].removeprefix("--key=")
    else:
        return None
    return value if is_fingerprint(value) else None


def via_server(sock: socket, fingerprint: str) -> int | None:
    """The console through the server; its exit code, or None when the server took no
    console (nothing started: the caller starts it directly)."""
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    # Before the request: a signal between the console's start and the relay is not lost.
    old_wakeup = _signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    old_handlers = {sig: _signal.signal(sig, _noted) for sig in RELAYED}
    old_handlers.update({sig: _signal.signal(sig, _signal.SIG_IGN) for sig in IGNORED})
    try:
        try:
            server_wire.send(sock, {"op": "console", "key": fingerprint, "env": env},
                             fds=(0, 1, 2))
            sock.settimeout(ANSWER_SECONDS)
            answer, fds = server_wire.receive(sock)
        except OSError:
            return None
        server_wire.close_quietly(*fds)
        if answer is None:
            return None
        pid = answer.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool):
            _say(f"juki: {_printable(answer.get('error'))}")
            return _code(answer.get("exit"), 1)
        return _relay(sock, pid, wake_r)
    finally:
        _signal.set_wakeup_fd(old_wakeup)
        for sig, handler in old_handlers.items():
            _signal.signal(sig, handler)
        os.close(wake_r)
        os.close(wake_w)


def _relay(sock: socket, pid: int, wake_r: int) -> int:
    """Pass signals on until the server says how the console ended."""
    pidfd = _pidfd(pid)  # at once: until the server has reaped it, ``pid`` is the console
    server: socket | None = sock
    sock.setblocking(False)
    try:
        while True:
            watched: list[Any] = [wake_r, server if server is not None else pidfd]
            ready = select.select(watched, [], [])[0]
            if wake_r in ready:
                for signum in _drain(wake_r):
                    name = RELAYED.get(signum)
                    if name is None:
                        continue
                    if server is not None:
                        try:
                            server_wire.send(server, {"op": "signal", "sig": name})
                        except OSError:
                            pass  # the server is gone: its end of the socket says so next
                    elif pidfd is not None:
                        _pidfd_signal(pidfd, signum)
            if server is not None and server in ready:
                message = _receive(server)
                if message is None:
                    if pidfd is None:
                        _say(SERVER_CUT)
                        return 1
                    server = None  # the console goes on; wait for it on the pidfd
                    continue
                if "exit" in message:
                    return _code(message["exit"], 1)
            if server is None and pidfd in ready:
                _say(SERVER_LOST)
                return 1
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _direct(fingerprint: str, reason: str) -> int:
    """The console here, in this process, when the server is not there (slower): the
    settings read whole now, then the whole console."""
    from core.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        _say(f"juki: {exc}")
        return 2
    from console.cli import guarded  # on use: the whole console, now that it is needed
    from console.commands.console import start_forced

    return guarded(lambda: start_forced(settings, fingerprint, direct=reason), settings)


def _receive(sock: socket) -> dict[str, Any] | None:
    try:
        message, fds = server_wire.receive(sock)
    except BlockingIOError:
        return {}
    except OSError:
        return None
    server_wire.close_quietly(*fds)
    return message


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):  # an old kernel: the console ends with the server
        return None


def _pidfd_signal(pidfd: int, signum: int) -> None:
    try:
        _signal.pidfd_send_signal(pidfd, signum)
    except OSError:
        pass


def _drain(fd: int) -> bytes:
    try:
        return os.read(fd, 512)
    except BlockingIOError:
        return b""


def _noted(signum: int, frame: object) -> None:
    """The signal is written to the wake-up pipe; the loop passes it on."""


def _code(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _printable(value: object) -> str:
    text = value if isinstance(value, str) else "コンソールを開けませんでした。"
    return "".join(c for c in text if c.isprintable())[:300]




def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
