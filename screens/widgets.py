"""Pieces shared by the screens: labels, the inert message line, the comment dialog,
the unexpected-error path.

Everything shown here that did not come from our own constants passes ``core.inert``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Static

from auth.identity import Identity
from auth.roles import Perm, role_label
from core.crashlog import log_unexpected
from core.inert import as_text
from core.settings import Settings

if TYPE_CHECKING:
    from core.db import Database

# What each permission lets its holder do, in the words the section uses.
PERM_LABELS: dict[Perm, str] = {
    Perm.LOOKUP: "住民記録の照会",
    Perm.LOOKUP_MY_NUMBER: "個人番号による照会",
    Perm.REVEAL_MY_NUMBER: "個人番号の表示 (理由を記録)",
    Perm.OPEN_RESTRICTED: "支援措置対象者の記録の閲覧",
    Perm.LINK_PROPOSE: "個人番号の紐付けの起票",
    Perm.LINK_REVIEW: "個人番号の紐付けの確認 (二人目)",
    Perm.ACCESS_ADMIN: "アクセス権の変更",
    Perm.ACCESS_CONFIRM: "アクセス権の変更の再確認",
    Perm.USER_ADMIN: "アカウントの管理",
    Perm.AUDIT_READ: "操作ログの閲覧",
    Perm.SCREEN_CAPTURE: "画面の保存",
}


def perm_label(perm: Perm) -> str:
    """The Japanese label; a permission added later without one shows its code."""
    return PERM_LABELS.get(perm, str(perm))


def roles_text(roles: Iterable[str]) -> str:
    return "、".join(f"{role_label(r)} ({r})" for r in roles) or "なし"


def message_text(value: object, style: str = "") -> Text:
    """An inert line that may wrap (refusals can be longer than a narrow terminal)."""
    text = as_text(value, style)
    text.no_wrap = False
    return text


class MessageLine(Static):
    """The one place a screen tells the user what happened (refusal, progress, notice)."""

    DEFAULT_CSS = """
    MessageLine { height: auto; min-height: 1; }
    MessageLine.error { color: $error; text-style: bold; }
    MessageLine.info { color: $text-muted; }
    """

    plain: str = ""
    """What the line says now, as plain text (for tests and screen readers)."""

    def show(self, value: object, kind: str = "error") -> None:
        text = message_text(value)
        self.plain = text.plain
        self.set_classes(kind)
        self.update(text)

    def clear(self) -> None:
        self.plain = ""
        self.set_classes("")
        self.update("")


class CommentDialog(ModalScreen[str | None]):
    """Asks a comment or a reason before a recorded act; Esc or 取消 returns None.

    Whether one is required is the service's rule (a rejected link, a disputed rights
    change, a reveal); ``required`` only saves a round trip where it always is: an empty
    answer is pointed out here with that message. Shared by the linkage review, the
    access review and the record (``ReasonDialog``, below).
    """

    DEFAULT_CSS = """
    CommentDialog { align: center middle; }
    CommentDialog #comment-box {
        width: 76; height: auto; padding: 1 2;
        border: thick $warning; background: $surface;
    }
    CommentDialog #comment-title { text-style: bold; color: $warning; margin-bottom: 1; }
    CommentDialog #comment-prompt { margin-bottom: 1; }
    CommentDialog #comment-buttons { height: auto; margin-top: 1; }
    CommentDialog #comment-buttons Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "取消", id="comment.cancel"),
    ]
    AUTO_FOCUS = "#comment"

    def __init__(self, title: str, prompt: str, *, ok_label: str, max_length: int = 2000,
                 required: str = "", placeholder: str = "コメント") -> None:
        super().__init__()
        self.title_text = title
        self.prompt_text = prompt
        self.ok_label = ok_label
        self.max_length = max_length
        self.required = required
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="comment-box"):
            yield Static(as_text(self.title_text), id="comment-title")
            yield Static(message_text(self.prompt_text), id="comment-prompt")
            yield Input(id="comment", max_length=self.max_length, placeholder=self.placeholder)
            with Horizontal(id="comment-buttons"):
                yield Button(self.ok_label, id="comment-ok", variant="warning")
                yield Button("取消", id="comment-cancel")
            yield MessageLine(id="comment-message")
        yield Footer()

    @on(Input.Submitted, "#comment")
    @on(Button.Pressed, "#comment-ok")
    def _submit(self) -> None:
        text = self.query_one("#comment", Input).value.strip()
        if self.required and not text:
            self.query_one(MessageLine).show(self.required)
            return
        self.dismiss(text)

    @on(Button.Pressed, "#comment-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


REASON_MAX = 200
REASON_EMPTY = "理由を入力してください。"


class ReasonDialog(CommentDialog):
    """Asks for a reason before a recorded act (a restricted record, a reveal, an
    unlink); an empty reason is pointed out here, and the service checks again."""

    def __init__(self, title: str, prompt: str, *, ok_label: str = "記録して続ける") -> None:
        super().__init__(title, prompt, ok_label=ok_label, max_length=REASON_MAX,
                         required=REASON_EMPTY, placeholder="理由 (例: 窓口での本人確認)")


class Desk(Protocol):
    """Where settings and the database come from (``console.context.Context``).

    Screens read ``db`` only inside workers, so a context that opens the database on
    first use lets the sign-in screen paint before SQLAlchemy is even imported.
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...


@dataclass(frozen=True)
class WorkspaceEnv:
    """What a screen needs to act for the signed-in user: the database, settings, who."""

    db: Database
    settings: Settings
    identity: Identity


def holds(env: WorkspaceEnv, *perms: Perm) -> bool:
    """Whether the signed-in person's roles grant every one of ``perms``: a screen hides
    the keys of acts they could not do (``check_action``) instead of asking for a reason
    and then refusing. Only the offer: the service still checks at the moment of the act,
    and records a refusal."""
    return set(perms) <= env.identity.permissions


class StepUpDialog(ModalScreen[str | None]):
    """Asks the password again before a sensitive act (``auth.stepup``); Esc cancels."""

    DEFAULT_CSS = """
    StepUpDialog { align: center middle; }
    StepUpDialog #stepup-box {
        width: 64; height: auto; padding: 1 2; border: thick $warning; background: $surface;
    }
    StepUpDialog #stepup-title { text-style: bold; color: $warning; margin-bottom: 1; }
    StepUpDialog #stepup-error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "取消", id="stepup.cancel"),
    ]
    AUTO_FOCUS = "#stepup-password"

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="stepup-box"):
            yield Static(as_text("本人確認"), id="stepup-title")
            yield Static(message_text(self.message), id="stepup-prompt")
            yield Input(id="stepup-password", password=True, placeholder="パスワード")
            yield Static("", id="stepup-error")
        yield Footer()

    @on(Input.Submitted, "#stepup-password")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def ask_step_up(screen: Screen[Any], env: WorkspaceEnv, message: str,
                retry: Callable[[], object], cancelled: Callable[[], object]) -> None:
    """Ask the password (``StepUpDialog``); when ``auth.stepup.reauthenticate`` takes it,
    run ``retry`` (the act again), else say why and run ``cancelled``. Call on the UI
    thread, e.g. from a worker that caught ``StepUpNeeded``."""
    app = screen.app

    def answered(password: str | None) -> None:
        if not password:
            cancelled()
            return

        def check() -> None:
            from auth.stepup import reauthenticate
            from core.errors import JukiError

            try:
                reauthenticate(env.db, env.settings, env.identity, password)
            except JukiError as exc:
                app.call_from_thread(app.notify, exc.message, severity="error", markup=False)
                app.call_from_thread(cancelled)
                return
            except Exception as exc:
                line = log_unexpected(env.settings, exc)
                app.call_from_thread(app.notify, line, severity="error", markup=False)
                app.call_from_thread(cancelled)
                return
            app.call_from_thread(retry)

        screen.run_worker(check, thread=True, group="step-up", exit_on_error=False)

    app.push_screen(StepUpDialog(message), answered)


T = TypeVar("T")


def answer_from_service(
    screen: Screen[Any], env: WorkspaceEnv, call: Callable[[], T],
    done: Callable[[T], object], failed: Callable[[str], object], *,
    retry: Callable[[], object] | None = None, cancelled: Callable[[], object] | None = None,
) -> None:
    """Run in a worker thread: call ``call()``; hand its result to ``done`` on the UI thread,
    a refusal's Japanese message (or the logged line of an unexpected error) to ``failed``.
    With ``retry``, a ``StepUpNeeded`` asks the password (``ask_step_up``) and then runs
    ``retry``, else ``cancelled``; without it, the step-up's message goes to ``failed``.

    One place for the shape every screen worker repeats, so none forgets the log."""
    from core.errors import JukiError

    app = screen.app
    try:
        result = call()
    except JukiError as exc:
        if retry is not None:
            from auth.stepup import StepUpNeeded

            if isinstance(exc, StepUpNeeded):
                app.call_from_thread(ask_step_up, screen, env, exc.message, retry,
                                     cancelled or (lambda: None))
                return
        app.call_from_thread(failed, exc.message)
        return
    except Exception as exc:
        app.call_from_thread(failed, log_unexpected(env.settings, exc))
        return
    app.call_from_thread(done, result)


def refill_table(table: DataTable, rows: Iterable[tuple[str, Sequence[Text]]]) -> int:
    """Replace a page of ``(key, cells)`` rows, keeping the cursor where it was (within the
    new page). Cells are ``Text`` (never markup). Returns the number of rows shown.
    ``table`` is a ``screens.table.Table``: it sizes its columns to the new rows itself."""
    keep = max(table.cursor_row, 0)
    table.clear()
    count = 0
    for key, cells in rows:
        table.add_row(*cells, key=key)
        count += 1
    if count:
        table.move_cursor(row=min(keep, count - 1))
    return count
