"""The self-inspection's tables as Core columns, for the statements below the ORM
(conditional updates, joins by column): one place for the package's modules."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db import table
from services.assessment.models import Inspection, InspectionAnswer, InspectionSheet

INSPECTION = table(Inspection)
SHEET = table(InspectionSheet)
ANSWER = table(InspectionAnswer)
INSPECTION_C: Any = INSPECTION.c
SHEET_C: Any = SHEET.c
ANSWER_C: Any = ANSWER.c


def sheets_query() -> Any:
    """Sheets with their year, deadline and items (the inspection's), by sheet."""
    return select(SHEET, INSPECTION_C.fiscal_year, INSPECTION_C.due_on,
                  INSPECTION_C["items"]).select_from(
        SHEET.join(INSPECTION, INSPECTION_C.id == SHEET_C.inspection_id))
