"""The yearly self-inspection (自己点検): a checklist answered per department, signed off.

The assessment promises a self-inspection; this makes it a record. The items come from
a TOML file (setting ``inspection_items``; the built-in one follows the assessment's
section IV: 入手, 使用, 委託, 提供・移転, 接続, 保管・消去, 手作業, 研修).

* **Start** (``start_inspection``; the CLI's OS operator, or a holder of the access
  admin or review permission): one inspection per fiscal year (年度, April–March),
  the items copied in, the deadline from ``inspection_due`` (MM-DD within the year), one
  sheet per department: those named, else every department of an enabled account that
  holds the register lookup permission.
* **Answer** (``answer``): a holder of the review permission (確認者, 所属長) answers the
  items of their own department's sheet (the 所属 of their staff record, else of their
  account): 実施 / 一部実施 / 未実施 / 該当なし, with an evidence note (required except
  for 該当なし). An answer may be changed until the sheet is signed off.
* **Sign off** (``sign_off``): a holder of the review permission who answered none of
  the sheet's items, once every item is answered; the first sign-off stands (a
  conditional update). Self-sign-off is refused and recorded.
* **Waiting** (``waiting_lines``): the home screen's lines — unanswered items and an
  overdue sheet for those who must answer, sheets waiting for sign-off for reviewers.

Every act is an audit event (``inspection.*``) in its transaction; every refusal too.

The modules, one concern each: ``items`` (the checklist, the 年度 and its deadline),
``views`` (what callers read, and who may), ``acts`` (start, answer, sign off),
``waiting`` (the home screen's lines). This package's names are their public ones.
"""


from services.assessment.inspection.acts import (
    NO_NOTE,
    NOTE_MAX,
    START_PERMS,
    answer,
    sign_off,
    start_inspection,
)
from services.assessment.inspection.items import (
    BUILTIN_ITEMS,
    Item,
    due_date,
    fiscal_year,
    load_items,
    parse_year,
    year_label,
)
from services.assessment.inspection.views import (
    ANSWER_PERMS,
    VIEW_PERMS,
    AnswerRow,
    InspectionSummary,
    SheetSummary,
    SheetView,
    department_of,
    get_inspection,
    get_sheet,
    latest_inspection,
    my_department,
    sheets_of,
)
from services.assessment.inspection.waiting import waiting_lines
from services.assessment.models import ANSWERS
from services.gate import Who

__all__ = [
    "ANSWERS",
    "ANSWER_PERMS",
    "BUILTIN_ITEMS",
    "NOTE_MAX",
    "NO_NOTE",
    "START_PERMS",
    "VIEW_PERMS",
    "AnswerRow",
    "InspectionSummary",
    "Item",
    "SheetSummary",
    "SheetView",
    "Who",
    "answer",
    "department_of",
    "due_date",
    "fiscal_year",
    "get_inspection",
    "get_sheet",
    "latest_inspection",
    "load_items",
    "my_department",
    "parse_year",
    "sheets_of",
    "sign_off",
    "start_inspection",
    "waiting_lines",
    "year_label",
]
