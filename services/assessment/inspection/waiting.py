"""What the self-inspection asks of this person, for the home screen (``services.todo``).

Its own module so that the home screen loads only this and the reads it needs, not the
acts (``services.todo`` keeps a clerk's console light).
"""

from __future__ import annotations

from datetime import date

from auth.access import permissions_on
from auth.identity import Identity
from auth.roles import Perm
from core.db import Database
from core.settings import Settings
from services.assessment.inspection.items import year_label
from services.assessment.inspection.tables import INSPECTION_C as _I
from services.assessment.inspection.tables import SHEET_C as _SH
from services.assessment.inspection.tables import sheets_query
from services.assessment.inspection.views import ANSWER_PERMS, _sheet_view, department_of
from services.jp.office_days import office_day
from services.jp.wareki import format_wareki


def waiting_lines(db: Database, settings: Settings, ident: Identity,
                  today: date | None = None) -> list[str]:
    """What the self-inspection asks of this person now, for the home screen.

    To those who must answer (review permission, their department has an unsigned
    sheet): the unanswered items, and the sheet overdue once the deadline has
    passed without a sign-off. To reviewers: the complete sheets they may sign off.
    """
    day = today or office_day()
    out: list[str] = []
    with db.read() as s:
        conn = s.connection()
        perms = permissions_on(conn, ident)
        if not any(p in perms for p in ANSWER_PERMS):
            return []
        mine = department_of(conn, ident.user_id)
        open_sheets = conn.execute(
            sheets_query().where(_SH.signed_at.is_(None)).order_by(_I.fiscal_year,
                                                                  _SH.department)
        ).mappings().all()
        ready = 0
        for sh in open_sheets:
            view = _sheet_view(conn, sh)
            label = f"自己点検（{year_label(sh['fiscal_year'])}・{sh['department']}）"
            due = format_wareki(sh["due_on"])
            if sh["department"] == mine:
                left = len(view.rows) - view.answered
                if day > sh["due_on"]:
                    out.append(f"{label}が期限（{due}）を過ぎても承認されていません"
                               f"（未回答 {left} 項目）。")
                elif left:
                    out.append(f"{label}の未回答が {left} 項目あります（期限 {due}）。")
            if (Perm.ACCESS_CONFIRM in perms and view.complete
                    and all(r.answered_user != ident.user_id for r in view.rows)):
                ready += 1
        if ready:
            out.append(f"自己点検の承認待ちの点検表が {ready} 件あります（F6）。")
    return out
