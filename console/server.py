"""``juki console-server``: imports the console once and forks one per SSH connection.

Why: a console started per connection pays for Python, Textual, SQLAlchemy and the models
each time (most of a second, 80 MB). The server pays once; a console is a fork of it
that shares those pages (``gc.freeze`` keeps the collector from writing to them).

One thread, one ``selectors`` loop: a process with threads must not fork. Signals reach
the loop through ``signal.set_wakeup_fd``. The socket (setting ``console_server_socket``)
is a SEQPACKET Unix socket of mode 0600 and only this process's own uid may talk to it
(SO_PEERCRED). Requests are ``console.server_wire``'s:

- ``keys``: sshd's question, answered by ``console.server_keys.answer`` (while the
  database is away: nothing, said once in the log; docs/architecture.md §12);
- ``console`` with the terminal's descriptors: a child runs the console on them and
  ``{"pid"}`` goes back; when it ends, ``{"exit": code}`` (128 + the signal when a signal
  ended it) and the connection is closed;
- ``signal``: HUP, WINCH or TERM for that connection's console.

A client that goes away without its exit (the SSH connection dropped) gets its console
hung up (SIGHUP: the session is recorded ended ``hangup``). SIGTERM (or SIGINT, SIGHUP)
to the server: it stops taking connections, hangs up every console, waits up to
``STOP_SECONDS`` for them to record their end, kills what is left and exits 0.
The server killed outright: its consoles go on (``console.connect``).

The child (``_console``): its own session, the three descriptors as 0, 1 and 2, not
dumpable (another process of the service account cannot read its memory or environment
through /proc), an environment of allowlisted values only, default signal handlers, a
fresh database handle, then exactly the start of ``juki`` (``start_forced``) and
``os._exit`` with its code.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import os
import pwd
import selectors
import signal
import socket
import stat
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from console import server_wire
from console.connect import is_fingerprint
from core.errors import JukiError, Refused, StorageFault
from core.private_files import refuse_exposed

if TYPE_CHECKING:
    from console.context import Context
    from core.settings import Settings

TERMS = frozenset({
    "xterm", "xterm-256color", "screen", "screen-256color", "tmux", "tmux-256color",
    "linux", "vt220", "rxvt-unicode", "rxvt-unicode-256color", "alacritty", "xterm-kitty",
    "foot", "wezterm",
})
"""The terminal types a console may be told it runs on (deploy/juki-console's list)."""
DEFAULT_TERM = "xterm-256color"
COLORTERMS = frozenset({"truecolor", "24bit"})
LANGS = ("C.UTF-8", "ja_JP.UTF-8")
SIGNALS = {"HUP": signal.SIGHUP, "WINCH": signal.SIGWINCH, "TERM": signal.SIGTERM}
STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOP_SECONDS = 10.0
WARM_MODULES = (
    "screens.home", "screens.lock", "screens.widgets", "screens.workspaces", "services.todo",
    "services.capture", "textual.drivers.linux_driver",
    "textual.drivers._writer_thread", "textual._xterm_parser", "textual._keyboard_protocol",
    "textual.layouts.factory", "textual.layouts.horizontal", "textual.layouts.stream",
    "concurrent.futures.thread", "tty",
)
"""What a console imports on its way to the home screen (besides the app's own imports)."""
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
LOG = "juki console-server:"
KEYS_WHILE_AWAY = "その間、sshd の鍵の問い合わせには何も返しません (SSH では入れません)。"


def serve(settings: Settings) -> int:
    """Run the server until a stop signal; 0 after an orderly stop, 1 when it cannot start."""
    server = ConsoleServer(settings)
    try:
        server.prepare()
    except StartRefused as exc:
        _log(str(exc))
        return 1
    return server.run()


class StartRefused(Exception):
    """The server cannot start (another one answers on the socket; not a socket there)."""


@dataclass
class Client:
    sock: socket.socket
    pid: int | None = None
    """The console this connection asked for (until it has been reaped)."""


@dataclass
class ConsoleServer:
    settings: Settings
    sel: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    clients: dict[int, Client] = field(default_factory=dict)  # by socket fd
    consoles: dict[int, Client | None] = field(default_factory=dict)  # pid → its client
    listener: socket.socket | None = None
    stop_at: float | None = None
    ctx: Context | None = None
    _wake: tuple[int, int] = (-1, -1)
    _inode: tuple[int, int] = (0, 0)
    _parent_pool: Any = None
    config: str | None = None
    """The settings file the server was started with: its consoles read (and check) it."""
    db_fault: str = ""
    """What the log last said about the database being away ("" while it answers): said
    once per outage, not once per SSH connection (docs/architecture.md §12)."""

    # --- start -------------------------------------------------------------------------

    def prepare(self) -> None:
        """Everything a console needs loaded once, then the socket."""
        path = self.settings.console_server_socket
        _no_other_server(path)  # before the imports: a second server says so at once
        try:  # the files its consoles would refuse, refused once here (docs/ssh.md)
            refuse_exposed(self.settings)
        except Refused as exc:
            raise StartRefused(exc.message) from None
        self.config = os.environ.get("JUKI_CONFIG")
        preload()
        from auth.signin import dummy_hash
        from console.context import Context

        dummy_hash(self.settings.argon2_profile)  # once here, not in every console
        warm(self.settings)

        self.ctx = Context(self.settings)
        _ = self.ctx.db  # the engine (no connection yet: ``_after_keys``)
        self.listener = self._listen(path)
        r, w = os.pipe()
        for fd in (r, w):
            os.set_blocking(fd, False)
        self._wake = (r, w)
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, *STOPPING):
            signal.signal(sig, _noted)
        self.sel.register(r, selectors.EVENT_READ, "wake")
        self.sel.register(self.listener, selectors.EVENT_READ, "listen")
        gc.freeze()  # what is loaded now stays out of the collector: shared with children

    def _listen(self, path: str) -> socket.socket:
        if _no_other_server(path):
            os.unlink(path)  # left by a server that is gone: nobody answers on it
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        info = os.lstat(path)
        self._inode = (info.st_dev, info.st_ino)
        sock.listen(128)
        sock.setblocking(False)
        _log(f"待ち受けています: {path} (pid {os.getpid()})")
        return sock

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        while self.stop_at is None or (self.consoles and time.monotonic() < self.stop_at):
            timeout = None if self.stop_at is None else max(0.0, self.stop_at - time.monotonic())
            for key, _events in self.sel.select(timeout):
                try:
                    if key.data == "wake":
                        self._signals()
                    elif key.data == "listen":
                        self._accept()
                    else:
                        self._readable(key.data)
                except Exception as exc:  # one request's failure is not the server's end
                    from core.crashlog import log_unexpected

                    _log(log_unexpected(self.settings, exc))
                    if isinstance(key.data, Client):
                        self._drop(key.data, hang_up=True)
        for pid in list(self.consoles):
            _kill(pid, signal.SIGKILL)
        if self.consoles:
            time.sleep(0.2)
            self._reap()
        for client in list(self.clients.values()):
            self._drop(client, hang_up=False)
        _log("停止しました。")
        return 0

    def _signals(self) -> None:
        try:
            signums = os.read(self._wake[0], 512)
        except BlockingIOError:
            return
        if signal.SIGCHLD in signums:
            self._reap()
        if any(s in signums for s in STOPPING) and self.stop_at is None:
            self._stop()

    def _stop(self) -> None:
        """Take no more connections; hang up every console and give them time to record it."""
        self.stop_at = time.monotonic() + STOP_SECONDS
        if self.listener is not None:
            self.sel.unregister(self.listener)
            self.listener.close()
            self.listener = None
            path = self.settings.console_server_socket
            try:
                info = os.lstat(path)
                if (info.st_dev, info.st_ino) == self._inode:
                    os.unlink(path)  # ours still: the next server must not find it
            except OSError:
                pass
        _log(f"停止します: コンソール {len(self.consoles)} 個を切断します。")
        for pid in self.consoles:
            _kill(pid, signal.SIGHUP)

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            sock, _addr = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        peer_pid, peer_uid, _gid = struct.unpack("3i", creds)
        if peer_uid != os.getuid():
            _log(f"別の利用者 (uid {peer_uid}, pid {peer_pid}) からの接続を断りました。")
            sock.close()
            return
        sock.setblocking(False)
        client = Client(sock)
        self.clients[sock.fileno()] = client
        self.sel.register(sock, selectors.EVENT_READ, client)

    def _readable(self, client: Client) -> None:
        try:
            message, fds = server_wire.receive(client.sock)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            message, fds = None, []
        if message is None:
            self._drop(client, hang_up=True)
            return
        try:
            self._handle(client, message, fds)
        finally:
            for fd in fds:
                server_wire.close_quietly(fd)

    def _handle(self, client: Client, message: dict[str, Any], fds: list[int]) -> None:
        op = message.get("op")
        if op == "keys":
            self._reply(client, self._keys(message))
        elif op == "console":
            self._start_console(client, message, fds)
        elif op == "signal":
            sig = SIGNALS.get(str(message.get("sig")))
            if sig is not None and client.pid is not None:
                _kill(client.pid, sig)
        else:
            self._reply(client, {"error": "不明な要求です。", "exit": 2})

    def _keys(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.ctx is not None
        from console.server_keys import answer as keys_answer  # loaded by preload()

        try:
            answer: dict[str, Any] = keys_answer(self.ctx.db, self.settings, message)
        except StorageFault as exc:  # expected in an outage: said once, no traceback
            if exc.waiting != self.db_fault:
                _log(f"{exc.waiting} {KEYS_WHILE_AWAY}")
                self.db_fault = exc.waiting
            answer = {"line": ""}
        except Exception as exc:
            from core.crashlog import log_unexpected

            _log(log_unexpected(self.settings, exc))
            answer = {"line": ""}
        else:
            if self.db_fault:
                from core.db import BACK  # loaded by preload()

                _log(BACK)
                self.db_fault = ""
        finally:
            self._after_keys()
        return answer

    def _after_keys(self) -> None:
        """No SQLite connection may be open at a fork (the child's own connection would
        share lock state that is not its own): close the pool's after each question."""
        assert self.ctx is not None
        db = self.ctx.db
        if db.is_sqlite:
            db.engine.dispose()

    def _start_console(self, client: Client, message: dict[str, Any], fds: list[int]) -> None:
        key = message.get("key")
        env = message.get("env")
        if client.pid is not None or self.stop_at is not None:
            self._reply(client, {"error": "コンソールを開けませんでした。", "exit": 1})
            return
        if (len(fds) != 3 or not isinstance(key, str) or not is_fingerprint(key)
                or not isinstance(env, dict)):
            self._reply(client, {"error": "コンソールの要求が正しくありません。", "exit": 2})
            return
        login = self._admit(client, key)
        if login is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            _log(f"fork できません: {exc}")
            self._reply(client, {"error": "コンソールを開けませんでした (サーバーの資源不足)。",
                                 "exit": 1})
            return
        if pid == 0:
            self._console(fds, key, env, login)
        client.pid = pid
        self.consoles[pid] = client
        self._reply(client, {"pid": pid})

    def _admit(self, client: Client, key: str) -> str | None:
        """The login the key opens today, decided here just before the fork by the rule a
        console would apply (``services.door.door_login``, a refusal recorded ``at:
        console``) on this process's warm database handle, as sshd's question was a moment
        ago: a console then builds no database handle before its first frame. None, with
        the refusal (or the database's trouble) sent to the client, which says it."""
        assert self.ctx is not None
        from services import door  # loaded by preload()

        try:
            login = door.door_login(self.ctx.db, key)
        except JukiError as exc:
            login, refusal = None, exc.message
        except Exception as exc:
            from core.crashlog import log_unexpected

            _log(log_unexpected(self.settings, exc))
            login, refusal = None, "コンソールを開けませんでした。"
        else:
            refusal = door.REFUSED_AT_START
        finally:
            self._after_keys()
        if login is None:
            self._reply(client, {"error": refusal, "exit": 1})
        return login

    def _reply(self, client: Client, answer: dict[str, Any]) -> None:
        try:
            server_wire.send(client.sock, answer)
        except OSError:
            self._drop(client, hang_up=True)

    def _drop(self, client: Client, *, hang_up: bool) -> None:
        """Close a connection; a console it still has is hung up (its SSH link is gone)."""
        fd = client.sock.fileno()
        if fd >= 0 and self.clients.pop(fd, None) is not None:
            self.sel.unregister(client.sock)
        client.sock.close()
        if client.pid is not None and client.pid in self.consoles:
            self.consoles[client.pid] = None
            if hang_up:
                _kill(client.pid, signal.SIGHUP)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            client = self.consoles.pop(pid, None)
            if client is not None:
                client.pid = None
                self._reply(client, {"exit": code})
                self._drop(client, hang_up=False)

    # --- the child ---------------------------------------------------------------------

    def _console(self, fds: list[int], key: str, requested: dict[str, Any],
                 login: str) -> NoReturn:
        """In the forked child: become the console of the handed terminal for ``login``
        (``_admit``); never returns."""
        code = 70
        try:
            self._leave_server()
            _take_terminal(fds)
            _not_dumpable()
            os.environ.clear()
            os.environ.update(console_env(requested, self.config))
            _fresh_stdio()
            from console.cli import guarded
            from console.commands.console import start_forced

            code = guarded(lambda: start_forced(self.settings, key, login=login),
                           self.settings)
        except BaseException as exc:  # never back into the server's loop
            try:
                from core.crashlog import log_unexpected

                print(log_unexpected(self.settings, exc), file=sys.stderr, flush=True)
            except BaseException:
                pass
        finally:
            _end_child(code)

    def _leave_server(self) -> None:
        """Drop the server's signal handling, sockets and database connections."""
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in self._wake:
            server_wire.close_quietly(fd)
        # Closing the fds alone: unregistering would edit the epoll set the parent shares.
        self.sel.close()
        if self.listener is not None:
            self.listener.close()
        for client in self.clients.values():
            client.sock.close()
        if self.ctx is not None and self.ctx._db is not None:
            # The parent's pool stays referenced here and is never touched (close=False).
            self._parent_pool = self.ctx._db.engine.pool
            self.ctx._db.engine.dispose(close=False)
        os.setsid()


def _no_other_server(path: str) -> bool:
    """Refuse to start when another server answers at ``path`` or something else is
    there; True when a socket nobody answers on is left there (it may go)."""
    if not os.path.lexists(path):
        return False
    if not stat.S_ISSOCK(os.lstat(path).st_mode):
        raise StartRefused(f"{path} はソケットではありません。確認してから消してください。")
    other = server_wire.connect(path, 1.0)
    if other is not None:
        other.close()
        raise StartRefused(f"{path} では別のコンソールサーバーが動いています。")
    return True


def preload() -> None:
    """Import what every console uses: Textual, the app and its screens, SQLAlchemy, the
    models and the services of sign-in. Textual reads some settings from the environment
    when it is imported, so its variables are fixed first (ESCDELAY as the SSH wrapper
    sets it; no TEXTUAL_* from outside)."""
    for name in list(os.environ):
        if name.startswith("TEXTUAL"):
            del os.environ[name]
    os.environ["ESCDELAY"] = "25"
    import console.app
    import console.cli  # noqa: F401  (the child's start path)
    from screens.signin import load_sign_in

    load_sign_in()  # SQLAlchemy, SQLModel, the models, auth.signin, argon2
    for name in (*WARM_MODULES, "services.door", "console.server_keys"):
        importlib.import_module(name)
    from sqlalchemy.orm import configure_mappers

    configure_mappers()  # else each console's first query would, in its own memory


def warm(settings: Settings) -> int:
    """Show the sign-in and home screens once, headless, so that their stylesheets are
    parsed here and every forked console starts with the rules (``console.stylesheets``);
    the number of sources parsed. Its database handle is closed and its threads joined
    before it returns: nothing of it may be open at a fork."""
    import asyncio
    import threading

    from console import stylesheets

    if not stylesheets.share():
        return 0
    from auth.identity import Identity
    from console.app import JukiApp
    from console.context import Context
    from core.clock import now
    from screens.home import HomeScreen
    from screens.widgets import WorkspaceEnv

    ctx = Context(settings)
    nobody = Identity(user_id=0, login="", name="", department="", roles=("clerk",),
                      session_id="", client_addr="", started_at=now())

    async def show() -> None:
        app = JukiApp(ctx, client_addr="")
        async with app.run_test(headless=True, size=(120, 40)) as pilot:
            await pilot.pause()
            await app.push_screen(HomeScreen(WorkspaceEnv(ctx.db, settings, nobody)))
            await pilot.pause()
            await app.workers.wait_for_complete()

    try:
        asyncio.run(show())
    finally:
        if ctx._db is not None:
            ctx._db.dispose()
    if threading.active_count() != 1:
        raise StartRefused("起動の準備でスレッドが残りました: fork できません。")
    return stylesheets.parsed()


def console_env(requested: dict[str, Any], config: str | None = None) -> dict[str, str]:
    """A console's whole environment: the service account's, the server's settings file
    (``config``: the console's private-file check looks at it), and of what the client
    sent only values from the allowlists (the same as deploy/juki-console's)."""
    def given(name: str) -> str:
        value = requested.get(name)
        return value if isinstance(value, str) else ""

    try:
        account = pwd.getpwuid(os.getuid())
        home, user = account.pw_dir, account.pw_name
    except KeyError:
        home, user = "/", str(os.getuid())
    term = given("TERM") if given("TERM") in TERMS else DEFAULT_TERM
    lang = given("LANG") if given("LANG") in LANGS else LANGS[0]
    env = {
        "HOME": home, "USER": user, "LOGNAME": user, "PATH": "/usr/bin:/bin",
        "LANG": lang, "LC_ALL": lang, "TERM": term, "ESCDELAY": "25",
    }
    if given("COLORTERM") in COLORTERMS:
        env["COLORTERM"] = given("COLORTERM")
    if config:
        env["JUKI_CONFIG"] = config
    connection = given("SSH_CONNECTION")
    if _ssh_connection(connection):
        env["SSH_CONNECTION"] = connection
    return env


def _ssh_connection(value: str) -> bool:
    """``client port server port`` as sshd writes it (addresses and numbers only)."""
    parts = value.split(" ")
    return (len(value) <= 200 and len(parts) == 4 and parts[1].isdigit()
            and parts[3].isdigit()
            and all(p and all(c in "0123456789abcdefABCDEF.:%" for c in p) for p in parts))


def _take_terminal(fds: list[int]) -> None:
    """The handed descriptors become 0, 1 and 2 (whatever numbers they came as)."""
    high = [os.dup(fd) for fd in fds]
    for fd in fds:
        server_wire.close_quietly(fd)
    for target, fd in enumerate(high):
        os.dup2(fd, target)
        server_wire.close_quietly(fd)


def _not_dumpable() -> None:
    """No core dump, no ptrace, /proc/PID/mem and environ root's alone: a process of the
    service account (another console) cannot read this one. Named for ``ps`` too."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(b"juki-console"), 0, 0, 0)


def _fresh_stdio() -> None:
    """Python's streams for the new 0, 1 and 2, in UTF-8 (the server's may be anything).
    Textual draws on ``sys.__stderr__`` and reads ``sys.__stdin__``'s descriptor."""
    streams = {
        "stdin": open(0, encoding="utf-8", closefd=False),
        "stdout": open(1, "w", buffering=1, encoding="utf-8", closefd=False),
        "stderr": open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace",
                       closefd=False),
    }
    for name, stream in streams.items():
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _end_child(code: int) -> NoReturn:
    """``os._exit`` after what an ordinary exit would do: the streams and the anchor."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    anchor = sys.modules.get("logs.anchor")
    if anchor is not None:
        try:
            anchor.flush()
        except BaseException:
            pass
    os._exit(code)


def _noted(signum: int, frame: object) -> None:
    """Written to the wake-up pipe; the loop acts on it."""


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass




def _log(text: str) -> None:
    print(f"{LOG} {text}", file=sys.stderr, flush=True)
