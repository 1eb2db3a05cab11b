"""The console's context on the test database (both backends, via ``db``/``settings``)."""

from __future__ import annotations

import pytest

from console.context import Context
from core.db import Database
from core.settings import Settings


@pytest.fixture
def ctx(settings: Settings, db: Database) -> Context:
    return Context(settings=settings, db=db)
