"""紐付けの確認: one proposal, the application beside the register, approve or reject.

Each item is put side by side with its judgement (一致, or the kind of difference:
異体字, 振り仮名, 住所表記, …) in a warning style. Approve (``a``) and reject (``x``) ask
a comment; whether one is required is the service's rule, and its message is what the
reviewer sees. The proposer sees their own proposal read-only with a note; if they press
``a`` anyway the service refuses (and records it). ``n`` shows the proposed number for a
while, with a reason (``screens.reveal``). Every value shown that did not come from our
own constants passes ``core.inert``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Static

from auth.roles import Perm
from core.clock import minute_text
from core.inert import as_text
from screens.keybar import KeyBar
from screens.proposal_words import DIFF_STYLE, age_text, resident_title
from screens.reveal import TimedReveal
from screens.table import Table
from screens.widgets import (
    RECORDING,
    CommentDialog,
    MessageLine,
    WorkspaceEnv,
    holds,
    message_text,
)
from services.linkage.decision import Decision, approve, reject
from services.linkage.items import ItemRow
from services.linkage.models import KIND_LABELS, KIND_UNLINK, PENDING, STATUS_LABELS, VERDICT_LABELS
from services.linkage.queue import open_proposal
from services.linkage.reveal import reveal_proposed_number
from services.linkage.views import ProposalView, compare
from services.restricted import WITHHELD_NOTE

REVIEW_TITLE = "紐付けの確認"
OWN_NOTE = (
    "自分が作成した申請です。確認 (承認・却下) は申請者以外の確認者が行います。"
    "この画面は閲覧のみです。"
)
NOT_PENDING_NOTE = "この申請は「{status}」です。確認できるのは確認待ちの申請だけです。"
SAME = "一致"
ITEM_COLUMNS = ("項目", "判定", "申請", "住民票")
DIFF_NOTE = "相違のある項目があります。承認する場合も理由をコメントに書いてください。"
APPROVE_TITLE = "承認する"
APPROVE_PROMPT = "承認のコメント (申請書と住民記録で異なる項目があるときは必須)。"
REJECT_TITLE = "却下する"
REJECT_PROMPT = "却下の理由を入力してください (必須)。申請者に伝わります。"
COMMENT_MAX = 2000
SAME_STYLE = "green"
REVEAL_NUMBER_PROMPT = ("申請書類と照合する理由を入力してください。表示は記録され、"
                        "{seconds:g}秒後に自動で伏せます。")
REJECT_REQUIRED = "却下の理由を入力してください。"
APPROVE_REQUIRED = "申請書と住民記録で異なる項目があります。承認する理由を入力してください。"


def judgement(row: ItemRow) -> Text:
    """The 判定 cell: 一致, or the kind of difference with its detail, in a warning style."""
    if not row.differs:
        return as_text(SAME, SAME_STYLE)
    kind = row.kind or ""
    detail = row.detail.strip()
    if detail.startswith(kind):
        detail = detail[len(kind):].strip()
    label = f"【{kind}】" + (f" {detail}" if detail else "")
    return as_text(label, DIFF_STYLE)


def item_cells(row: ItemRow) -> list[Text]:
    """One side-by-side line: 項目, 判定, 申請, 住民票 (every value inert).

    The judgement comes before the values so that a long address never pushes the flag
    off the right edge of the terminal.
    """
    style = "bold yellow" if row.differs else ""
    return [
        as_text(row.item, "bold"),
        judgement(row),
        as_text(row.application or "(記載なし)", style if row.application else "dim"),
        as_text(row.register),
    ]


class ReviewScreen(TimedReveal):
    """One proposal, application beside register. Keys: n show the number (with a reason,
    for the set seconds), a approve, x reject, r reload, Esc."""

    CSS_PATH = "proposal.tcss"
    AUTO_FOCUS = "#items"
    PAGED = "#items"
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="review.back"),
        Binding("a", "decide('approve')", "承認", id="review.approve"),
        Binding("x", "decide('reject')", "却下", id="review.reject"),
        Binding("n", "reveal", "番号を表示", id="review.reveal"),
        Binding("r", "reload", "再表示", id="review.reload"),
    ]

    def __init__(self, env: WorkspaceEnv, view: ProposalView, rows: Sequence[ItemRow]) -> None:
        super().__init__(env)
        self.view = view
        self.rows: tuple[ItemRow, ...] = tuple(rows)
        self.decision: Decision | None = None

    @property
    def mine(self) -> bool:
        return self.view.proposer_id == self.env.identity.user_id

    # --- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        with Vertical(id="review-head"):
            yield Static(id="review-title")
            yield Static(id="review-summary")
        yield Static(id="review-note")
        yield Table(id="items", cursor_type="row", zebra_stripes=False)
        yield Static(id="review-history")
        yield MessageLine(id="review-message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = REVIEW_TITLE
        table = self.query_one("#items", DataTable)
        table.add_columns(*ITEM_COLUMNS)
        self._paint()

    def _paint(self) -> None:
        v = self.view
        self.query_one("#review-title", Static).update(Text.assemble(
            (f"申請 #{v.id}  ", "bold"), as_text(KIND_LABELS.get(v.kind, v.kind), "bold"),
            "  ", as_text(self._status_label(), "bold reverse"),
            ("  版 ", "dim"), as_text(str(v.version), "dim"),
            "   ", self._approvals_text(),
        ))
        self.query_one("#review-summary", Static).update(self._summary())
        note = self.query_one("#review-note", Static)
        if self.mine:
            note.update(message_text(OWN_NOTE, "bold yellow"))
        elif v.status != PENDING and self.decision is None:
            note.update(message_text(NOT_PENDING_NOTE.format(status=v.status_label), "yellow"))
        elif v.withheld:  # 支援措置: the service gives the name only, approving is refused
            note.update(message_text(WITHHELD_NOTE + "。承認には支援措置担当の権限が必要です。",
                                     "bold yellow"))
        elif any(r.differs for r in self.rows):
            note.update(message_text(DIFF_NOTE, "bold yellow"))
        else:
            note.update("")
        table = self.query_one("#items", DataTable)
        table.clear()
        if v.kind == KIND_UNLINK:
            table.add_row(as_text("解除の理由", "bold"), as_text(""), as_text(v.note),
                          as_text(""))
        for i, row in enumerate(self.rows):
            table.add_row(*item_cells(row), key=str(i))
        self.query_one("#review-history", Static).update(self._history())

    def _status_label(self) -> str:
        d = self.decision
        if d is None:
            return self.view.status_label
        return STATUS_LABELS.get(d.status, d.status)

    def _approvals_text(self) -> Text:
        d = self.decision
        approvals, required = ((d.approvals, d.required) if d is not None
                               else (self.view.approvals, self.view.required_approvals))
        return as_text(f"承認 {approvals}/{required}", "bold")

    def _summary(self) -> Text:
        v = self.view
        reg = v.register
        submitted = minute_text(v.submitted_at) \
            if v.submitted_at else "未提出"
        lines = [
            Text.assemble(("住民　　　　", "bold"), resident_title(reg.name, reg.restricted),
                          ("  住民票コード ", "dim"), as_text(reg.resident_code or "—", "dim"),
                          ("  ", ""), as_text(f"({reg.status})" if reg.status else "", "dim")),
            Text.assemble(("個人番号　　", "bold"),
                          self.revealed_text() or as_text(v.number_masked or "—", "bold"),
                          ("   入手元 ", "bold"), as_text(v.source or "—"),
                          ("   申請書等の番号 ", "bold"), as_text(v.reference or "—")),
            Text.assemble(("番号確認　　", "bold"), as_text(v.number_check or "—"),
                          ("   身元確認 ", "bold"),
                          as_text("、".join(v.identity_checks) or "—")),
            Text.assemble(("申請者　　　", "bold"), as_text(v.proposer_name),
                          as_text(f" ({v.proposer_login})", "dim"),
                          ("   提出 ", "bold"), as_text(submitted),
                          as_text(f" ({age_text(v.age)}前)", "dim") if v.submitted_at
                          else ""),
        ]
        if v.note and v.kind != KIND_UNLINK:
            lines.append(Text.assemble(("備考　　　　", "bold"), as_text(v.note)))
        return Text("\n").join(lines)

    def _history(self) -> Text:
        v = self.view
        if not v.reviews:
            return Text("確認の記録はまだありません。", style="dim")
        lines = [Text("確認の記録", style="bold")]
        for r in v.reviews:
            at = minute_text(r.at)
            lines.append(Text.assemble(
                "・", as_text(VERDICT_LABELS.get(r.verdict, r.verdict), "bold"), "  ",
                as_text(f"{r.reviewer_name} ({r.reviewer_login})"), "  ", as_text(at, "dim"),
                as_text(f"  版 {r.version}", "dim"),
                ("  (変更前の版への確認: 無効)", "yellow") if not r.counts else "",
                "  ", as_text(r.comment),
            ))
        return Text("\n").join(lines)

    # --- deciding --------------------------------------------------------------------

    def action_decide(self, verdict: str) -> None:
        if self.busy:
            return
        if self.mine:
            # Read-only for the proposer; pressing anyway goes to the service, which refuses
            # and records the attempt. No comment is asked for a decision that cannot be.
            self._start(verdict, "")
            return
        title, prompt, ok = ((APPROVE_TITLE, APPROVE_PROMPT, "承認する") if verdict == "approve"
                             else (REJECT_TITLE, REJECT_PROMPT, "却下する"))
        # Where the service always wants a comment, an empty one is pointed out in the
        # dialog (it stays open); the service checks again.
        required = (REJECT_REQUIRED if verdict != "approve"
                    else APPROVE_REQUIRED if any(r.differs for r in self.rows) else "")
        dialog = CommentDialog(title, prompt, ok_label=ok, max_length=COMMENT_MAX,
                               required=required)
        self.ask(dialog, lambda comment: self._start(verdict, comment))

    def _start(self, verdict: str, comment: str) -> None:
        if not self.begin(RECORDING):
            return
        env, proposal_id, version = self.env, self.view.id, self.view.version

        def run() -> Decision:
            if verdict == "approve":
                return approve(env.db, env.identity, proposal_id, version=version,
                               comment=comment, settings=env.settings)
            return reject(env.db, env.identity, proposal_id, version=version, comment=comment)

        self.call_service(run, self._decided, self._refused, group="review-decide",
                          step_up=True)

    def _refused(self, message: str) -> None:
        self.finish(message, "error")

    def _decided(self, decision: Decision) -> None:
        """Show the proposal as the decision left it (the service returns it in the
        decision's own transaction), and say what the review did."""
        self.busy = False
        self._reloaded(decision.view, compare(decision.view), keep_message=True)
        self.say(decision.message, "info")

    # --- reload ----------------------------------------------------------------------

    def action_reload(self) -> None:
        self._reload(self.view.id)

    def _reload(self, proposal_id: int, keep_message: bool = False) -> None:
        env = self.env
        self.call_service(lambda: open_proposal(env.db, env.identity, proposal_id),
                          lambda view: self._reloaded(view, compare(view), keep_message),
                          group="review-reload")

    def _reloaded(self, view: ProposalView, rows: list[ItemRow], keep_message: bool) -> None:
        self.view = view
        self.rows = tuple(rows)
        self.decision = None
        self._paint()
        if not keep_message:
            self.hush()

    def action_back(self) -> None:
        self.mask(quiet=True)
        self.dismiss()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needs = {"decide": (Perm.LINK_REVIEW,),
                 "reveal": (Perm.LINK_REVIEW, Perm.REVEAL_MY_NUMBER)}.get(action)
        return needs is None or holds(self.env, *needs)

    # --- the number itself, for the reviewer to check (docs/domain.md, My Number) -------

    def action_reveal(self) -> None:
        if self.busy or self.revealed is not None:
            return
        self.ask_reveal(REVEAL_NUMBER_PROMPT.format(seconds=self.env.settings.reveal_seconds),
                        self._reveal)

    def _reveal(self, reason: str) -> None:
        env = self.env
        self.call_service(
            lambda: reveal_proposed_number(env.db, env.settings, env.identity, self.view.id,
                                           reason=reason),
            self.show_revealed, group="review-reveal", step_up=True,
        )

    def number_changed(self) -> None:
        self.query_one("#review-summary", Static).update(self._summary())
