"""権限の棚卸し (from F4 with ``t``): every account of the open (or latest) campaign.

Each line as ``services.personnel.inventory`` gives it: ログイン名, 氏名, 所属, the roles
at the snapshot, the flags (長期未使用・契約期間終了・研修・ひも付きなし), the assigned
reviewer (blank: any security officer), the decision and who made it. Filters: ``m``
自分の担当のみ (``reviewer_lines``), ``f`` 要確認のみ (lines with a flag), ``u`` 未判定のみ.
Keys act on the line under the cursor:

- ``k`` 継続: keep the account's rights (no comment asked);
- ``x`` 削除: revoke them, with a comment asked in the shared dialog (the service removes
  the roles and ends the account's sessions in the same transaction as the record);
- ``s`` 開始: an admin starts a campaign, giving its deadline in 西暦 or 和暦.

Every rule (who may, never one's own account, the first decision stands) is the
service's; a refusal is shown as the service words it. Service calls run in thread
workers; every value from the database is shown inert.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Header, Input, Static

from auth.roles import Perm, role_label
from core.inert import as_text
from screens.keybar import KeyBar
from screens.table import Table
from screens.widgets import (
    LOADING,
    RECORDING,
    CommentDialog,
    MessageLine,
    WorkspaceEnv,
    holds,
    refill_table,
)
from screens.workspace import WorkspaceScreen
from services.jp.wareki import format_wareki, parse_date
from services.personnel.inventory import (
    STILL_OPEN,
    CampaignSummary,
    LineView,
    campaign_lines,
    decide,
    list_campaigns,
    reviewer_lines,
    start_campaign,
)
from services.personnel.inventory_models import OPEN, REVOKE

PAGE = 100
COLUMNS = ("ログイン名", "氏名", "所属", "役割", "注意", "担当確認者", "判定", "判定者",
           "コメント")
# Short labels for the table (the service's full labels are longer).
FLAG_SHORT = {"dormant": "長期未使用", "contract": "契約期間終了", "training": "研修",
              "unlinked": "ひも付きなし"}
DECISION_STYLES = {"継続": "green", "削除": "bold red", "未判定": "bold yellow",
                   "未判定のため削除": "bold red"}
NO_CAMPAIGN = "棚卸しはまだありません。"
NO_CAMPAIGN_ADMIN = "棚卸しはまだありません。s で開始できます。"
EMPTY = "この条件に当てはまる行はありません。"
COUNT = "{first}〜{last}件目 / {total}件 ({page}頁)"
NO_LINE = "棚卸しの行を選んでください。"
KEPT = "棚卸しの行 #{id}（{login}）を「継続」と判定しました。"
REVOKED = "棚卸しの行 #{id}（{login}）を「削除」と判定しました。削除した役割: {roles}。"
REVOKE_TITLE = "権限を削除する"
REVOKE_PROMPT = ("{login}（{name}）の役割をすべて削除し、開いている画面を終了させます。"
                 "理由を入力してください。記録に残ります。")
DEADLINE_PROMPT = "棚卸しの期限 (例: 令和8年6月30日、2026-06-30; Enter で開始、Esc で取消)"
STARTING = "棚卸しを開始しています…"
STARTED = "棚卸し #{id} を開始しました（期限 {deadline}）: {lines}アカウント、要確認 {flagged}件。"
COMMENT_MAX = 500


def flags_text(line: LineView) -> str:
    return "・".join(FLAG_SHORT.get(f, f) for f in line.flags)


def decision_text(line: LineView) -> str:
    """継続 / 削除 / 未判定, or what closing did to an undecided line."""
    return line.close_label if line.close_action else line.decision_label


def line_cells(line: LineView) -> list[Text]:
    """One account (names, logins, 所属 and comments came from outside: inert)."""
    flags = flags_text(line)
    decision = decision_text(line)
    roles = "・".join(role_label(r) for r in line.roles)
    return [
        as_text(line.login, "bold"),
        as_text(line.staff_name or line.account_name),
        as_text(line.department or "—", "" if line.department else "dim"),
        as_text(roles or "なし", "" if roles else "dim"),
        as_text(flags or "—", "bold yellow" if flags else "dim"),
        as_text(line.reviewer_label, "" if line.reviewer_login else "dim"),
        as_text(decision, DECISION_STYLES.get(decision, "")),
        as_text(line.decided_by or "—", "" if line.decided_by else "dim"),
        as_text(line.comment),
    ]


def campaign_text(c: CampaignSummary) -> Text:
    return Text.assemble(
        (f"棚卸し #{c.id}  ", "bold"), (c.state_label, "bold green" if c.state == OPEN else "dim"),
        f"  期限 {format_wareki(c.deadline)}  基準日 {format_wareki(c.snapshot_on)}",
        f"  {c.lines:,}アカウント: 継続 {c.kept:,}・削除 {c.revoked:,}・未判定 {c.undecided:,}"
        f"（要確認 {c.flagged:,}）",
    )


class AccessInventoryScreen(WorkspaceScreen[None]):
    """The 棚卸し. Keys: k keep, x revoke, m/f/u filters, s start, n/p pages, Esc back."""

    CSS_PATH = "access_inventory.tcss"
    AUTO_FOCUS = "#inventory-lines"
    PAGED = "#inventory-lines"
    FIELD = "#deadline"
    page_size = PAGE
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="access_inventory.back"),
        Binding("k", "decide('keep')", "継続", id="access_inventory.keep"),
        Binding("x", "decide('revoke')", "削除", id="access_inventory.revoke"),
        Binding("m", "toggle('mine')", "自分の担当のみ", id="access_inventory.mine"),
        Binding("f", "toggle('flagged')", "要確認のみ", id="access_inventory.flagged"),
        Binding("u", "toggle('undecided')", "未判定のみ", id="access_inventory.undecided"),
        Binding("s", "start", "開始", id="access_inventory.start"),
        Binding("n", "page(1)", "次頁", id="access_inventory.next_page"),
        Binding("p", "page(-1)", "前頁", id="access_inventory.prev_page"),
    ]

    def __init__(self, env: WorkspaceEnv) -> None:
        super().__init__(env)
        self.campaign: CampaignSummary | None = None
        self.lines: list[LineView] = []
        """Every line the filters let through, in the service's order (a page is shown)."""
        self.filters = {"mine": False, "flagged": False, "undecided": False}
        self.loaded = False
        """Whether a load has answered (lines shown, or a refusal said)."""

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield Static("", id="inventory-title")
        yield MessageLine(id="inventory-message")
        yield Input(id="deadline", placeholder=DEADLINE_PROMPT)
        yield Static("", id="inventory-filters")
        yield Static("", id="inventory-count")
        yield Table(id="inventory-lines", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "権限見直し 棚卸し"
        self.query_one("#inventory-lines", DataTable).add_columns(*COLUMNS)
        self.query_one("#deadline").display = False
        self._show_filters()

    def on_screen_resume(self) -> None:
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Hiding is a courtesy: start_campaign checks the permission again.
        if action == "start":
            return holds(self.env, Perm.ACCESS_ADMIN)
        if action == "decide":
            return holds(self.env, Perm.ACCESS_CONFIRM)
        return True

    # --- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        self.query_one("#inventory-count", Static).update(as_text(LOADING, "dim"))
        env, filters = self.env, dict(self.filters)

        def fetch() -> tuple[CampaignSummary | None, list[LineView]]:
            camps = list_campaigns(env.db, env.identity)
            camp = next((c for c in camps if c.state == OPEN), camps[0] if camps else None)
            lines: list[LineView] = []
            if camp is not None:
                if filters["mine"]:
                    lines = reviewer_lines(env.db, env.identity, camp.id,
                                           flagged=filters["flagged"],
                                           undecided=filters["undecided"])
                else:
                    lines = campaign_lines(env.db, env.identity, camp.id,
                                           flagged=filters["flagged"],
                                           undecided=filters["undecided"])
            return camp, lines

        self.load(fetch, lambda got: self._loaded(*got), self._failed,
                  group="access-inventory-load")

    def _failed(self, message: str) -> None:
        self.loaded = True
        self.query_one("#inventory-count", Static).update("")
        self.say(message)

    def _loaded(self, camp: CampaignSummary | None, lines: list[LineView]) -> None:
        self.campaign, self.lines, self.loaded = camp, lines, True
        title = self.query_one("#inventory-title", Static)
        if camp is None:
            title.update(as_text(NO_CAMPAIGN_ADMIN if self.check_action("start", ())
                                 else NO_CAMPAIGN, "dim"))
        else:
            title.update(campaign_text(camp))
        self.repage()

    def paged(self) -> list[LineView]:
        return self.lines

    def shown_lines(self) -> list[LineView]:
        """The lines on the current page, in table order."""
        return self.page_items()

    def show_page(self) -> None:
        shown = self.shown_lines()
        refill_table(self.query_one("#inventory-lines", DataTable),
                     ((str(line.id), line_cells(line)) for line in shown))
        count = self.query_one("#inventory-count", Static)
        if shown:
            count.update(as_text(COUNT.format(**self.page_numbers()), "bold"))
        else:
            count.update(as_text(EMPTY if self.campaign is not None else "", "dim"))

    # --- filters -----------------------------------------------------------------------

    # Our filter's toggle(name), a different action from textual's toggle(attribute).
    def action_toggle(self, name: str) -> None:  # type: ignore[override]
        self.filters[name] = not self.filters[name]
        self.page = 0
        self._show_filters()
        self.reload()

    def _show_filters(self) -> None:
        labels = (("mine", "m 自分の担当のみ"), ("flagged", "f 要確認のみ"),
                  ("undecided", "u 未判定のみ"))
        parts: list[Text | str] = [Text("絞り込み: ", "dim")]
        for key, label in labels:
            on_ = self.filters[key]
            parts.append(Text(("■ " if on_ else "□ ") + label + "  ",
                              "bold cyan" if on_ else "dim"))
        self.query_one("#inventory-filters", Static).update(Text.assemble(*parts))

    # --- deciding ------------------------------------------------------------------------

    def current_line(self) -> LineView | None:
        line: LineView | None = self.item_at_cursor()
        return line

    def action_decide(self, decision: str) -> None:
        if self.busy:
            return
        line = self.current_line()
        if line is None:
            self.say(NO_LINE)
            return
        if decision != REVOKE:
            self._start(decision, line, "")
            return
        prompt = REVOKE_PROMPT.format(login=line.login,
                                      name=line.staff_name or line.account_name)
        self.ask(CommentDialog(REVOKE_TITLE, prompt, ok_label="削除する",
                               max_length=COMMENT_MAX),
                 lambda comment: self._start(decision, line, comment))

    def _start(self, decision: str, line: LineView, comment: str) -> None:
        if not self.begin(RECORDING):
            return
        env = self.env
        self.call_service(
            lambda: decide(env.db, env.identity, line.id, decision, comment,
                           settings=env.settings),
            self._decided, lambda message: self._done(message, "error"),
            group="access-inventory-act", step_up=True,
        )

    def _decided(self, done: LineView) -> None:
        """Say what the decision did (the roles a revoke removed), on the UI thread."""
        if done.decision == REVOKE:
            roles = "・".join(role_label(r) for r in done.removed_roles) or "なし"
            said = REVOKED.format(id=done.id, login=done.login, roles=roles)
        else:
            said = KEPT.format(id=done.id, login=done.login)
        self._done(said, "info")

    def _done(self, message: str, kind: str) -> None:
        self.finish(message, kind, title="判定できません" if kind == "error" else "")
        self.reload()

    # --- starting a campaign ---------------------------------------------------------------

    def action_start(self) -> None:
        camp = self.campaign
        if camp is not None and camp.state == OPEN:  # the service would refuse it too
            self.say(STILL_OPEN.format(id=camp.id, deadline=format_wareki(camp.deadline)))
            return
        self.open_field()

    @on(Input.Submitted, "#deadline")
    def _submit_deadline(self, event: Input.Submitted) -> None:
        if not self.begin(STARTING):
            return
        env, raw = self.env, event.value

        def start() -> CampaignSummary:
            deadline = parse_date(raw, field="期限")
            return start_campaign(env.db, env.settings, env.identity, deadline=deadline)

        self.call_service(
            start,
            lambda camp: self._started(STARTED.format(
                id=camp.id, deadline=format_wareki(camp.deadline), lines=camp.lines,
                flagged=camp.flagged)),
            lambda message: self.finish(message, "error", title="開始できません"),
            group="access-inventory-start",
        )

    def _started(self, message: str) -> None:
        self.finish(message, title="棚卸し")
        self.close_field()
        self.page = 0
        self.reload()
