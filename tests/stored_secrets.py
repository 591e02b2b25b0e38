"""Test helpers that reach into stored secrets the way a damaged or tampered row would look."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import text

from storage.db import create_engine


async def execute(database_url: str, statement: str, **values: Any) -> list[Any]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        result = await connection.execute(text(statement), values)
        rows = list(result.all()) if result.returns_rows else []
    await engine.dispose()
    return rows


async def tamper(database_url: str, account_id: str) -> None:
    """Flip one bit of the stored ciphertext: same key id, but it no longer authenticates."""
    [(stored,)] = await execute(
        database_url, "SELECT auth_token_ciphertext FROM sms_accounts WHERE id = :id", id=account_id
    )
    version, kid, payload = stored.split(":", 2)
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1
    forged = f"{version}:{kid}:{base64.b64encode(bytes(raw)).decode()}"
    await execute(
        database_url,
        "UPDATE sms_accounts SET auth_token_ciphertext = :forged WHERE id = :id",
        forged=forged,
        id=account_id,
    )
