"""The resident record (住民票) screen, and opening a record (from a list or a household).

The record arrives from ``services.lookup.record.open_record`` already checked and
recorded; this screen only shows it. My Number is masked; ``r`` asks a reason and the
service reveals it for ``settings.reveal_seconds`` (the service records the reveal and
says when it ends). The screen counts down and masks the number again at that time,
and at once when it is covered (lock, another screen, leaving).

Opening a record — from the result list or from a household member here — goes through
``RecordOpener``: a DV等支援措置 record first asks a reason, then the service decides.
Every value shown passes ``core.inert``; every service call runs in a thread worker.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import (
    DataTable,
    Header,
    Static,
    TabbedContent,
    TabPane,
)

from auth.roles import Perm
from core.inert import as_text
from screens.keybar import KeyBar
from screens.proposal_words import SUBMITTED
from screens.reveal import TimedReveal
from screens.table import Table
from screens.widgets import (
    RESTRICTED_MARK,
    RESTRICTED_STYLE,
    MessageLine,
    ReasonDialog,
    WorkspaceEnv,
    holds,
    restricted_cell,
)
from screens.workspace import WorkspaceScreen
from services.disclosure import Revealed
from services.jp import format_both
from services.lookup.types import ResidentRecord

if TYPE_CHECKING:
    from services.linkage.views import ProposalView

RESTRICTED_TITLE = "DV等支援措置の対象者です"
RESTRICTED_PROMPT = (
    "この記録は支援措置の対象です。開くには権限と理由が必要で、"
    "開いたこと (開けなかったことも) は記録されます。理由を入力してください。"
)
REVEAL_PROMPT = "表示する理由を入力してください。表示は記録され、{seconds:g}秒後に自動で伏せます。"
NO_NUMBER = "この住民には個人番号が紐付けられていません。"
PROPOSAL_OPEN = "   申請 #{id} 処理中 (F3)"
UNLINK_TITLE = "個人番号の紐付けの解除"
UNLINK_PROMPT = ("解除する理由を入力してください。申請は記録され、別の職員の確認 (F3) を経て"
                 "解除されます。")
OPENING = "記録を開いています…"


def date_both(d: date | None) -> str:
    """和暦 with 西暦 beside it, or a dash for a date the register does not hold."""
    return format_both(d) if d is not None else "—"


class RecordOpener(WorkspaceScreen[None]):
    """A screen that opens residents' records: asks the reason for 支援措置, then the service."""

    def open_resident(self, resident_id: int, *, restricted: bool, purpose: str) -> None:
        """Open a record: a restricted one asks a reason first (the service asks for it too)."""
        if not restricted:
            self.say(OPENING, "info")
            self._open_record(resident_id, purpose, "")
            return

        def chosen(reason: str) -> None:
            self.say(OPENING, "info")
            self._open_record(resident_id, purpose, reason)

        self.ask(ReasonDialog(RESTRICTED_TITLE, RESTRICTED_PROMPT), chosen)

    def _open_record(self, resident_id: int, purpose: str, reason: str) -> None:
        env = self.env

        def opened() -> ResidentRecord:
            # not at the top: loaded in the worker, so F2 opens without waiting for it
            from services.lookup.record import open_record

            return open_record(env.db, env.settings, env.identity, resident_id,
                               purpose=purpose, reason=reason)

        self.call_service(opened, lambda rec: self._record_opened(rec, purpose),
                          group="open-record")

    def _record_opened(self, rec: ResidentRecord, purpose: str) -> None:
        self.hush()
        if self.app.screen is self:  # not if the user moved on or the screen is locked
            self.app.push_screen(ResidentScreen(self.env, rec, purpose))


class ResidentScreen(RecordOpener, TimedReveal):
    """One resident's record. Keys: r reveal My Number, m propose a link, u propose the
    link's undoing, 1/2/3 tabs, Enter open a member, Esc."""

    CSS_PATH = "resident.tcss"
    AUTO_FOCUS = "#items"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="resident.back"),
        Binding("r", "reveal", "番号表示", id="resident.reveal"),
        Binding("1", "tab('tab-items')", "記載事項", id="resident.tab_items", show=False),
        Binding("2", "tab('tab-members')", "世帯員", id="resident.tab_members", show=False),
        Binding("3", "tab('tab-changes')", "異動履歴", id="resident.tab_changes",
                show=False),
        Binding("m", "propose_link", "紐付け起票", id="resident.propose_link"),
        Binding("u", "propose_unlink", "解除起票", id="resident.propose_unlink"),
    ]

    def __init__(self, env: WorkspaceEnv, record: ResidentRecord, purpose: str) -> None:
        super().__init__(env)
        self.record = record
        self.purpose = purpose
        self._member_restricted: dict[str, bool] = {}

    # --- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        rec = self.record
        yield Header(icon="")
        with Vertical(id="record-head"):
            yield Static(self._title(), id="record-title")
            yield Static(self._number_line(), id="my-number")
        with TabbedContent(id="record-tabs"):
            with TabPane("1 記載事項", id="tab-items"):
                yield Table(id="items", cursor_type="row")
            with TabPane(f"2 世帯員 ({len(rec.members)})", id="tab-members"):
                yield Static(as_text(f"世帯番号 {rec.household_no}"), id="household-no")
                yield Table(id="members", cursor_type="row", zebra_stripes=True)
            with TabPane(f"3 異動履歴 ({len(rec.changes)})", id="tab-changes"):
                yield Table(id="changes", cursor_type="row", zebra_stripes=True)
        yield MessageLine(id="record-message")
        yield KeyBar()

    def _title(self) -> Text:
        rec = self.record
        parts: list[Text | tuple[str, str] | str] = []
        if rec.restricted:
            parts += [Text(RESTRICTED_MARK, style=RESTRICTED_STYLE), " "]
        parts += [as_text(rec.name, "bold"), "  ", as_text(f"({rec.status})"),
                  ("   事務: ", "dim"), as_text(self.purpose, "dim")]
        return Text.assemble(*parts)

    def on_mount(self) -> None:
        self.sub_title = "住民記録"
        rec = self.record
        items = self.query_one("#items", DataTable)
        items.add_columns("項目", "内容")
        for label, value in rec.items:
            items.add_row(as_text(label, "bold"), as_text(value))

        members = self.query_one("#members", DataTable)
        members.add_columns("", "氏名", "続柄", "生年月日", "性別", "状態")
        for m in rec.members:
            key = str(m.resident_id)
            self._member_restricted[key] = m.restricted
            mark = " (本人)" if m.resident_id == rec.resident_id else ""
            members.add_row(
                restricted_cell(m.restricted), as_text(m.name + mark), as_text(m.relationship),
                as_text(date_both(m.birth_date)), as_text(m.sex), as_text(m.status), key=key,
            )

        changes = self.query_one("#changes", DataTable)
        changes.add_columns("異動", "異動日", "届出日", "異動前", "異動後")
        for c in rec.changes:
            changes.add_row(
                as_text(c.kind), as_text(date_both(c.occurred_on)),
                as_text(date_both(c.notified_on)), as_text(c.before or "—"),
                as_text(c.after or "—"),
            )

    def _number_line(self) -> Text:
        masked = self.record.my_number_masked
        pending = self.record.open_proposal
        note = (PROPOSAL_OPEN.format(id=pending), "yellow") if pending else ("", "")
        if not masked:
            return Text.assemble(("紐付けなし", "dim"), note)
        hint = "   r で表示 (理由を記録)" if holds(self.env, Perm.REVEAL_MY_NUMBER) else ""
        return self.revealed_text() or Text.assemble(
            as_text(masked, "bold"), (hint, "dim"), note)

    def _proposed(self, proposal_id: int) -> None:
        """A proposal made from this record shows on it at once (no second one by mistake)."""
        self.record = replace(self.record, open_proposal=proposal_id)
        self.number_changed()

    def number_changed(self) -> None:
        self.query_one("#my-number", Static).update(self._number_line())

    # --- keys ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needs = {"reveal": (Perm.REVEAL_MY_NUMBER,), "propose_link": (Perm.LINK_PROPOSE,),
                 "propose_unlink": (Perm.LINK_PROPOSE,)}.get(action)
        return needs is None or holds(self.env, *needs)

    def action_tab(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        table = {"tab-items": "#items", "tab-members": "#members", "tab-changes": "#changes"}
        self.query_one(table[pane], DataTable).focus()

    def action_back(self) -> None:
        self.mask(quiet=True)
        self.dismiss()

    def action_reveal(self) -> None:
        if not self.record.my_number_masked:
            self.say(NO_NUMBER, "info")
            return
        if self.revealed is not None:
            return
        self.ask_reveal(REVEAL_PROMPT.format(seconds=self.env.settings.reveal_seconds),
                        self._reveal)

    def action_propose_link(self) -> None:
        """Open the linkage proposal form for this resident (the service decides on save)."""
        # not at the top: the lookup workspace (F2) loads no linkage screen until asked
        from screens.proposal_form import ProposalForm

        rec = self.record

        form = ProposalForm(self.env, resident_id=rec.resident_id, resident_name=rec.name,
                            restricted=rec.restricted)

        def closed(submitted: object) -> None:
            if submitted is not None:
                self.say(SUBMITTED.format(id=getattr(submitted, "id", "")), "info")
            if form.view is not None:  # submitted, or kept as a draft
                self._proposed(form.view.id)

        self.app.push_screen(form, closed)

    def action_propose_unlink(self) -> None:
        """Propose revoking this resident's link, with the reason; a second person decides
        in the queue (F3) like any linkage proposal."""
        link_id = self.record.link_id
        if link_id is None:
            self.say(NO_NUMBER, "info")
            return
        self.ask(ReasonDialog(UNLINK_TITLE, UNLINK_PROMPT, ok_label="解除を申請する"),
                 lambda reason: self._propose_unlink(link_id, reason))

    def _propose_unlink(self, link_id: int, reason: str) -> None:
        env = self.env

        def unlink() -> ProposalView:
            # not at the top: the lookup workspace (F2) loads no linkage service until asked
            from services.linkage.acts import propose_unlink

            return propose_unlink(env.db, env.settings, env.identity, link_id, reason=reason)

        def proposed(view: ProposalView) -> None:
            self.say(SUBMITTED.format(id=view.id), "info")
            self._proposed(view.id)

        self.call_service(unlink, proposed, group="propose-unlink")

    @on(DataTable.RowSelected, "#members")
    def _member_chosen(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None or int(key) == self.record.resident_id:
            return
        self.open_resident(
            int(key), restricted=self._member_restricted.get(key, False), purpose=self.purpose,
        )

    # --- reveal and re-mask ----------------------------------------------------------

    def _reveal(self, reason: str) -> None:
        env = self.env

        def revealed() -> Revealed:
            from services.lookup.record import reveal_my_number  # not at the top: see _open_record

            return reveal_my_number(env.db, env.settings, env.identity, self.record.resident_id,
                                    purpose=self.purpose, reason=reason)

        self.call_service(revealed, self.show_revealed, group="reveal", step_up=True)

    @property
    def number_shown(self) -> str:
        """The My Number line as painted now (plain text), for tests and screen readers."""
        return self._number_line().plain
