"""The home screen: who is signed in, their roles, and the workspaces they may open.

Workspaces appear here (and get their F-key in the key line) only when they exist and
one of the user's roles holds the permission they need — see ``screens.workspaces``.
Until then the screen says so and lists what the roles allow.

「対応が必要なこと」 lists what this person must act on (overdue re-confirmations of
rights changes, grants waiting for an admin), as ``services.personnel.confirm.waiting``
words it, fetched in a worker each time the screen comes to the front.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Header, Static

from auth.roles import Perm
from core.clock import minute_text
from core.inert import as_text
from screens.keybar import KeyBar
from screens.widgets import WorkspaceEnv, message_text, perm_label, roles_text
from screens.workspace import WorkspaceScreen
from screens.workspaces import Workspace, workspaces_for

EMPTY = "利用できる業務画面はまだありません。"
EMPTY_HINT = "業務画面が用意されると、役割に応じてここに表示され、F キーで開けます。"
TODO_TITLE = "対応が必要なこと"


def _row(label: str, value: object) -> Text:
    return Text.assemble((f"{label:　<6}", "bold"), as_text(value))


class HomeScreen(WorkspaceScreen[None]):
    """The desk after sign-in. Keys: the workspaces' F-keys, ctrl+l lock, ctrl+o sign out."""

    CSS_PATH = "home.tcss"

    def __init__(self, env: WorkspaceEnv) -> None:
        super().__init__(env)
        self.todo: list[str] = []
        """What the home screen now says this person must act on (plain lines)."""
        self.workspaces: list[Workspace] = workspaces_for(env.identity.permissions)
        for ws in self.workspaces:
            # One binding per offered workspace, so the key line shows exactly these keys.
            self._bindings.bind(ws.key, f"open_workspace({ws.name!r})", ws.title)

    def compose(self) -> ComposeResult:
        ident = self.env.identity
        yield Header(icon="")
        with VerticalScroll(id="home"):
            yield Static("サインイン中の職員", classes="section-title")
            roles = roles_text(ident.roles)
            started = minute_text(ident.started_at)
            yield Static(
                Text("\n").join([
                    _row("氏名", ident.name),
                    _row("ログイン名", ident.login),
                    _row("所属", ident.department or "—"),
                    _row("役割", roles),
                    _row("開始", started),
                    _row("接続元", ident.client_addr or "この端末"),
                ]),
                id="who",
            )
            yield Static(TODO_TITLE, classes="section-title", id="todo-title")
            yield Static("", id="todo")
            yield Static("業務画面", classes="section-title")
            if self.workspaces:
                lines = [
                    Text.assemble((f"{ws.key.upper():<4}", "bold"), as_text(ws.title),
                                  ("  " + ws.help, "dim") if ws.help else "")
                    for ws in self.workspaces
                ]
                yield Static(Text("\n").join(lines), id="workspaces")
            else:
                yield Static(
                    Text("\n").join([message_text(EMPTY), message_text(EMPTY_HINT)]),
                    id="workspaces", classes="empty",
                )
            yield Static("この役割でできること", classes="section-title")
            perms = sorted(ident.permissions, key=list(Perm).index)
            yield Static(
                Text("\n").join([Text("・") + as_text(perm_label(p)) for p in perms])
                if perms else as_text("なし"),
                id="permissions",
            )
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = self.env.identity.login
        self._show_todo([])

    def on_screen_resume(self) -> None:
        """In front again (signed in, a workspace closed, unlocked): ask anew."""
        self._load_todo()

    def _load_todo(self) -> None:
        env = self.env

        def todo() -> list[str]:
            # not at the top: this screen loads before the first paint, the services after
            from services.todo import todo_lines

            return todo_lines(env.db, env.settings, env.identity)

        self.call_service(todo, self._show_todo, lambda message: self._show_todo([message]),
                          group="home-todo")

    def _show_todo(self, lines: list[str]) -> None:
        self.todo = list(lines)
        self.query_one("#todo-title").display = bool(lines)
        todo = self.query_one("#todo", Static)
        todo.display = bool(lines)
        todo.update(Text("\n").join([Text("・") + message_text(line, "bold") for line in lines]))

    def action_open_workspace(self, name: str) -> None:
        for ws in self.workspaces:
            if ws.name == name:
                self.app.push_screen(ws.open(self.env))
                return
