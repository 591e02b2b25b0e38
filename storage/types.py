"""Column types shared by the models."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


E = TypeVar("E", bound=Enum)


class EnumText(TypeDecorator[E]):
    """One of our enums, stored as its value's text (the spellings the column always held): the
    row reads and writes the enum, never a string.

    ``parse`` reads a stored value back (the enum class itself, or a function for a column that
    holds one of several enums); ``length`` is the column's VARCHAR length.
    """

    impl = String
    cache_ok = True

    def __init__(self, parse: Callable[[str], E], length: int) -> None:
        super().__init__(length)
        self.parse = parse
        self.length = length

    def process_bind_param(self, value: E | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Enum):
            raise TypeError(f"{value!r} given to an enum column")
        text: str = value.value
        return text

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.parse(value)
