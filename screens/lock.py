"""The lock screen: covers everything, asks the password again.

It is a full ``Screen`` (not a modal), so nothing of the screens below is painted while
it is up. Wrong passwords count toward the account lockout in ``auth.signin.unlock``;
when the lockout (or the session's end) closes the session, the app returns to sign-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static

from auth.identity import Identity
from core.crashlog import log_unexpected
from core.errors import JukiError, Refused
from core.inert import as_text
from core.settings import Settings
from screens.keybar import KeyBar
from screens.widgets import MessageLine, password_refused

if TYPE_CHECKING:
    from core.db import Database


class LockScreen(Screen[None]):
    """Shown on idle or ``ctrl+l``; only the session's own password lifts it."""

    CSS_PATH = "lock.tcss"
    AUTO_FOCUS = "#unlock-password"

    # The messages it posts: declared alike in shape to other widgets' (a pair in duplicates).
    class Unlocked(Message):
        """The service accepted the password; the session goes on."""

    class Ended(Message):
        """The session is over (lockout, expiry, disabled account); ``reason`` says why."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    class SignOutRequested(Message):
        """The user chose to sign out instead of unlocking."""

    def __init__(self, db: Database, settings: Settings, identity: Identity) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.identity = identity

    def compose(self) -> ComposeResult:
        # A dialog box's layout, alike in shape to the others' (a pair in duplicates).
        with Vertical(id="lock-box"):
            yield Static("画面をロックしました", id="lock-title")
            yield Static(as_text(f"ログイン名: {self.identity.login}"), id="lock-login")
            yield Label("ロックを解除するにはパスワードを入力してください。")
            yield Input(
                id="unlock-password", password=True,
                max_length=self.settings.password_max_length,
            )
            with Horizontal(id="lock-buttons"):
                yield Button("解除", id="unlock", variant="primary")
                yield Button("サインアウト", id="lock-signout")
            yield MessageLine(id="lock-message")
        yield KeyBar()

    @on(Input.Submitted, "#unlock-password")
    @on(Button.Pressed, "#unlock")
    def _submit(self) -> None:
        password = self.query_one("#unlock-password", Input).value
        line = self.query_one(MessageLine)
        if not password:
            line.show("パスワードを入力してください。")
            return
        self._set_busy(True)
        line.show("確認しています…", "info")
        self._attempt(password)

    @on(Button.Pressed, "#lock-signout")
    def _sign_out(self) -> None:
        self.post_message(self.SignOutRequested())

    def _set_busy(self, busy: bool) -> None:
        self.query_one("#unlock", Button).disabled = busy
        self.query_one("#unlock-password", Input).disabled = busy

    @work(thread=True, exclusive=True, group="unlock", exit_on_error=False)
    def _attempt(self, password: str) -> None:
        # not at the top: this screen loads before the first paint, the database layer after
        from auth.signin import SessionState, check_session, unlock

        try:
            unlock(self.db, self.settings, self.identity, password)
        except Refused as exc:
            try:
                state = check_session(self.db, self.settings, self.identity)
            except Exception:
                state = SessionState.ACTIVE
            if state is SessionState.ACTIVE:
                self.app.call_from_thread(self._refused, exc.message)
            else:
                self.post_message(self.Ended(exc.message))
            return
        except JukiError as exc:  # the database away (StorageFault): said, not logged
            self.app.call_from_thread(self._refused, exc.message)
            return
        except Exception as exc:
            self.app.call_from_thread(self._refused, log_unexpected(self.settings, exc))
            return
        self.post_message(self.Unlocked())

    def _refused(self, message: str) -> None:
        self._set_busy(False)
        password_refused(self.query_one(MessageLine), self.query_one("#unlock-password", Input),
                         message)
