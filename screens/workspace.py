"""The base of the workspace screens: who acts, the message line, paging, a service call.

Every workspace screen (the F-key screens and those opened from them: a record, a round,
the proposal form, the review) acts for one signed-in person (``WorkspaceEnv``: the
database, the settings, the identity), says what happened on its one ``MessageLine``,
and calls the services in thread workers so that the screen keeps painting.

``call_service`` is that call: the answer comes back on the UI thread; a refusal
(Refused, BadInput, NotFound, …) is said as the service words it, an unexpected error
as the line ``log_unexpected`` wrote; with ``step_up`` a ``StepUpNeeded`` asks the
password (``StepUpDialog``) and runs the call again. ``load`` is the same for a read
that a newer read replaces (a filter changed, a search sent again): only the latest
answer is shown. ``action_page`` pages through a list the screen holds.

The home screen is a workspace screen and is imported before the first paint, so this
module is too: what loads the database layer (``auth.stepup``) is imported inside the
functions that run after sign-in, each saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input

from core.crashlog import log_unexpected
from core.errors import JukiError
from screens.table import table_text
from screens.widgets import MessageLine, StepUpDialog, WorkspaceEnv

T = TypeVar("T")
R = TypeVar("R")


def ask_step_up(screen: Screen[Any], env: WorkspaceEnv, message: str,
                retry: Callable[[], None], cancelled: Callable[[], None]) -> None:
    """Ask the password (``StepUpDialog``); when ``auth.stepup.reauthenticate`` takes it,
    run ``retry`` (the act again), else say why and run ``cancelled``. Call on the UI
    thread, e.g. from a worker that caught ``StepUpNeeded``."""
    app = screen.app

    def answered(password: str | None) -> None:
        if not password:
            cancelled()
            return

        def check() -> None:
            from auth.stepup import reauthenticate  # not at the top: see the module docstring

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


def answer_from_service(
    screen: Screen[Any], env: WorkspaceEnv, call: Callable[[], T],
    done: Callable[[T], object], failed: Callable[[str], object], *,
    retry: Callable[[], None] | None = None, cancelled: Callable[[], None] | None = None,
) -> None:
    """In a worker thread: call ``call()``; hand its result to ``done`` on the UI thread,
    a refusal's Japanese message (or the logged line of an unexpected error) to ``failed``.
    With ``retry``, a ``StepUpNeeded`` asks the password (``ask_step_up``) and then runs
    ``retry``, else ``cancelled``; without it, the step-up's message goes to ``failed``."""
    app = screen.app
    try:
        result = call()
    except JukiError as exc:
        if retry is not None:
            from auth.stepup import StepUpNeeded  # not at the top: see the module docstring

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


def _step_up_cancelled() -> str:
    from auth.stepup import STEP_UP_MESSAGE  # not at the top: see the module docstring

    return STEP_UP_MESSAGE


class WorkspaceScreen(Screen[R]):
    """A screen that acts for the signed-in person (``env``) and has one ``MessageLine``.

    A screen that pages sets ``PAGED`` (its table) and ``page_size``, returns what it
    pages through from ``paged`` and draws the current page in ``show_page``.
    """

    PAGED: ClassVar[str] = ""
    """The table that shows one page (``action_page``) and that ``table_rows`` reads."""
    FIELD: ClassVar[str] = ""
    """A one-line field that a key opens (a file's path, a deadline); Esc closes it."""
    page_size: int = 50
    page: int = 0
    busy: bool = False
    """An act is on its way (``begin``): another key does not start a second one."""

    def __init__(self, env: WorkspaceEnv) -> None:
        super().__init__()
        self.env = env
        self._asked = 0
        """How many ``load`` reads were asked: an answer to an older one is dropped."""

    # --- the message line --------------------------------------------------------------

    def say(self, message: object, kind: str = "error") -> None:
        self.query_one(MessageLine).show(message, kind)

    def hush(self) -> None:
        self.query_one(MessageLine).clear()

    @property
    def message(self) -> str:
        """What the message line says now (tests, screen readers)."""
        return self.query_one(MessageLine).plain

    def begin(self, doing: str) -> bool:
        """Start an act: busy, and the line says what is happening. False while busy."""
        if self.busy:
            return False
        self.busy = True
        self.say(doing, "info")
        return True

    def finish(self, message: object, kind: str = "info", *, title: str = "") -> None:
        """The act answered: not busy, the line says how; with ``title`` a notice too."""
        self.busy = False
        self.say(message, kind)
        if title:
            self.notify(str(message), title=title, markup=False,
                        severity="error" if kind == "error" else "information")

    def action_back(self) -> None:
        """Esc: closes the open ``FIELD`` while in it, else leaves the screen."""
        if self.FIELD:
            field = self.query_one(self.FIELD)
            if field.display and self.focused is field:
                self.close_field()
                return
        self.dismiss()

    def open_field(self) -> None:
        field = self.query_one(self.FIELD)
        field.display = True
        field.focus()

    def close_field(self) -> None:
        """Empty and hide the ``FIELD``; the cursor goes back to the table."""
        field = self.query_one(self.FIELD, Input)
        field.value = ""
        field.display = False
        self.query_one(self.PAGED).focus()

    def ask(self, dialog: ModalScreen[str | None], then: Callable[[str], object]) -> None:
        """Ask a comment or a reason (``CommentDialog``, ``ReasonDialog``) and go on with
        ``then(answer)``; Esc or 取消 clears the message line and does nothing."""

        def answered(answer: str | None) -> None:
            if answer is None:
                self.hush()
                return
            then(answer)

        self.app.push_screen(dialog, answered)

    # --- a service call ----------------------------------------------------------------

    def call_service(
        self, call: Callable[[], T], done: Callable[[T], object],
        failed: Callable[[str], object] | None = None, *, group: str,
        step_up: bool = False, exclusive: bool = True,
    ) -> None:
        """Run ``call`` in a thread worker of ``group`` (a newer call of the group replaces
        it when ``exclusive``); ``done`` gets the answer, ``failed`` (default ``say``) the
        refusal's words, both on the UI thread. With ``step_up`` the password is asked when
        the service wants it and the call runs again; giving up says ``STEP_UP_MESSAGE``."""
        said = failed or self.say

        def again() -> None:
            self.call_service(call, done, failed, group=group, step_up=True,
                              exclusive=exclusive)

        def gave_up() -> None:
            said(_step_up_cancelled())

        def run() -> None:
            answer_from_service(self, self.env, call, done, said,
                                retry=again if step_up else None,
                                cancelled=gave_up if step_up else None)

        self.run_worker(run, name=group, group=group, thread=True, exclusive=exclusive,
                        exit_on_error=False)

    def load(self, call: Callable[[], T], shown: Callable[[T], object],
             failed: Callable[[str], object] | None = None, *, group: str) -> None:
        """``call_service`` for a read that a newer ``load`` replaces: only the answer (or
        the refusal) to the latest one is shown."""
        self._asked += 1
        asked = self._asked

        def latest(then: Callable[[Any], object]) -> Callable[[Any], None]:
            def answer(got: Any) -> None:
                if asked == self._asked:
                    then(got)
            return answer

        self.call_service(call, latest(shown), latest(failed or self.say), group=group)

    # --- paging --------------------------------------------------------------------------

    def paged(self) -> Sequence[Any]:
        """Everything the screen pages through, ``page_size`` at a time."""
        return ()

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.paged()) // self.page_size))

    def page_numbers(self) -> dict[str, int]:
        """``first``, ``last``, ``total``, ``page`` and ``pages`` for the count line."""
        first = self.page * self.page_size + 1
        return {"first": first, "last": first + len(self.page_items()) - 1,
                "total": len(self.paged()), "page": self.page + 1, "pages": self.pages}

    def page_items(self) -> list[Any]:
        """What the current page shows, in table order."""
        first = self.page * self.page_size
        return list(self.paged()[first:first + self.page_size])

    def show_page(self) -> None:
        """Draw the current page."""

    def repage(self) -> None:
        """What is paged through changed: keep the page if it is still there, and draw it."""
        self.page = min(self.page, self.pages - 1)
        self.show_page()

    def item_at_cursor(self) -> Any | None:
        """The item of the ``PAGED`` table's row under the cursor (None on an empty page)."""
        shown = self.page_items()
        row = self.query_one(self.PAGED, DataTable).cursor_row
        return shown[row] if 0 <= row < len(shown) else None

    def action_page(self, step: int) -> None:
        page = min(max(0, self.page + step), self.pages - 1)
        if page != self.page:
            self.page = page
            self.query_one(self.PAGED, DataTable).move_cursor(row=0)
            self.show_page()

    def table_rows(self) -> list[list[str]]:
        """The ``PAGED`` table's cells as plain text, row by row (tests, screen readers)."""
        return table_text(self.query_one(self.PAGED, DataTable))
