"""個人番号の紐付け: the proposal form (起票) and the review screen (確認).

The screens help; ``services.linkage`` decides. The form sends what the clerk
typed, untouched, and shows the service's refusal as it is worded (a bad check digit:
「個人番号: …」, and nothing is saved). The number is typed into a masked field and is
never painted again: a saved proposal shows it only as ``**** **** 1234``.

The review screen puts the application side beside the register side, item by item,
each difference named with its kind (異体字, 振り仮名, 住所表記, …) in a warning style.
Approve (``a``) and reject (``x``) ask a comment; whether one is required is the
service's rule, and its message is what the reviewer sees. The proposer sees their own
proposal read-only with a note; if they press ``a`` anyway the service refuses (and
records it). Every service call runs in a thread worker; every value shown that did not
come from our own constants passes ``core.inert``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    Select,
    SelectionList,
    Static,
)

from auth.roles import Perm
from auth.stepup import STEP_UP_MESSAGE
from core.clock import minute_text
from core.errors import BadInput
from core.inert import as_text
from screens.resident import RESTRICTED_MARK, RESTRICTED_STYLE
from screens.reveal import TimedReveal
from screens.table import Table
from screens.widgets import (
    CommentDialog,
    MessageLine,
    WorkspaceEnv,
    answer_from_service,
    holds,
    message_text,
)
from services.linkage.application import (
    NUMBER_CHECK_DOCS,
    OTHER_ID_DOCS,
    PHOTO_ID_DOCS,
    SOURCES,
    parse_my_number,
)
from services.linkage.decision import Decision
from services.linkage.items import ItemRow
from services.linkage.models import (
    KIND_LABELS,
    KIND_UNLINK,
    PENDING,
    STATUS_LABELS,
    VERDICT_LABELS,
)
from services.linkage.views import ProposalView, compare
from services.register.mynumber import normalize_my_number
from services.restricted import WITHHELD_NOTE

if TYPE_CHECKING:  # the client (and httpx) loads only when a query is made
    from services.jukinet.client import Candidate, JukinetAnswer

FORM_TITLE = "個人番号の紐付けの起票"
APPLICATION_NOTE = "申請書の記載 — 申請書に書かれたとおりに入力 (住民票から写さない)"
CHECKS_NOTE = "申請者から受けた個人番号と本人確認 (番号確認・身元確認)"
NUMBER_PLACEHOLDER = "12桁 (全角・空白・ハイフン可)"
NUMBER_KEPT = "登録済み {masked} — 変える場合だけ入力"
NUMBER_FIELD = "個人番号:"
NUMBER_OK = "✓ 検査用数字 一致 (番号そのものは確認者が照合)"
NUMBER_BAD = "✗ 下の説明をご覧ください"
SAVING = "保存しています…"
DRAFT_SAVED = "下書きを保存しました (申請 #{id})。「申請」で確認待ちに送ります。"
SUBMITTED = "申請しました (申請 #{id})。確認待ちの一覧に載りました。"
SEX_CHOICES: tuple[tuple[str, str], ...] = (("男", "男"), ("女", "女"))
PHOTO_MARK = " (顔写真付き)"
IDENTITY_HINT = "顔写真付きの書類1点、\nまたは顔写真のない書類2点。\nSpace で選ぶ・外す。"

JUKINET_SOURCE = "住基ネット照会"
JUKINET_CHECK = "住基ネット照会結果"
JUKINET_ASKING = "下書きを保存して住基ネットに照会しています…"
JUKINET_NONE = "住基ネット ({items}) に該当する人はいませんでした。下書きは保存してあります。"
JUKINET_FOUND = "住基ネット ({items}) の候補 {n}件。申請者本人を選んでください。"
JUKINET_NOT_CHOSEN = "候補を選びませんでした。下書きは保存してあります。"
JUKINET_FILLED = (
    "住基ネット照会の結果から個人番号 {masked} を下書き (申請 #{id}) に入れました。"
    "本人確認を入力して「申請」で確認待ちに送ります。"
)
CANDIDATES_TITLE = "住基ネットの照会結果 ({items}) — {n}件。Enter で選ぶ、Esc で選ばない。"
CANDIDATES_WITHHELD = (
    "【支援措置】の候補は支援措置対象のため、氏名のほかは表示せず、選んでも下書きに何も入れません。"
)
JUKINET_WITHHELD = (
    "選んだ候補は支援措置対象のため、個人番号も本人確認情報も表示・転記できません。"
    "個人番号は申請者の書類 (個人番号カード・通知カード等) から入力し、本人確認も申請者の"
    "書類で行ってください。番号の書類がなければ支援措置担当に照会を依頼してください。"
    "下書き (申請 #{id}) は変わっていません。"
)
CANDIDATE_COLUMNS = ("氏名", "振り仮名", "生年月日", "性別", "住所", "個人番号")

REVIEW_TITLE = "紐付けの確認"
OWN_NOTE = (
    "自分が作成した申請です。確認 (承認・却下) は申請者以外の確認者が行います。"
    "この画面は閲覧のみです。"
)
NOT_PENDING_NOTE = "この申請は「{status}」です。確認できるのは確認待ちの申請だけです。"
DECIDING = "記録しています…"
SAME = "一致"
ITEM_COLUMNS = ("項目", "判定", "申請", "住民票")
DIFF_NOTE = "相違のある項目があります。承認する場合も理由をコメントに書いてください。"
APPROVE_TITLE = "承認する"
APPROVE_PROMPT = "承認のコメント (申請書と住民記録で異なる項目があるときは必須)。"
REJECT_TITLE = "却下する"
REJECT_PROMPT = "却下の理由を入力してください (必須)。申請者に伝わります。"
COMMENT_MAX = 2000
DIFF_STYLE = "bold black on yellow"
SAME_STYLE = "green"
REVEAL_NUMBER_PROMPT = ("申請書類と照合する理由を入力してください。表示は記録され、"
                        "{seconds:g}秒後に自動で伏せます。")
REJECT_REQUIRED = "却下の理由を入力してください。"
APPROVE_REQUIRED = "申請書と住民記録で異なる項目があります。承認する理由を入力してください。"


def _value(select: Select[str]) -> str:
    return "" if select.value is Select.NULL else str(select.value)


def age_text(age: timedelta) -> str:
    """How long a proposal has waited, in the largest unit that fits."""
    seconds = max(0, int(age.total_seconds()))
    if seconds >= 86400:
        return f"{seconds // 86400}日"
    if seconds >= 3600:
        return f"{seconds // 3600}時間"
    if seconds >= 60:
        return f"{seconds // 60}分"
    return "1分未満"


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


def resident_title(name: str, restricted: bool, label: str = "") -> Text:
    parts: list[Text | str] = [Text(label, style="bold")] if label else []
    if restricted:
        parts += [Text(RESTRICTED_MARK, style=RESTRICTED_STYLE), " "]
    parts.append(as_text(name, "bold"))
    return Text.assemble(*parts)


# --- the proposal form -----------------------------------------------------------------


@dataclass(frozen=True)
class FormValues:
    """What the clerk typed, untouched: the service parses and checks it."""

    number: str
    source: str
    reference: str
    number_check: str
    identity_checks: tuple[str, ...]
    name: str
    kana: str
    birth: str
    sex: str
    address: str
    note: str


class ProposalForm(Screen[ProposalView | None]):
    """The proposal form for one resident, new or a draft. Keys: F9 draft, F10 submit, Esc.

    F-keys follow the register systems' habit (登録・確定 on function keys) and are never
    taken by a text field. Dismisses with the submitted proposal, or None.
    """

    CSS_PATH = "proposal.tcss"
    AUTO_FOCUS = "#number"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="proposal.back"),
        Binding("f9", "save(False)", "下書き保存", id="proposal.save_draft", priority=True),
        Binding("f10", "save(True)", "申請", id="proposal.submit", priority=True),
        Binding("f8", "jukinet", "住基ネット照会", id="proposal.jukinet", priority=True),
    ]

    def __init__(
        self, env: WorkspaceEnv, *, resident_id: int, resident_name: str,
        restricted: bool = False, draft: ProposalView | None = None,
    ) -> None:
        super().__init__()
        self.env = env
        self.resident_id = resident_id
        self.resident_name = resident_name
        self.restricted = restricted
        self.view: ProposalView | None = draft
        """The saved draft this form edits (None until first saved)."""
        self.busy = False
        self._submitted: ProposalView | None = None
        """Submitted while covered (locked): closes when back in front."""
        self._answer: JukinetAnswer | None = None
        """住基ネット answered while covered (locked): the list opens when back in front."""

    @classmethod
    def for_draft(cls, env: WorkspaceEnv, view: ProposalView) -> ProposalForm:
        reg = view.register
        return cls(env, resident_id=reg.resident_id, resident_name=reg.name,
                   restricted=reg.restricted, draft=view)

    # --- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        v = self.view
        app = v.application if v else None
        checks = set(v.identity_checks) if v else set()
        yield Header(icon="")
        with VerticalScroll(id="proposal-form"):
            yield Static(self._title(), id="form-title")
            yield Static(resident_title(self.resident_name, self.restricted, "対象の住民　"),
                         id="form-resident")
            yield Static(as_text(CHECKS_NOTE), classes="form-section")
            with Horizontal(classes="form-row"):
                yield Label("個人番号", classes="pf-label required")
                yield Input(id="number", password=True, max_length=24, compact=True,
                            placeholder=self._number_placeholder())
                yield Static("", id="number-hint")
            with Horizontal(classes="form-row"):
                yield Label("入手元", classes="pf-label required")
                yield Select([(s, s) for s in SOURCES], prompt="選んでください", id="source",
                             compact=True, value=v.source if v and v.source else Select.NULL)
                yield Label("申請書等の番号", classes="pf-label")
                yield Input(id="reference", max_length=120, compact=True,
                            value=v.reference if v else "", placeholder="受付番号など")
            with Horizontal(classes="form-row"):
                yield Label("番号確認", classes="pf-label required")
                yield Select([(d, d) for d in NUMBER_CHECK_DOCS], prompt="確認に使った書類",
                             id="number-check", compact=True,
                             value=v.number_check if v and v.number_check else Select.NULL)
            with Horizontal(classes="form-row tall"):
                yield Label("身元確認", classes="pf-label required")
                yield SelectionList[str](
                    *[(d + PHOTO_MARK, d, d in checks) for d in PHOTO_ID_DOCS],
                    *[(d, d, d in checks) for d in OTHER_ID_DOCS],
                    id="identity-checks", compact=True,
                )
                yield Static(Text(IDENTITY_HINT), id="identity-hint")
            yield Static(as_text(APPLICATION_NOTE), classes="form-section")
            with Horizontal(classes="form-row"):
                yield Label("氏名", classes="pf-label required")
                yield Input(id="app-name", max_length=130, compact=True,
                            value=app.name if app else "", placeholder="申請書のとおり")
                yield Label("振り仮名", classes="pf-label")
                yield Input(id="app-kana", max_length=130, compact=True,
                            value=app.kana if app else "", placeholder="カタカナ")
            with Horizontal(classes="form-row"):
                yield Label("生年月日", classes="pf-label required")
                yield Input(id="app-birth", max_length=40, compact=True,
                            value=app.birth_date.isoformat() if app and app.birth_date else "",
                            placeholder="S60.4.1 / 昭和60年4月1日 / 1985-04-01")
                yield Label("性別", classes="pf-label required")
                yield Select(SEX_CHOICES, prompt="—", id="app-sex", compact=True,
                             value=app.sex if app and app.sex else Select.NULL)
            with Horizontal(classes="form-row"):
                yield Label("住所", classes="pf-label required")
                yield Input(id="app-address", max_length=240, compact=True,
                            value=app.address if app else "", placeholder="申請書のとおり")
            with Horizontal(classes="form-row"):
                yield Label("備考", classes="pf-label")
                yield Input(id="note", max_length=400, compact=True, value=v.note if v else "")
            with Horizontal(id="form-buttons"):
                yield Button("下書き保存 (F9)", id="save-draft", compact=True)
                yield Button("申請 (F10)", id="submit", variant="primary", compact=True)
                yield Button("住基ネット照会 (F8)", id="jukinet", compact=True)
                yield Button("戻る (Esc)", id="form-back", compact=True)
        yield MessageLine(id="form-message")
        yield Footer()

    def _title(self) -> Text:
        v = self.view
        if v is None:
            return Text(FORM_TITLE, style="bold")
        return Text.assemble((FORM_TITLE, "bold"), "  ",
                             as_text(f"下書き 申請 #{v.id} (版 {v.version})", "dim"))

    def _number_placeholder(self) -> str:
        v = self.view
        if v is not None and v.number_masked:
            return NUMBER_KEPT.format(masked=v.number_masked)
        return NUMBER_PLACEHOLDER

    def on_mount(self) -> None:
        self.sub_title = FORM_TITLE

    # --- the number, checked as it is typed ------------------------------------------

    @on(Input.Changed, "#number")
    def _number_changed(self, event: Input.Changed) -> None:
        """The check digit as soon as 12 digits are there (the service checks again on save).

        A bad number is said on the message line in the service's words; the mark beside
        the field only points at it.
        """
        hint = self.query_one("#number-hint", Static)
        line = self.query_one(MessageLine)
        if line.plain.startswith(NUMBER_FIELD):
            line.clear()
        if len(normalize_my_number(event.value)) < 12:
            hint.update("")
            return
        try:
            parse_my_number(event.value)
        except BadInput as exc:
            hint.update(as_text(NUMBER_BAD, "bold red"))
            self.say(exc.message)
            return
        hint.update(as_text(NUMBER_OK, "green"))

    # --- saving ----------------------------------------------------------------------

    def values(self) -> FormValues:
        def text(selector: str) -> str:
            return self.query_one(selector, Input).value

        checks = self.query_one("#identity-checks", SelectionList)
        return FormValues(
            number=text("#number"),
            source=_value(self.query_one("#source", Select)),
            reference=text("#reference"),
            number_check=_value(self.query_one("#number-check", Select)),
            identity_checks=tuple(str(d) for d in checks.selected),
            name=text("#app-name"),
            kana=text("#app-kana"),
            birth=text("#app-birth"),
            sex=_value(self.query_one("#app-sex", Select)),
            address=text("#app-address"),
            note=text("#note"),
        )

    @on(Button.Pressed, "#save-draft")
    def _draft_pressed(self) -> None:
        self.action_save(False)

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_save(True)

    @on(Button.Pressed, "#form-back")
    def _back_pressed(self) -> None:
        self.action_back()

    def action_save(self, submit_it: bool) -> None:
        if self.busy:
            return
        self.busy = True
        self._buttons(disabled=True)
        self.say(SAVING, "info")
        self._save(submit_it, self.view, self.values())

    def _buttons(self, *, disabled: bool) -> None:
        for button in self.query("#form-buttons Button").results(Button):
            button.disabled = disabled

    def _keep(self, draft: ProposalView | None, v: FormValues, *, submit_it: bool
              ) -> ProposalView:
        """In a worker: a new proposal (submitted when asked), or the draft amended."""
        from services.linkage.acts import amend, propose
        from services.linkage.application import Application

        env = self.env
        application = Application(name=v.name, kana=v.kana, birth=v.birth, sex=v.sex,
                                  address=v.address)
        if draft is None:
            return propose(
                env.db, env.settings, env.identity, self.resident_id, number=v.number,
                source=v.source, reference=v.reference, number_check=v.number_check,
                identity_checks=v.identity_checks, application=application, note=v.note,
                submit=submit_it,
            )
        return amend(
            env.db, env.settings, env.identity, draft.id, version=draft.version,
            number=v.number if v.number.strip() else None, source=v.source,
            reference=v.reference, number_check=v.number_check,
            identity_checks=v.identity_checks, application=application, note=v.note,
        )

    @work(thread=True, exclusive=True, group="proposal-save", exit_on_error=False)
    def _save(self, submit_it: bool, draft: ProposalView | None, v: FormValues) -> None:
        from services.linkage.acts import submit

        env = self.env

        def run() -> ProposalView:
            view = self._keep(draft, v, submit_it=submit_it)
            if draft is not None and submit_it:
                self.app.call_from_thread(self._kept, view)
                view = submit(env.db, env.settings, env.identity, view.id,
                              version=view.version)
            return view

        answer_from_service(self, env, run, lambda view: self._saved(view, submit_it),
                            self._refused)

    def _kept(self, view: ProposalView) -> None:
        """The draft's edits are saved even when the submission that follows is refused."""
        self.view = view
        self.query_one("#form-title", Static).update(self._title())
        number = self.query_one("#number", Input)
        number.value = ""
        number.placeholder = self._number_placeholder()

    def _refused(self, message: str) -> None:
        self.busy = False
        self._buttons(disabled=False)
        self.say(message)

    def _saved(self, view: ProposalView, submitted: bool) -> None:
        self.busy = False
        self._buttons(disabled=False)
        self._kept(view)
        if submitted:
            self._leave(view)
            return
        self.say(DRAFT_SAVED.format(id=view.id), "info")

    def _leave(self, view: ProposalView) -> None:
        """Close with the submitted proposal — only from the front.

        ``dismiss`` pops the top screen: while the lock screen covers this form, that
        would be the lock screen. So a submission that finishes under the lock waits
        until the form is back in front (after the password).
        """
        if self.app.screen is self:
            self.dismiss(view)
        else:
            self._submitted = view

    def on_screen_resume(self) -> None:
        view, self._submitted = self._submitted, None
        if view is not None:
            self.call_later(self._leave, view)
        answer, self._answer = self._answer, None
        if answer is not None:
            self.call_later(self._answered, answer)

    # --- 住基ネット照会 (the applicant gave no number) -----------------------------------

    @on(Button.Pressed, "#jukinet")
    def _jukinet_pressed(self) -> None:
        self.action_jukinet()

    def action_jukinet(self) -> None:
        """Save the form as a draft (nothing typed is lost), then ask 住基ネット.

        Only the application side as typed is sent; whether the items suffice (4 or 3
        with the address) is the service's rule, and its refusal is shown as worded.
        """
        if self.busy:
            return
        self.busy = True
        self._buttons(disabled=True)
        self.say(JUKINET_ASKING, "info")
        self._ask_jukinet(self.view, self.values())

    @work(thread=True, exclusive=True, group="proposal-save", exit_on_error=False)
    def _ask_jukinet(self, draft: ProposalView | None, v: FormValues) -> None:
        from services.jukinet.client import query_jukinet

        env = self.env

        def run() -> JukinetAnswer:
            view = self._keep(draft, v, submit_it=False)
            self.app.call_from_thread(self._kept, view)
            return query_jukinet(
                env.db, env.settings, env.identity, name=v.name, kana=v.kana, birth=v.birth,
                sex=v.sex, address=v.address, proposal_id=view.id,
            )

        answer_from_service(self, env, run, self._answered, self._refused)

    def _answered(self, answer: JukinetAnswer) -> None:
        """Show the candidates — only from the front (a modal over the lock would leak)."""
        if self.app.screen is not self:
            self._answer = answer
            return
        self.busy = False
        self._buttons(disabled=False)
        if not answer.candidates:
            self.say(JUKINET_NONE.format(items=answer.items), "info")
            return
        self.say(JUKINET_FOUND.format(items=answer.items, n=len(answer.candidates)), "info")

        def chosen(candidate: Candidate | None) -> None:
            if candidate is None:
                self.say(JUKINET_NOT_CHOSEN, "info")
                return
            if self.busy or self.view is None:
                return
            if candidate.withheld:  # nothing to copy: say where the items come from
                self.say(JUKINET_WITHHELD.format(id=self.view.id))
                return
            self.busy = True
            self._buttons(disabled=True)
            self.say(SAVING, "info")
            self._fill(self.view, candidate)

        self.app.push_screen(CandidateDialog(answer), chosen)

    @work(thread=True, exclusive=True, group="proposal-save", exit_on_error=False)
    def _fill(self, draft: ProposalView, candidate: Candidate) -> None:
        from services.linkage.acts import amend

        env = self.env
        answer_from_service(
            self, env,
            lambda: amend(
                env.db, env.settings, env.identity, draft.id, version=draft.version,
                number=candidate.number, source=JUKINET_SOURCE, number_check=JUKINET_CHECK,
            ),
            self._filled, self._refused,
        )

    def _filled(self, view: ProposalView) -> None:
        """The number is on the draft; the form's own fields follow, so F9 keeps it so."""
        self.busy = False
        self._buttons(disabled=False)
        self._kept(view)
        self.query_one("#source", Select).value = JUKINET_SOURCE
        self.query_one("#number-check", Select).value = JUKINET_CHECK
        self.say(JUKINET_FILLED.format(masked=view.number_masked or "", id=view.id), "info")

    def say(self, message: object, kind: str = "error") -> None:
        self.query_one(MessageLine).show(message, kind)

    def action_back(self) -> None:
        self.dismiss(None)

    @property
    def message(self) -> str:
        return self.query_one(MessageLine).plain


# --- the 住基ネット candidates ------------------------------------------------------------


class CandidateDialog(ModalScreen["Candidate | None"]):
    """The people 住基ネット found; Enter puts one's number on the draft, Esc chooses none.

    Numbers are shown masked only; the whole number goes from the answer to the service.
    A candidate under DV等支援措置 is marked; one the service withheld (the reader lacks
    the DV permission) is the name only, with a note that choosing it copies nothing.
    """

    DEFAULT_CSS = """
    CandidateDialog { align: center middle; }
    CandidateDialog #candidates-box {
        width: 96%; height: auto; max-height: 80%; padding: 1 2;
        border: thick $accent; background: $surface;
    }
    CandidateDialog #candidates-title { text-style: bold; margin-bottom: 1; }
    CandidateDialog #candidates { height: auto; max-height: 16; }
    CandidateDialog #candidates-note { color: $warning; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "選ばない", id="candidates.cancel"),
    ]
    AUTO_FOCUS = "#candidates"

    def __init__(self, answer: JukinetAnswer) -> None:
        super().__init__()
        self.answer = answer
        self.note = (CANDIDATES_WITHHELD if any(c.withheld for c in answer.candidates)
                     else "")
        """The note under the table, as plain text (for tests and screen readers)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="candidates-box"):
            yield Static(message_text(CANDIDATES_TITLE.format(
                items=self.answer.items, n=len(self.answer.candidates))),
                id="candidates-title")
            yield Table(id="candidates", cursor_type="row", zebra_stripes=True)
            if self.note:
                yield Static(message_text(self.note), id="candidates-note")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#candidates", DataTable)
        table.add_columns(*CANDIDATE_COLUMNS)
        for i, c in enumerate(self.answer.candidates):
            table.add_row(*candidate_cells(c), key=str(i))

    @on(DataTable.RowSelected, "#candidates")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.dismiss(self.answer.candidates[int(event.row_key.value)])

    def action_cancel(self) -> None:
        self.dismiss(None)

    def table_rows(self) -> list[list[str]]:
        """The candidates as painted (plain text), for tests and screen readers."""
        table = self.query_one("#candidates", DataTable)
        return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def candidate_cells(c: Candidate) -> list[Text]:
    """One candidate line (every value from 住基ネット inert; the number masked). A
    restricted candidate is marked; a withheld one is the name only, saying why."""
    from services.jp import format_wareki

    name = as_text(c.name, "bold")
    if c.restricted:
        name = Text.assemble(Text(RESTRICTED_MARK, style=RESTRICTED_STYLE), " ", name)
    if c.withheld:
        blank = Text("")
        return [name, blank, blank, blank, as_text(WITHHELD_NOTE, "dim"), blank]
    born = format_wareki(c.birth_date) if c.birth_date is not None else ""
    return [
        name, as_text(c.kana), as_text(born),
        as_text(c.sex), as_text(c.address), as_text(c.number_masked, "bold"),
    ]


# --- the review screen -----------------------------------------------------------------


class ReviewScreen(Screen[None], TimedReveal):
    """One proposal, application beside register. Keys: n show the number (with a reason,
    for the set seconds), a approve, x reject, r reload, Esc."""

    CSS_PATH = "proposal.tcss"
    AUTO_FOCUS = "#items"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="review.back"),
        Binding("a", "decide('approve')", "承認", id="review.approve"),
        Binding("x", "decide('reject')", "却下", id="review.reject"),
        Binding("n", "reveal", "番号を表示", id="review.reveal"),
        Binding("r", "reload", "再表示", id="review.reload"),
    ]

    def __init__(self, env: WorkspaceEnv, view: ProposalView, rows: Sequence[ItemRow]) -> None:
        super().__init__()
        self.env = env
        self.view = view
        self.rows: tuple[ItemRow, ...] = tuple(rows)
        self.decision: Decision | None = None
        self.busy = False

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
        yield Footer()

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

        def chosen(comment: str | None) -> None:
            if comment is None:
                self.query_one(MessageLine).clear()
                return
            self._start(verdict, comment)

        # Where the service always wants a comment, an empty one is pointed out in the
        # dialog (it stays open); the service checks again.
        required = (REJECT_REQUIRED if verdict != "approve"
                    else APPROVE_REQUIRED if any(r.differs for r in self.rows) else "")
        dialog = CommentDialog(title, prompt, ok_label=ok, max_length=COMMENT_MAX,
                               required=required)
        self.app.push_screen(dialog, chosen)

    def _start(self, verdict: str, comment: str) -> None:
        self.busy = True
        self.say(DECIDING, "info")
        self._decide(verdict, self.view.id, self.view.version, comment)

    @work(thread=True, exclusive=True, group="review-decide", exit_on_error=False)
    def _decide(self, verdict: str, proposal_id: int, version: int, comment: str) -> None:
        from services.linkage.decision import approve, reject

        env = self.env

        def run() -> Decision:
            if verdict == "approve":
                return approve(env.db, env.identity, proposal_id, version=version,
                               comment=comment, settings=env.settings)
            return reject(env.db, env.identity, proposal_id, version=version, comment=comment)

        answer_from_service(
            self, env, run, self._decided, self._refused,
            retry=lambda: self._decide(verdict, proposal_id, version, comment),
            cancelled=lambda: self._refused(STEP_UP_MESSAGE),
        )

    def _refused(self, message: str) -> None:
        self.busy = False
        self.say(message)

    def _decided(self, decision: Decision) -> None:
        """Show the proposal as the decision left it (the service returns it), and say
        what the review did."""
        self.busy = False
        self._reloaded(decision.view, compare(decision.view), keep_message=True)
        self.say(decision.message, "info")

    # --- reload ----------------------------------------------------------------------

    def action_reload(self) -> None:
        self._reload(self.view.id)

    @work(thread=True, exclusive=True, group="review-reload", exit_on_error=False)
    def _reload(self, proposal_id: int, keep_message: bool = False) -> None:
        from services.linkage.queue import open_proposal

        env = self.env
        answer_from_service(self, env, lambda: open_proposal(env.db, env.identity, proposal_id),
                            lambda view: self._reloaded(view, compare(view), keep_message),
                            self.say)

    def _reloaded(self, view: ProposalView, rows: list[ItemRow], keep_message: bool) -> None:
        self.view = view
        self.rows = tuple(rows)
        self.decision = None
        self._paint()
        if not keep_message:
            self.query_one(MessageLine).clear()

    def say(self, message: object, kind: str = "error") -> None:
        self.query_one(MessageLine).show(message, kind)

    def action_back(self) -> None:
        self.mask(quiet=True)
        self.dismiss()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needs = {"decide": (Perm.LINK_REVIEW,),
                 "reveal": (Perm.LINK_REVIEW, Perm.REVEAL_MY_NUMBER)}.get(action)
        return needs is None or holds(self.env, *needs)

    # --- the number itself, for the reviewer to check (DOMAIN §3 rule 1) ----------------

    def action_reveal(self) -> None:
        if self.busy or self.revealed is not None:
            return
        self.ask_reveal(REVEAL_NUMBER_PROMPT.format(seconds=self.env.settings.reveal_seconds),
                        self._reveal)

    @work(thread=True, exclusive=True, group="review-reveal", exit_on_error=False)
    def _reveal(self, reason: str) -> None:
        from services.linkage.reveal import reveal_proposed_number

        env = self.env
        answer_from_service(
            self, env,
            lambda: reveal_proposed_number(env.db, env.settings, env.identity, self.view.id,
                                           reason=reason),
            self.show_revealed, self.say,
            retry=lambda: self._reveal(reason), cancelled=lambda: self.say(STEP_UP_MESSAGE),
        )

    def number_changed(self) -> None:
        self.query_one("#review-summary", Static).update(self._summary())

    @property
    def message(self) -> str:
        return self.query_one(MessageLine).plain

    def table_rows(self) -> list[list[str]]:
        """The side-by-side rows as painted (plain text), for tests and screen readers."""
        table = self.query_one("#items", DataTable)
        return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
