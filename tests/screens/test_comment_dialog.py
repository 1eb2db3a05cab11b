"""The one dialog that asks a comment or a reason before a recorded act: a required
reason is pointed out when empty and the dialog stays; an optional comment may be empty
(the service decides); Esc answers None."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Input

from screens.widgets import REASON_EMPTY, CommentDialog, MessageLine, ReasonDialog


class Host(App[None]):
    def __init__(self, dialog: CommentDialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.answers: list[str | None] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.answers.append)


async def test_an_empty_reason_is_pointed_out_and_the_dialog_stays() -> None:
    app = Host(ReasonDialog("個人番号の表示", "表示する理由を入力してください。",
                            ok_label="表示する"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.dialog and app.answers == []
        assert REASON_EMPTY in str(app.dialog.query_one(MessageLine).render())
        app.dialog.query_one("#comment", Input).value = "  窓口での本人確認  "
        await pilot.press("enter")
        await pilot.pause()
    assert app.answers == ["窓口での本人確認"]


async def test_an_optional_comment_may_be_empty_and_escape_cancels() -> None:
    for key, expected in (("enter", ""), ("escape", None)):
        app = Host(CommentDialog("承認", "コメント (任意)", ok_label="承認する"))
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await pilot.press(key)
            await pilot.pause()
        assert app.answers == [expected], key
