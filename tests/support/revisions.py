"""The latest Alembic revision of db/, for tests that print or compare it (it moves with
every migration, and branches that each add one are merged in any order)."""
from __future__ import annotations

from alembic.script import ScriptDirectory

from service.storage.migrations import alembic_config

LATEST = ScriptDirectory.from_config(alembic_config(None)).get_current_head()
