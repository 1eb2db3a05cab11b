"""The sign-in screen: login name and password, refusals worded by ``auth.signin``.

The password check (argon2, ~100 ms) runs in a thread worker so the screen keeps
painting; the service records every attempt, and this screen only shows its answer.
``services.personnel.apply.sign_in_checked`` applies due revocations before the check.
Over the SSH door the key has already named the account (``door_login``): the login is
shown fixed and only the password is asked; every check of a sign-in still runs.
Under the form, a note shows what the console's start-up work said (``juki demo``: the
demo accounts and their password); a sign-in waits until that work is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Label, Static

from core.crashlog import log_unexpected
from core.errors import JukiError
from core.inert import clean_line
from screens.keybar import KeyBar
from screens.message import MessageLine, password_refused

if TYPE_CHECKING:
    from auth.identity import Identity
    from core.settings import Settings
    from screens.widgets import Desk

READY_MARK = "ログイン名"  # what bench/startup.py waits for: the form is painted
SIGN_IN_CSS = str(Path(__file__).with_name("signin.tcss"))
"""The sign-in screen's rules, loaded as the app's own (``console.app.JukiApp``)."""
_LOAD_LOCK = threading.Lock()


def load_sign_in() -> Callable[..., Identity]:
    """Import the sign-in service (SQLAlchemy and all), one thread at a time.

    The app warms this up after the first paint while the user types. A sign-in worker
    that starts meanwhile must wait: two threads importing SQLAlchemy at once can meet in
    its circular imports, and one of them then gets a half-initialised module (seen over
    SSH, where nothing is cached yet: the sign-in stayed on 確認しています… for ever).
    """
    with _LOAD_LOCK:
        from services.personnel.apply import sign_in_checked
    return sign_in_checked


class StartNote(VerticalScroll, can_focus=False):
    """What the start-up work said, scrolled to its last line. Mounted only when there is
    something to say: ``juki`` alone paints without it (start-up time)."""

    def __init__(self, text: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._body = Static(self._inert(text))  # kept: a line may come before it is mounted

    def compose(self) -> ComposeResult:
        yield self._body

    def on_mount(self) -> None:
        self.anchor()  # the last lines (the accounts) in view, however long the note grows

    def show(self, text: str) -> None:
        self._body.update(self._inert(text))

    @staticmethod
    def _inert(text: str) -> Text:
        return Text("\n".join(clean_line(line) for line in text.split("\n")))


class SignInScreen(Screen[None]):
    """Asks who you are. Posts ``SignedIn`` to the app when the service says yes."""

    AUTO_FOCUS = "#login, #password"  # the first that takes focus (a fixed login does not)
    SUB_TITLE = "サインイン"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "next_field", show=False, priority=True, id="signin.next_field"),
        Binding("tab", "next_field", show=False, priority=True, id="signin.tab_field"),
    ]

    class SignedIn(Message):
        """The service opened a session for ``identity``."""

        def __init__(self, identity: Identity) -> None:
            super().__init__()
            self.identity = identity

    def __init__(
        self, desk: Desk, client_addr: str = "", *,
        ssh_keys: tuple[str, ...] = (), door_login: str | None = None, note: str = "",
        ready: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.ready = ready
        """Set when the console's start-up work is done; a sign-in waits for it."""
        self._note = note
        self.desk = desk
        self.ssh_keys = tuple(ssh_keys)  # the SSH keys of this connection (auth.ssh_keys)
        self.door_login = door_login
        """The login the SSH door fixed for this connection's key: shown, not editable;
        only the password is asked (and every sign-in check still runs)."""
        self.settings: Settings = desk.settings
        self.client_addr = client_addr

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        with Center(), Vertical(id="signin-box"):
            yield Static("サインイン", id="signin-title")
            yield Label(READY_MARK, classes="field-label")
            if self.door_login:
                yield Input(self.door_login, id="login", max_length=64, disabled=True)
                yield Static("SSH 鍵の持ち主としてサインインします。", classes="field-note")
            else:
                yield Input(id="login", max_length=64)
            yield Label("パスワード", classes="field-label")
            yield Input(
                id="password", password=True, max_length=self.settings.password_max_length,
            )
            yield Button("サインイン", id="signin", variant="primary")
            yield MessageLine(id="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.show_note(self._note)

    def reset(self, message: str = "", kind: str = "info") -> None:
        """The form afresh: the way back after a session (sign-out, a lock-out, an end the
        session check found) to this screen, which stays under the others all along."""
        self._set_busy(False)
        login = self.query_one("#login", Input)
        password = self.query_one("#password", Input)
        if not self.door_login:
            login.value = ""
        password.value = ""
        line = self.query_one(MessageLine)
        if message:
            line.show(message, kind)
        else:
            line.clear()
        self.set_focus(password if self.door_login else login)

    def show_note(self, text: str) -> None:
        """Show ``text`` (the start-up work's lines) under the form."""
        self._note = text
        shown = self.query(StartNote)
        if shown:
            shown.first().show(text)
        elif text:
            self.mount(StartNote(text, id="signin-note"), after=self.query_one(Center))

    def action_next_field(self) -> None:
        """Enter or Tab in the login field moves to the password field at once.

        A priority binding runs as the key is read, so keys typed ahead (a fast typist,
        a paste, tmux send-keys) land in the password field, not after the login name —
        where a password would show in clear and be recorded as the login tried.
        ``Widget.focus`` (Tab's own focus_next) would move focus only after the keys
        already read. Elsewhere the keys do what they always do.
        """
        if self.focused is not self.query_one("#login", Input):
            raise SkipAction()
        self.set_focus(self.query_one("#password", Input))

    @on(Input.Submitted, "#password")
    @on(Button.Pressed, "#signin")
    def _submit(self) -> None:
        login = self.door_login or self.query_one("#login", Input).value.strip()
        password = self.query_one("#password", Input).value
        line = self.query_one(MessageLine)
        if not login:
            line.show("ログイン名を入力してください。")
            self.query_one("#login", Input).focus()
            return
        if not password:
            line.show("パスワードを入力してください。")
            self.query_one("#password", Input).focus()
            return
        self._set_busy(True)
        line.show("確認しています…", "info")
        self._attempt(login, password)

    def _set_busy(self, busy: bool) -> None:
        self.query_one("#signin", Button).disabled = busy
        for field in self.query(Input):
            field.disabled = busy or (field.id == "login" and bool(self.door_login))

    @work(thread=True, exclusive=True, group="signin", exit_on_error=False)
    def _attempt(self, login: str, password: str) -> None:
        # The database layer loads after the first paint. Rights changes that are due
        # (a leaver's 発令日) are applied first, so a leaver is refused even before cron.
        try:
            if self.ready is not None:
                self.ready.wait()  # the start-up work (the demo's accounts) comes first
                if not self.is_running:
                    return  # the console closed meanwhile: no session to open
            sign_in_checked = load_sign_in()
            identity = sign_in_checked(self.desk.db, self.settings, login, password,
                                       self.client_addr, ssh_keys=self.ssh_keys)
        except JukiError as exc:
            self.app.call_from_thread(self._refused, exc.message)
            return
        except Exception as exc:
            self.app.call_from_thread(self._refused, log_unexpected(self.settings, exc))
            return
        self.app.call_from_thread(self._signed_in, identity)

    def _signed_in(self, identity: Identity) -> None:
        # This screen stays under home for the session: it keeps no password meanwhile.
        self.query_one("#password", Input).value = ""
        self.post_message(self.SignedIn(identity))

    def _refused(self, message: str) -> None:
        self._set_busy(False)
        password_refused(self.query_one(MessageLine), self.query_one("#password", Input), message)
