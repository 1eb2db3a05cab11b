"""The Textual app: sign-in, home, idle lock, the session's absolute limit, sign-out.

The app owns the session's life; the screens own their forms. Every database call runs
in a thread worker (docs/architecture.md rule 10) and every decision is the service's
(``auth.signin``): the app only reacts to its answers. The built-in screenshot is not
offered anywhere (palette, keys, ``TEXTUAL_SCREENSHOT``); an attempt is refused and
recorded. Quitting, a hang-up and a crash all end the session in the trail.

Start-up time: the sign-in form paints before SQLAlchemy loads (about a quarter of a
second; bench/startup), so the services (``auth.signin``, ``logs.audit``, capture) are
imported where a worker first uses them, and the screens after sign-in (home, lock, the
workspaces) where the app first shows them, each marked ``# on use``. Once the form is
painted a worker loads the database layer and runs the start-up work it was given
(``juki demo``: preparing the demo register); a sign-in waits for that work.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from time import monotonic
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input

from auth.roles import Perm
from console import starttrace
from core.actor import Actor, ssh_client_address
from core.crashlog import log_unexpected
from core.errors import JukiError, StorageFault
from screens.signin import SIGN_IN_CSS, SignInScreen

if TYPE_CHECKING:
    from auth.identity import Identity
    from console.context import Context
    from screens.lock import LockScreen

Prepare = Callable[["Context", Callable[[str], None]], None]
"""Start-up work run behind the first paint (``juki demo``: the demo register); it says
what it did, line by line, and the sign-in screen shows the lines under the form."""

SESSION_CHECK_SECONDS = 5.0
TERMINAL_CHECK_SECONDS = 1.0
HANGUP_GRACE_SECONDS = 8.0
SIGNED_OUT = "サインアウトしました。"
ENDED_MESSAGES = {
    "expired": "セッションの上限時間 ({hours:g}時間) に達したため、サインアウトしました。"
    "もう一度サインインしてください。",
    "disabled": "アカウントが無効にされたため、セッションを終了しました。",
    "revoked": "人事異動により権限が変更されたため、セッションを終了しました。",
    "ended": "セッションは終了しています。もう一度サインインしてください。",
}
CAPTURE_REFUSED = "画面の保存は、この端末では許可されていません。"
DATABASE_TITLE = "データベース"
DATABASE_BACK = "データベースに再接続しました。操作を続けられます。"
AWAY_NOTICE_SECONDS = 24 * 3600.0
"""The notice that the database is away stays until it is back (or a lock clears it)."""
WITNESS_NOTICE_SECONDS = 60.0


class JukiApp(App[int]):
    """The console. ``ctx`` carries settings and the database; nothing is global."""

    class StartSaid(Message):
        """The start-up work said a line (posted from its worker: thread-safe)."""

    class WitnessFailed(Message):
        """An act committed but the trail's copy (JSON-lines) or anchor was not written
        (``logs.stream.report_failure``, from whichever thread acted)."""

        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    TITLE = "住民記録 業務コンソール"
    CSS_PATH = SIGN_IN_CSS
    """The app's own, so that the first screen is styled in the first pass (a screen's
    CSS_PATH is loaded only as it is pushed, and every node is then styled again)."""
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "終了", id="quit", priority=True),
        Binding("ctrl+l", "lock", "ロック", id="lock", priority=True),
        Binding("ctrl+o", "sign_out", "サインアウト", id="sign_out", priority=True),
        Binding(
            "ctrl+p", "command_palette", "コマンド", id="command_palette", priority=True,
            show=False,  # the key line shows the palette key on its right already
        ),
    ]

    def __init__(
        self, ctx: Context, *, client_addr: str | None = None,
        session_check_seconds: float = SESSION_CHECK_SECONDS, handle_signals: bool = False,
        prepare: Prepare | None = None,
    ) -> None:
        self.ctx = ctx
        self.prepare = prepare
        self.start_lines: list[str] = []
        """What the start-up work has said so far (shown under the sign-in form)."""
        self.ready = threading.Event()
        """Set when the database layer is loaded and the start-up work done (or failed)."""
        self.client_addr = ssh_client_address() if client_addr is None else client_addr
        self.identity: Identity | None = None
        """Who is signed in now (None on the sign-in screen)."""
        self.open_session: Identity | None = None
        """A session not yet recorded as ended; ``run_console`` ends it if the app dies."""
        self.locked = False
        self.end_reason: str | None = None
        self.ending: threading.Thread | None = None
        """Records the session's end at once on a hang-up, while the app tears down."""
        """Why the console is ending when a signal or terminal loss ends it (``run_console``)."""
        self._session_check_seconds = session_check_seconds
        self._handle_signals = handle_signals
        self._last_input = monotonic()
        self._session_timers: list[Timer] = []
        self.database_away = ""
        """What the notice says while the session check cannot reach the database."""
        self._away_said = False
        self._witness_listener: Callable[[str], None] | None = None
        super().__init__()

    # --- screens ---------------------------------------------------------------------

    def get_default_screen(self) -> SignInScreen:
        """Sign-in is the bottom of the stack, for the whole life of the app: the first
        frame is the form (one screen composed, styled and drawn, not Textual's blank
        screen and then the form; bench/ssh.py). Everything else goes above it."""
        return SignInScreen(self.ctx, self.client_addr,
                            ssh_keys=getattr(self.ctx, "ssh_keys", ()),
                            door_login=getattr(self.ctx, "door_login", None),
                            note="\n".join(self.start_lines), ready=self.ready)

    def _above_sign_in(self, screen: Screen | None = None) -> None:
        """Drop every screen above sign-in (home, workspaces, palette, lock); then show
        ``screen`` over it, or sign-in itself when None."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if screen is not None:
            self.push_screen(screen)

    async def on_mount(self) -> None:
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, self._hang_up, "hangup")
            loop.add_signal_handler(signal.SIGTERM, self._hang_up, "terminated")
            self.set_interval(TERMINAL_CHECK_SECONDS, self._check_terminal)
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        """The sign-in form's first frame is out: only now load the database layer."""
        try:
            starttrace.record(self.ctx.settings.start_trace, "painted")
        except OSError as exc:  # a diagnostic must not stop the console
            log_unexpected(self.ctx.settings, exc)
        self._warm_up()

    # --- hang-up: the SSH connection dropped, or the terminal is gone -------------------

    def _hang_up(self, reason: str) -> None:
        """SIGHUP (sshd closed the terminal) or SIGTERM: leave now; ``run_console`` records
        the session's end with ``reason``. A watchdog makes sure the process is gone within
        seconds even if the database does not answer."""
        if self.end_reason is None:
            self.end_reason = reason
        exit_watchdog(HANGUP_GRACE_SECONDS)
        ident = self.open_session
        if ident is not None and self.ending is None:
            # Record the end now, beside the teardown: on a loaded machine Textual's
            # shutdown can take longer than the watchdog allows the exit path.
            self.ending = threading.Thread(
                target=_record_end, args=(self.ctx, ident, self.end_reason),
                name="juki-session-end", daemon=True,
            )
            self.ending.start()
        self.exit()

    def _check_terminal(self) -> None:
        # Without a SIGHUP (a parent that ignores it, a process not leading the terminal's
        # session) a hung-up terminal reads as endless EOF; its ioctls fail, so look.
        if terminal_lost():
            self._hang_up("hangup")

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """After the first paint, load the database layer while the user types, then do
        the start-up work; a sign-in waits on ``ready`` (the demo's accounts must exist)."""
        try:
            from screens.signin import load_sign_in  # on use: after the first paint

            load_sign_in()  # under the lock a sign-in worker also takes (no import race)
            _ = self.ctx.db
            if self.prepare is not None:
                self.prepare(self.ctx, self._say)
        except Exception as exc:  # without start-up work: shown when sign-in meets it
            line = log_unexpected(self.ctx.settings, exc)
            if self.prepare is not None:
                self._say(line)
        finally:
            self.ready.set()
            try:
                starttrace.record(self.ctx.settings.start_trace, "ready")
            except OSError as exc:
                log_unexpected(self.ctx.settings, exc)

    def _say(self, line: str) -> None:
        self.start_lines.append(line)
        self.post_message(self.StartSaid())

    def on_juki_app_start_said(self, message: StartSaid) -> None:
        note = "\n".join(self.start_lines)
        for screen in self.screen_stack:
            if isinstance(screen, SignInScreen):
                screen.show_note(note)

    # --- input and idle --------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.InputEvent, events.Paste)):
            self._last_input = monotonic()
        await super().on_event(event)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A steady cursor in every field: a blinking one redraws the field twice a second
        and sends the frame over SSH, about 10 ms of CPU a second for each console left
        waiting at a form (bench/ssh counts a sign-in's CPU up to home)."""
        field = event.widget
        if isinstance(field, Input) and field.cursor_blink:
            field.cursor_blink = False

    def _idle_tick(self) -> None:
        idle = self.ctx.settings.idle_lock_seconds
        if self.identity is not None and not self.locked:
            if monotonic() - self._last_input >= idle:
                self._lock("idle")

    def _start_timers(self) -> None:
        self._stop_timers()
        idle = self.ctx.settings.idle_lock_seconds
        timers = self._session_timers
        if idle > 0:
            timers.append(self.set_interval(max(0.05, min(1.0, idle / 5)), self._idle_tick))
        timers.append(self.set_interval(self._session_check_seconds, self._session_tick))

    def _stop_timers(self) -> None:
        for timer in self._session_timers:
            timer.stop()
        self._session_timers.clear()

    # --- sign-in, lock, unlock, end --------------------------------------------------

    def _listen_to_witnesses(self) -> None:
        """Have a witness that could not be written said here (once the trail is loaded:
        after sign-in); ``on_unmount`` stops listening."""
        if self._witness_listener is None:
            from logs import stream  # on use: after the first paint

            def failed(line: str) -> None:
                self.post_message(self.WitnessFailed(line))

            self._witness_listener = failed
            stream.failure_listeners.append(failed)

    def on_juki_app_witness_failed(self, message: WitnessFailed) -> None:
        self.notify(message.line, title="操作ログ", severity="warning", markup=False,
                    timeout=WITNESS_NOTICE_SECONDS)

    def on_unmount(self) -> None:
        if self._witness_listener is not None:
            from logs import stream  # loaded: the listener was added after it

            if self._witness_listener in stream.failure_listeners:
                stream.failure_listeners.remove(self._witness_listener)
            self._witness_listener = None

    def on_sign_in_screen_signed_in(self, message: SignInScreen.SignedIn) -> None:
        self._listen_to_witnesses()
        self.identity = self.open_session = message.identity
        self.locked = False
        self._last_input = monotonic()
        self._start_timers()
        from screens.home import HomeScreen  # on use: after the first paint
        from screens.widgets import WorkspaceEnv

        env = WorkspaceEnv(self.ctx.db, self.ctx.settings, message.identity)
        self._above_sign_in(HomeScreen(env))
        self.refresh_bindings()

    def action_lock(self) -> None:
        self._lock("manual")

    def _lock(self, reason: str) -> None:
        ident = self.identity
        if ident is None or self.locked:
            return
        self.locked = True
        self.clear_notifications()
        self._away_said = False  # the notice went with the rest: said again while away
        from screens.lock import LockScreen  # on use: after the first paint

        self.push_screen(LockScreen(self.ctx.db, self.ctx.settings, ident))
        self.refresh_bindings()
        self._record_lock(ident, reason)

    @work(thread=True, group="session-record", exit_on_error=False)
    def _record_lock(self, ident: Identity, reason: str) -> None:
        from auth.signin import lock  # on use: SQLAlchemy after the first paint

        try:
            lock(self.ctx.db, ident, reason)
        except StorageFault as exc:  # locked all the same; the notice says why unrecorded
            self.call_from_thread(self._database_away, exc.waiting)
        except Exception as exc:
            self.call_from_thread(self._warn, log_unexpected(self.ctx.settings, exc))

    def on_lock_screen_unlocked(self, message: LockScreen.Unlocked) -> None:
        from screens.lock import LockScreen  # loaded: this message came from it

        self.locked = False
        self._last_input = monotonic()
        while len(self.screen_stack) > 2:
            if isinstance(self.screen_stack[-1], LockScreen):
                self.pop_screen()
                break
            self.pop_screen()
        self.refresh_bindings()

    def on_lock_screen_ended(self, message: LockScreen.Ended) -> None:
        self._end_session(message.reason, "error")
        self.open_session = None

    def on_lock_screen_sign_out_requested(self, message: LockScreen.SignOutRequested) -> None:
        self.action_sign_out()

    def _end_session(self, message: str, kind: str = "info") -> None:
        """Forget the signed-in user at once and go back to sign-in (the record follows)."""
        self.identity = None
        self.locked = False
        self._stop_timers()
        self.clear_notifications()
        self.database_away, self._away_said = "", False
        self._above_sign_in()
        sign_in = self.screen_stack[0]
        assert isinstance(sign_in, SignInScreen)  # the bottom, always (get_default_screen)
        sign_in.reset(message, kind)
        sign_in.show_note("\n".join(self.start_lines))  # all said so far, as a new form would
        self.refresh_bindings()

    def action_sign_out(self) -> None:
        ident = self.identity
        if ident is None:
            return
        self._end_session(SIGNED_OUT)
        self._sign_out(ident, "signout")

    @work(thread=True, group="session-record", exit_on_error=False)
    def _sign_out(self, ident: Identity, reason: str, then_exit: bool = False) -> None:
        from auth.signin import sign_out  # on use: SQLAlchemy after the first paint

        try:
            sign_out(self.ctx.db, ident, reason)
            if self.open_session is ident:
                self.open_session = None
        except Exception as exc:
            line = said(self.ctx, exc)
            if not then_exit:
                self.call_from_thread(self._warn, line)
        finally:
            if then_exit:
                self.call_from_thread(self.exit)

    async def action_quit(self) -> None:
        """Quitting signs out first, so the trail shows where the session ended."""
        ident = self.identity
        if ident is None:
            self.exit()
            return
        self.identity = None
        self._stop_timers()
        self._sign_out(ident, "quit", then_exit=True)

    def _session_tick(self) -> None:
        if self.identity is not None:
            self._check_session(self.identity)

    @work(thread=True, exclusive=True, group="session-check", exit_on_error=False)
    def _check_session(self, ident: Identity) -> None:
        from auth.signin import SessionState, check_session  # on use: after the first paint

        try:
            state = check_session(self.ctx.db, self.ctx.settings, ident)
        except StorageFault as exc:  # the database is away: say so; the next check retries
            self.call_from_thread(self._database_away, exc.waiting)
            return
        except Exception as exc:
            log_unexpected(self.ctx.settings, exc)
            return  # a passing database error is not the session's end; try again later
        self.call_from_thread(self._database_back)
        if state is not SessionState.ACTIVE:
            self.call_from_thread(self._session_over, ident, str(state))

    def _session_over(self, ident: Identity, state: str) -> None:
        if self.identity is None or self.identity.session_id != ident.session_id:
            return
        hours = self.ctx.settings.session_max_hours
        self._end_session(ENDED_MESSAGES.get(state, ENDED_MESSAGES["ended"]).format(
            hours=hours), "error")
        self.open_session = None

    def _database_away(self, waiting: str) -> None:
        """The session check could not reach the database: a notice that stays until it
        is back (said again after a lock cleared it); the screens stay as they are."""
        if not self._away_said or self.database_away != waiting:
            self.database_away, self._away_said = waiting, True
            self.notify(waiting, title=DATABASE_TITLE, severity="error",
                        timeout=AWAY_NOTICE_SECONDS, markup=False)

    def _database_back(self) -> None:
        if self.database_away:
            self.database_away, self._away_said = "", False
            self.clear_notifications()
            self.notify(DATABASE_BACK, title=DATABASE_TITLE, markup=False)

    def _warn(self, line: str) -> None:
        self.notify(line, severity="error", markup=False)

    # --- keys and palette ------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "lock":
            return self.identity is not None and not self.locked
        if action == "sign_out":
            return self.identity is not None
        return True

    def action_command_palette(self) -> None:
        # is_open takes App[object]; App is invariant, so any typed app fails it.
        if self.use_command_palette and not CommandPalette.is_open(self):  # type: ignore[arg-type]
            self.push_screen(CommandPalette(placeholder="コマンドを検索…", id="--command-palette"))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Only what this user may do now; no screenshot, no theme, no key panel."""
        ident = self.identity
        if ident is not None and not self.locked:
            from screens.widgets import WorkspaceEnv  # on use: after sign-in
            from screens.workspaces import workspaces_for

            env = WorkspaceEnv(self.ctx.db, self.ctx.settings, ident)
            for ws in workspaces_for(ident.permissions):
                yield SystemCommand(
                    ws.title, ws.help or f"{ws.key.upper()} で開く",
                    lambda ws=ws: self.push_screen(ws.open(env)),
                )
            yield SystemCommand("ロック", "画面をロックする (ctrl+l)", self.action_lock)
            if ident.can(Perm.SCREEN_CAPTURE):
                yield SystemCommand(
                    "画面を保存", "理由を記録して、いまの画面をファイルに保存する",
                    self._ask_capture,
                )
        if ident is not None:
            yield SystemCommand(
                "サインアウト", "セッションを終了する (ctrl+o)", self.action_sign_out
            )
        yield SystemCommand(
            "終了", "サインアウトしてコンソールを終了する (ctrl+q)", self.action_quit
        )

    def action_help_quit(self) -> None:
        self.notify("終了するには ctrl+q を押してください。", markup=False)

    # --- screen capture: only with the permission, a reason, and a record --------------

    def _may_capture(self) -> bool:
        ident = self.identity
        return ident is not None and not self.locked and ident.can(Perm.SCREEN_CAPTURE)

    def _capture(self, how: str) -> None:
        """Textual's own ways to a screenshot all come here: asked with a reason, or refused."""
        if self._may_capture():
            self._ask_capture()
        else:
            self._refuse_capture(how)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        self._capture("action")

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        self._capture("deliver")
        return None

    def save_screenshot(
        self, filename: str | None = None, path: str | None = None,
        time_format: str | None = None,
    ) -> str:
        self._capture("save")
        return ""

    def _ask_capture(self) -> None:
        """Ask the reason; then export the screen as it was and save it in a worker."""
        ident = self.identity
        if ident is None:
            return

        def chosen(reason: str | None) -> None:
            if reason is None or self.identity is not ident or self.locked:
                return
            self._save_capture(ident, self.export_screenshot(), reason)

        from screens.widgets import CommentDialog  # on use: after sign-in

        self.push_screen(CommentDialog(
            "画面の保存",
            "保存する理由を入力してください。理由とファイルのハッシュが記録されます。",
            ok_label="保存する", max_length=200,
        ), chosen)

    @work(thread=True, group="capture", exit_on_error=False)
    def _save_capture(self, ident: Identity, svg: str, reason: str) -> None:
        from services.capture import save_capture  # on use: SQLAlchemy after the first paint

        try:
            saved = save_capture(self.ctx.db, self.ctx.settings, ident, svg, reason)
            message, severity = f"画面を保存しました: {saved.path}", "information"
        except JukiError as exc:
            message, severity = exc.message, "error"
        except Exception as exc:
            message, severity = log_unexpected(self.ctx.settings, exc), "error"
        self.call_from_thread(self.notify, message, severity=severity, markup=False)

    def _refuse_capture(self, how: str) -> None:
        self.notify(CAPTURE_REFUSED, severity="warning", markup=False)
        ident = self.identity
        actor = ident.actor if ident else Actor(login="", client_addr=self.client_addr)
        self._record_capture_refusal(actor, how)

    @work(thread=True, group="session-record", exit_on_error=False)
    def _record_capture_refusal(self, actor: Actor, how: str) -> None:
        from logs.audit import record_alone  # on use: SQLAlchemy after the first paint

        try:
            record_alone(
                self.ctx.db, actor, "screen.capture", outcome="refused", severity="warning",
                details={"reason": "not_offered", "how": how},
            )
        except StorageFault:
            pass  # the database is away: the session check's notice says so
        except Exception as exc:
            log_unexpected(self.ctx.settings, exc)

    # --- no traceback reaches the user (docs/architecture.md rule 12) -------------------

    def _fatal_error(self) -> None:
        # Textual's default prints a traceback *with locals* (a typed password among
        # them). Write it to the error log instead and show one line.
        exc = sys.exc_info()[1] or RuntimeError("unknown error")
        line = log_unexpected(self.ctx.settings, exc)
        self.bell()
        self.panic(Text(line))


def terminal_lost(fd: int = 0) -> bool:
    """True when ``fd`` was a terminal that has been hung up (its ioctls now fail)."""
    try:
        os.tcgetpgrp(fd)
    except OSError as exc:
        return exc.errno in (errno.EIO, errno.ENXIO, errno.EBADF)
    return False


def exit_watchdog(seconds: float, code: int = 129) -> None:
    """End the process after ``seconds`` whatever is still running (a daemon thread)."""

    def later() -> None:
        time.sleep(seconds)
        os._exit(code)

    threading.Thread(target=later, name="juki-exit-watchdog", daemon=True).start()


def run_console(ctx: Context, *, prepare: Prepare | None = None, **kw: Any) -> int:
    """Run the console in this terminal; any session still open at exit is ended.

    The end is recorded with why: ``hangup`` when the terminal went away (the SSH
    connection dropped: SIGHUP, or a terminal that no longer answers), ``terminated``
    on SIGTERM, ``disconnect`` when the app died otherwise. ``prepare``: start-up work
    run behind the first paint (``Prepare``).
    """
    from console import stylesheets

    stylesheets.share()  # a screen's first show re-parses every source: once is enough
    app = JukiApp(ctx, handle_signals=True, prepare=prepare, **kw)
    try:
        app.run()
    finally:
        ident = app.open_session
        if ident is not None:
            reason = app.end_reason or ("hangup" if terminal_lost() else "disconnect")
            exit_watchdog(HANGUP_GRACE_SECONDS)
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut this short
            if app.ending is not None:
                app.ending.join(HANGUP_GRACE_SECONDS)
            _record_end(ctx, ident, reason)  # once: a second call finds it ended
    return app.return_code or 0


def _record_end(ctx: Context, ident: Identity, reason: str) -> None:
    from auth.signin import sign_out  # on use: SQLAlchemy after the first paint

    try:
        sign_out(ctx.db, ident, reason)
    except Exception as exc:  # the database may be what failed
        try:
            print(said(ctx, exc), file=sys.stderr)
        except OSError:  # no terminal to print to any more
            pass


def said(ctx: Context, exc: Exception) -> str:
    """The line for an error in the app's own database work (a lock, a sign-out): a
    database that is away in its own words, anything else logged (rule 12)."""
    if isinstance(exc, JukiError):
        return exc.message
    return log_unexpected(ctx.settings, exc)
