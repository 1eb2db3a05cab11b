"""Pieces shared by the screens: labels, the 支援措置 mark, the inert message line, the
comment, reason and password dialogs, ``log_unexpected`` (the unexpected-error line).

Everything shown here that did not come from our own constants passes ``core.inert``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Static

from auth.identity import Identity
from auth.roles import Perm, role_label
from core.crashlog import log_unexpected as log_unexpected  # the console imports it from here
from core.inert import as_text
from core.settings import Settings
from screens.keybar import KeyBar
from screens.message import MessageLine as MessageLine
from screens.message import message_text as message_text
from screens.message import password_refused as password_refused

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


LOADING = "読み込んでいます…"
"""A list or a sheet is being read (every workspace's count line says it alike)."""
RECORDING = "記録しています…"
"""An act is being recorded (a decision, a confirmation)."""

RESTRICTED_MARK = "【支援措置】"
RESTRICTED_STYLE = "bold white on red"


def restricted_cell(restricted: bool) -> Text:
    """The DV等支援措置 mark that every list and record shows before such a resident."""
    return Text(RESTRICTED_MARK, style=RESTRICTED_STYLE) if restricted else Text("")


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
        # A dialog box's layout, alike in shape to the others' (a pair in duplicates).
        with Vertical(id="comment-box"):
            yield Static(as_text(self.title_text), id="comment-title")
            yield Static(message_text(self.prompt_text), id="comment-prompt")
            yield Input(id="comment", max_length=self.max_length, placeholder=self.placeholder)
            with Horizontal(id="comment-buttons"):
                yield Button(self.ok_label, id="comment-ok", variant="warning")
                yield Button("取消", id="comment-cancel")
            yield MessageLine(id="comment-message")
        yield KeyBar()

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

    # Style and keys: declared alike in shape to the other dialogs' (a pair in duplicates).
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
        yield KeyBar()

    @on(Input.Submitted, "#stepup-password")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


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
