"""The 棚卸し's tables as Core tables and columns, for the statements below the ORM
(conditional updates, bulk inserts, joins by column): one place for the package."""

from __future__ import annotations

from typing import Any

from core.db import table
from services.personnel.inventory_models import InventoryCampaign, InventoryLine

CAMPAIGNS = table(InventoryCampaign)
LINES = table(InventoryLine)
CAMPAIGN_C: Any = CAMPAIGNS.c
LINE_C: Any = LINES.c
