"""Export cursors: opaque strings naming a position in an account's response stream."""
from __future__ import annotations

import re

from service.domain.errors import ValidationError

_CURSOR = re.compile(r"^[0-9]{1,18}$")


def parse_cursor(value: str | None, field: str = "after") -> int:
    """The position after which an export continues; empty means from the start."""
    if value is None or value == "":
        return 0
    if not isinstance(value, str) or not _CURSOR.match(value):
        raise ValidationError(
            f"'{value}' is not a cursor: pass the next_cursor of a previous export, "
            "or nothing to start from the beginning.", field=field)
    return int(value)


def format_cursor(position: int) -> str:
    return str(position)
