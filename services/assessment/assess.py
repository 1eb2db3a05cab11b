"""The threshold judgment at a date: the counts, the incidents, the judgment, recorded.

``assess_threshold`` puts ``counts`` and ``threshold.judge`` together and records the
result as ``assess.threshold`` with every figure, so the judgment a form states can be
traced to the counts it rested on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.db import Database
from core.errors import BadInput
from services import gate
from services.assessment.counts import HandlerCount, PeopleCount, count_handlers, count_people
from services.assessment.incidents import PERMS, IncidentView, serious_in_year
from services.assessment.threshold import Judgment, judge
from services.gate import Who
from services.jp.office_days import office_day
from services.jp.wareki import format_wareki

ACTION = "assess.threshold"
WHAT = "しきい値判断"


@dataclass(frozen=True)
class ThresholdResult:
    as_of: date
    people: PeopleCount
    handlers: HandlerCount
    incidents: tuple[IncidentView, ...]
    judgment: Judgment

    def lines(self) -> list[str]:
        """The result as the CLI and the screen print it."""
        p, h, j = self.people, self.handlers, self.judgment
        out = [
            f"しきい値判断（{format_wareki(self.as_of)} 時点）",
            f"対象人数: {p.total:,} 人（住民 {p.residents:,}、消除済みで保存中 {p.removed:,}）"
            f" → {j.people_band}",
            f"取扱者数: {h.total:,} 人（職員 {h.staff:,}、委託先 {h.contractors:,}、"
            f"職員ひも付きなし {h.unlinked:,}）→ {j.handler_band}",
            f"重大事故（過去1年）: {len(self.incidents):,} 件 → {j.incident_label}",
            f"判断: {j.summary}",
        ]
        if h.rebuilt:
            out.append("※ 過去の日付の取扱者数は、現在の権限から操作ログに記録された変更を"
                       "遡って再構成したものです（ログにない直接の変更は反映されません）。")
        return out


def assess_threshold(db: Database, who: Who, as_of: date | None = None) -> ThresholdResult:
    today = office_day()
    day = as_of or today
    if day > today:
        raise BadInput("基準日 (--as-of): 未来の日付は指定できません。")
    with gate.act(db, who, ACTION, perm=PERMS, what=WHAT, write=False):
        pass  # refused (and recorded) before anything is counted
    people = count_people(db, day)
    handlers = count_handlers(db, day, today=today)
    incidents = tuple(serious_in_year(db, day))
    judgment = judge(people.total, handlers.total, bool(incidents))
    with gate.act(db, who, ACTION, perm=PERMS, what=WHAT, target=day.isoformat()) as a:
        a.record(details={
            "as_of": day.isoformat(), "people": people.total, "residents": people.residents,
            "removed": people.removed, "handlers": handlers.total,
            "contractors": handlers.contractors, "rebuilt": handlers.rebuilt,
            "serious_incidents": [i.id for i in incidents], "judgment": judgment.summary,
        })
    return ThresholdResult(as_of=day, people=people, handlers=handlers,
                           incidents=incidents, judgment=judgment)
