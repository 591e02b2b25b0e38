"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path, database_url: str) -> Path:
    """A fresh working directory (and, on PostgreSQL, the emptied test database)."""
    return tmp_path
