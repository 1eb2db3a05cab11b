"""個人番号の紐付けの起票: the proposal form for one resident, new or a draft.

The screen helps; ``services.linkage`` decides. The form sends what the clerk
typed, untouched, and shows the service's refusal as it is worded (a bad check digit:
「個人番号: …」, and nothing is saved). The number is typed into a masked field and is
never painted again: a saved proposal shows it only as ``**** **** 1234``. When the
applicant brought no number, F8 saves the draft and asks 住基ネット; the candidates are
chosen in ``screens.jukinet_candidates``. Every value shown that did not come from our
own constants passes ``core.inert``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Header, Input, Label, Select, SelectionList, Static

from core.errors import BadInput
from core.inert import as_text
from screens.jukinet_candidates import CandidateDialog
from screens.keybar import KeyBar
from screens.proposal_words import resident_title
from screens.widgets import MessageLine, WorkspaceEnv
from screens.workspace import WorkspaceScreen
from services.linkage.acts import amend, propose, submit
from services.linkage.application import (
    NUMBER_CHECK_DOCS,
    OTHER_ID_DOCS,
    PHOTO_ID_DOCS,
    SOURCES,
    Application,
    parse_my_number,
)
from services.linkage.views import ProposalView
from services.register.mynumber import normalize_my_number

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
JUKINET_WITHHELD = (
    "選んだ候補は支援措置対象のため、個人番号も本人確認情報も表示・転記できません。"
    "個人番号は申請者の書類 (個人番号カード・通知カード等) から入力し、本人確認も申請者の"
    "書類で行ってください。番号の書類がなければ支援措置担当に照会を依頼してください。"
    "下書き (申請 #{id}) は変わっていません。"
)


def _value(select: Select[str]) -> str:
    return "" if select.value is Select.NULL else str(select.value)


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


class ProposalForm(WorkspaceScreen[ProposalView | None]):
    """The proposal form for one resident, new or a draft. Keys: F9 draft, F10 submit, Esc.

    F-keys follow the register systems' habit (登録・確定 on function keys) and are never
    taken by a text field. Dismisses with the submitted proposal, or None.
    """

    CSS_PATH = "proposal.tcss"
    AUTO_FOCUS = "#number"
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
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
        super().__init__(env)
        self.resident_id = resident_id
        self.resident_name = resident_name
        self.restricted = restricted
        self.view: ProposalView | None = draft
        """The saved draft this form edits (None until first saved)."""
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
        yield KeyBar()

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
        if not self.begin(SAVING):
            return
        env, draft, v = self.env, self.view, self.values()

        def run() -> ProposalView:
            view = self._keep(draft, v, submit_it=submit_it)
            if draft is not None and submit_it:
                self.app.call_from_thread(self._kept, view)
                view = submit(env.db, env.settings, env.identity, view.id,
                              version=view.version)
            return view

        self.call_service(run, lambda view: self._saved(view, submit_it), self._refused,
                          group="proposal-save")

    def begin(self, doing: str) -> bool:
        """Start a save or a query; the buttons wait too."""
        if not super().begin(doing):
            return False
        self._buttons(disabled=True)
        return True

    def _ready(self) -> None:
        """The save or the query answered: the buttons work again."""
        self.busy = False
        self._buttons(disabled=False)

    def _buttons(self, *, disabled: bool) -> None:
        for button in self.query("#form-buttons Button").results(Button):
            button.disabled = disabled

    def _keep(self, draft: ProposalView | None, v: FormValues, *, submit_it: bool
              ) -> ProposalView:
        """In a worker: a new proposal (submitted when asked), or the draft amended."""
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

    def _kept(self, view: ProposalView) -> None:
        """The draft's edits are saved even when the submission that follows is refused."""
        self.view = view
        self.query_one("#form-title", Static).update(self._title())
        number = self.query_one("#number", Input)
        number.value = ""
        number.placeholder = self._number_placeholder()

    def _refused(self, message: str) -> None:
        self._ready()
        self.say(message)

    def _saved(self, view: ProposalView, submitted: bool) -> None:
        self._ready()
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
        if not self.begin(JUKINET_ASKING):
            return
        env, draft, v = self.env, self.view, self.values()

        def run() -> JukinetAnswer:
            # not at the top: the client (and httpx) loads only when a query is made
            from services.jukinet.client import query_jukinet

            view = self._keep(draft, v, submit_it=False)
            self.app.call_from_thread(self._kept, view)
            return query_jukinet(
                env.db, env.settings, env.identity, name=v.name, kana=v.kana, birth=v.birth,
                sex=v.sex, address=v.address, proposal_id=view.id,
            )

        self.call_service(run, self._answered, self._refused, group="proposal-save")

    def _answered(self, answer: JukinetAnswer) -> None:
        """Show the candidates — only from the front (a modal over the lock would leak)."""
        if self.app.screen is not self:
            self._answer = answer
            return
        self._ready()
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
            self.begin(SAVING)
            self._fill(self.view, candidate)

        self.app.push_screen(CandidateDialog(answer), chosen)

    def _fill(self, draft: ProposalView, candidate: Candidate) -> None:
        env = self.env
        self.call_service(
            lambda: amend(
                env.db, env.settings, env.identity, draft.id, version=draft.version,
                number=candidate.number, source=JUKINET_SOURCE, number_check=JUKINET_CHECK,
            ),
            self._filled, self._refused, group="proposal-save",
        )

    def _filled(self, view: ProposalView) -> None:
        """The number is on the draft; the form's own fields follow, so F9 keeps it so."""
        self._ready()
        self._kept(view)
        self.query_one("#source", Select).value = JUKINET_SOURCE
        self.query_one("#number-check", Select).value = JUKINET_CHECK
        self.say(JUKINET_FILLED.format(masked=view.number_masked or "", id=view.id), "info")
