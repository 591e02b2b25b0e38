"""The Auth Token is a secret: encrypted at rest, never returned, logged or stored in clear."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from storage.db import create_engine, sqlite_path
from tests.cli_process import run_cli
from tests.conftest import TEST_KEY, Keys, account_input, phone
from tests.integration.documents import ACCOUNT, ACCOUNTS, ADD, UPDATE
from tests.integration.steps import enable, mark_verified

SECRET = "S3cr3tT0kenDoNotLeak0123456789ab"
ROTATED = "R0tat3dT0kenDoNotLeak98765432cd"


async def database_text(database_url: str) -> str:
    """Everything the database holds, as text: the files for SQLite, every row for PostgreSQL."""
    path = sqlite_path(database_url)
    if path is not None:
        return "".join(
            candidate.read_bytes().decode("latin-1")
            for candidate in path.parent.iterdir()
            if candidate.name.startswith(path.name)
        )
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM sms_accounts"))).all()
    await engine.dispose()
    return repr(rows)


async def test_the_token_is_absent_from_every_response_the_log_and_the_database(
    make_api: Any, keys: Keys, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses: list[str] = []
    async with make_api(log_sql=True) as api:

        async def send(document: str, variables: dict[str, Any] | None = None) -> Any:
            response = await api.post(keys.admin, document, variables)
            responses.append(response.text)
            return response.json()

        await enable(api, keys.admin)
        added = await send(ADD, {"input": account_input(authToken=SECRET)})
        account_id = added["data"]["addSmsAccount"]["account"]["id"]
        await send(ACCOUNTS)
        await send(ACCOUNT, {"id": account_id})
        await send(UPDATE, {"id": account_id, "input": {"authToken": ROTATED}})
        await send(UPDATE, {"id": account_id, "input": {"authToken": ROTATED + " x"}})
        await send(ADD, {"input": account_input(authToken=SECRET + " with space")})
        await send(ADD, {"input": account_input(authToken=SECRET * 5)})
        # Malformed variables: GraphQL's own error would quote the value it was given.
        await send(ADD, {"input": {"provider": "TWILIO", "authToken": SECRET}})
        await send(ADD, {"input": {**account_input(authToken=SECRET), "provider": "NOPE"}})
        await send(UPDATE, {"id": account_id, "input": {"authToken": [SECRET]}})
        await send(UPDATE, {"id": account_id, "input": {"authToken": {"x": SECRET}}})

    stored = await database_text(database_url)
    everything = {"responses": "\n".join(responses), "log": caplog.text, "database": stored}
    assert "INSERT INTO sms_accounts" in caplog.text  # SQL logging was on
    for where, content in everything.items():
        for token in (SECRET, ROTATED):
            assert token not in content, f"the token leaked into the {where}"
            assert base64.b64encode(token.encode()).decode()[:20] not in content, where


async def test_rotate_keys_re_encrypts_every_secret_with_the_first_key(
    make_api: Any, keys: Keys, database_url: str, tmp_path: Path
) -> None:
    async with make_api() as api:
        await enable(api, keys.admin)
        ids = []
        for number, token in enumerate((SECRET, ROTATED)):
            given = account_input(authToken=token, senderId=phone(number))
            payload = await api.data(keys.admin, ADD, {"input": given})
            ids.append(payload["addSmsAccount"]["account"]["id"])
    for account_id in ids:
        await mark_verified(database_url, account_id)
    new_key = base64.b64encode(os.urandom(32)).decode()

    rotated = run_cli(
        "rotate-keys",
        env={"SMS_DATABASE_URL": database_url, "SMS_ENCRYPTION_KEYS": f"{new_key},{TEST_KEY}"},
        cwd=tmp_path,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-encrypted 2 secret(s)" in rotated.stdout
    again = run_cli(
        "rotate-keys",
        env={"SMS_DATABASE_URL": database_url, "SMS_ENCRYPTION_KEYS": f"{new_key},{TEST_KEY}"},
        cwd=tmp_path,
    )
    assert "Re-encrypted 0 secret(s)" in again.stdout

    # Only the new key now: saving the same token again is recognised as "unchanged", which
    # needs the stored token decrypted; the account stays Verified.
    async with make_api(encryption_keys=new_key) as api:
        for account_id, token in zip(ids, (SECRET, ROTATED), strict=True):
            result = await api.data(
                keys.admin, UPDATE, {"id": account_id, "input": {"authToken": token}}
            )
            assert result["updateSmsAccount"]["account"]["status"] == "VERIFIED"
        changed = await api.data(
            keys.admin, UPDATE, {"id": ids[0], "input": {"authToken": ROTATED}}
        )
        assert changed["updateSmsAccount"]["account"]["status"] == "DRAFT"
