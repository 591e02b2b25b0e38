"""A stored Auth Token no configured key opens (a lost key, a tampered row, a stored form of any
length or shape) fails its account cleanly, everywhere it is used, and a new token repairs it; a
missing key stops the start."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import respx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.bootstrap import ConfigurationError
from resolvers.account_rows import secret_binding
from storage.crypto import SecretBox
from tests.cli_process import run_cli
from tests.conftest import AUTH_TOKEN, TEST_KEY, Api, Keys, phone
from tests.integration.documents import ACCOUNT, REMOVE, UPDATE
from tests.integration.messaging import (
    PUBLIC_URL,
    inbound_params,
    send,
    signed_post,
    verified_account,
)
from tests.integration.steps import added, enable, mark_verified, verdict, verify
from tests.stored_secrets import execute

CANNOT_BE_READ = "The stored Auth Token cannot be read: enter it again and verify."
OTHER_KEY = base64.b64encode(b"o" * 32).decode()


def key_id(key: str) -> str:
    return SecretBox([base64.b64decode(key)]).primary_key_id


# Every shape of stored Auth Token no key opens: each fails its account the same way.
SHAPES = (
    "one bit flipped",
    "empty",
    "nothing after the key id",
    "shorter than a nonce",
    "not base64",
    "unknown key id",
    "key id that is not hex",
    "truncated tag",
    "not text",
    "huge",
)


def unreadable(shape: str, account_id: str, database_url: str) -> str:
    """A stored Auth Token of ``shape`` for the account: every one of them is unreadable."""
    key = base64.b64decode(TEST_KEY)
    binding = secret_binding(account_id)
    prefix = f"v1:{key_id(TEST_KEY)}:"
    sealed = SecretBox([key]).encrypt(AUTH_TOKEN, bound_to=binding)
    raw = base64.b64decode(sealed.removeprefix(prefix))
    # The column holds 512 characters on PostgreSQL; SQLite keeps whatever it is given.
    huge = 512 if database_url.startswith("postgresql") else 1_000_000
    nonce = os.urandom(12)
    flipped = raw[:-1] + bytes([raw[-1] ^ 1])
    forms = {
        "one bit flipped": prefix + base64.b64encode(flipped).decode(),
        "empty": "",
        "nothing after the key id": prefix,
        "shorter than a nonce": prefix + base64.b64encode(os.urandom(5)).decode(),
        "not base64": prefix + "not base64!",
        "unknown key id": SecretBox([base64.b64decode(OTHER_KEY)]).encrypt(
            AUTH_TOKEN, bound_to=binding
        ),
        "key id that is not hex": "v1:ZZZZZZZZ:" + base64.b64encode(raw).decode(),
        "truncated tag": prefix + base64.b64encode(raw[:-6]).decode(),
        # Authenticates with the right key and row, but is not UTF-8 text.
        "not text": prefix
        + base64.b64encode(
            nonce + AESGCM(key).encrypt(nonce, b"\xff\xfe", binding.encode())
        ).decode(),
        "huge": prefix + "A" * ((huge - len(prefix)) // 4 * 4),  # base64 of zeros
    }
    return forms[shape]


async def store_token(database_url: str, account_id: str, shape: str) -> None:
    await execute(
        database_url,
        "UPDATE sms_accounts SET auth_token_ciphertext = :stored WHERE id = :id",
        stored=unreadable(shape, account_id, database_url),
        id=account_id,
    )


async def tamper(database_url: str, account_id: str) -> None:
    """Flip one bit of the stored ciphertext: same key id, but it no longer authenticates."""
    await store_token(database_url, account_id, "one bit flipped")


async def card(api: Api, keys: Keys, account_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(keys.admin, ACCOUNT, {"id": account_id}))["smsAccount"]
    return found


def assert_cannot_be_read(account: dict[str, Any]) -> None:
    assert account["status"] == "FAILED"
    assert account["failure"] == "INVALID_CREDENTIALS"
    assert account["failureMessage"] == CANNOT_BE_READ


async def test_a_resumed_check_of_a_token_that_cannot_be_read_fails_instead_of_staying_verifying(
    make_api: Any, keys: Keys, database_url: str, twilio: respx.Router
) -> None:
    async with make_api() as api:
        await enable(api, keys.admin)
        account = await added(api, keys.admin)
    # A check whose process died mid-way, of a token that can no longer be read.
    await execute(
        database_url,
        "UPDATE sms_accounts SET status = 'VERIFYING', verify_lease_until = NULL WHERE id = :id",
        id=account["id"],
    )
    await tamper(database_url, account["id"])

    async with make_api(verify_sweep_seconds=0.05) as api:
        assert_cannot_be_read(await verdict(api, keys.admin, account["id"]))
    assert not twilio.calls


async def test_a_token_copied_from_another_row_cannot_be_read_and_is_replaced_not_compared(
    api: Api, keys: Keys, database_url: str
) -> None:
    """Copying one account's ciphertext onto another does not give it that token."""
    await enable(api, keys.admin)
    first = await added(api, keys.admin, authToken="A" * 32)
    second = await added(api, keys.admin, authToken="B" * 32, senderId=phone(1))
    await mark_verified(database_url, second["id"])
    await execute(
        database_url,
        "UPDATE sms_accounts SET auth_token_ciphertext = "
        "(SELECT auth_token_ciphertext FROM sms_accounts WHERE id = :src) WHERE id = :dst",
        src=first["id"],
        dst=second["id"],
    )

    assert_cannot_be_read((await verify(api, keys.admin, second["id"]))["account"])
    same_as_copied = (
        await api.data(keys.admin, UPDATE, {"id": second["id"], "input": {"authToken": "A" * 32}})
    )["updateSmsAccount"]
    assert same_as_copied["errors"] == []
    assert same_as_copied["account"]["status"] == "DRAFT"


async def test_the_app_does_not_start_while_a_stored_token_needs_a_key_it_lacks(
    make_api: Any, keys: Keys
) -> None:
    async with make_api() as api:
        await enable(api, keys.admin)
        await added(api, keys.admin)

    with pytest.raises(ConfigurationError) as refused:
        async with make_api(encryption_keys=OTHER_KEY):
            pass

    assert key_id(TEST_KEY) in str(refused.value)
    assert "SMS_ENCRYPTION_KEYS" in str(refused.value)
    # With the old key listed after the new one, it starts.
    async with make_api(encryption_keys=f"{OTHER_KEY},{TEST_KEY}"):
        pass


async def test_serve_stops_with_exit_code_2_naming_the_missing_key(
    make_api: Any, keys: Keys, database_url: str, tmp_path: Path
) -> None:
    async with make_api() as api:
        await enable(api, keys.admin)
        await added(api, keys.admin)

    served = run_cli(
        "serve",
        "--port",
        "0",
        env={"SMS_DATABASE_URL": database_url, "SMS_ENCRYPTION_KEYS": OTHER_KEY},
        cwd=tmp_path,
    )

    assert served.returncode == 2
    assert key_id(TEST_KEY) in served.stderr
    assert "rotate-keys" in served.stderr
    assert "Traceback" not in served.stderr


async def test_rotate_keys_works_in_batches_reports_unreadable_rows_and_counts_per_key(
    make_api: Any, keys: Keys, database_url: str, tmp_path: Path
) -> None:
    async with make_api() as api:
        await enable(api, keys.admin)
        ids = [
            (await added(api, keys.admin, authToken=f"{n}" * 32, senderId=phone(n)))["id"]
            for n in range(4)
        ]
    await tamper(database_url, ids[1])
    new_key = base64.b64encode(os.urandom(32)).decode()
    env = {"SMS_DATABASE_URL": database_url, "SMS_ENCRYPTION_KEYS": f"{new_key},{TEST_KEY}"}

    rotated = run_cli("rotate-keys", "--batch-size", "1", env=env, cwd=tmp_path)

    assert rotated.returncode == 1  # something still needs the operator
    assert "Re-encrypted 3 secret(s)" in rotated.stdout
    assert f"account {ids[1]} (auth_token_ciphertext)" in rotated.stderr
    assert all(account_id not in rotated.stderr for account_id in ids if account_id != ids[1])
    assert f"{key_id(new_key)} (first key): 3" in rotated.stdout
    assert f"{key_id(TEST_KEY)}: 1" in rotated.stdout


async def test_after_a_lost_key_rotate_keys_can_forget_its_tokens_so_the_server_starts(
    make_api: Any, keys: Keys, database_url: str, tmp_path: Path
) -> None:
    async with make_api() as api:
        await enable(api, keys.admin)
        lost = await added(api, keys.admin)
    env = {"SMS_DATABASE_URL": database_url, "SMS_ENCRYPTION_KEYS": OTHER_KEY}

    kept = run_cli("rotate-keys", env=env, cwd=tmp_path)
    forgot = run_cli("rotate-keys", "--forget-unreadable", env=env, cwd=tmp_path)

    assert kept.returncode == 1
    assert forgot.returncode == 0, forgot.stderr
    assert "Dropped 1 unreadable secret(s)" in forgot.stdout
    async with make_api(encryption_keys=OTHER_KEY) as api:
        assert_cannot_be_read(await card(api, keys, lost["id"]))
        repaired = (
            await api.data(keys.admin, UPDATE, {"id": lost["id"], "input": {"authToken": "C" * 32}})
        )["updateSmsAccount"]
        assert repaired["account"]["status"] == "DRAFT"


async def test_a_removed_accounts_empty_secret_needs_no_key(
    make_api: Any, keys: Keys, database_url: str
) -> None:
    async with make_api() as api:
        await enable(api, keys.admin)
        gone = await added(api, keys.admin)
        await api.data(keys.admin, REMOVE, {"id": gone["id"]})

    async with make_api(encryption_keys=OTHER_KEY):
        pass


@pytest.mark.parametrize("shape", SHAPES)
async def test_verify_fails_an_account_whose_stored_token_has_any_bad_shape(
    api: Api, keys: Keys, database_url: str, twilio: respx.Router, shape: str
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)
    await store_token(database_url, account["id"], shape)

    started = await verify(api, keys.admin, account["id"])

    assert (started["errors"], started["message"]) == ([], CANNOT_BE_READ)
    assert_cannot_be_read(started["account"])
    assert_cannot_be_read(await card(api, keys, account["id"]))
    assert not twilio.calls


@pytest.mark.parametrize("shape", SHAPES)
async def test_webhooks_of_a_token_of_any_bad_shape_are_refused_with_403(
    make_api: Any, keys: Keys, database_url: str, twilio: respx.Router, shape: str
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        account = await verified_account(api, keys, twilio)
        await store_token(database_url, account["id"], shape)
        path = f"/webhooks/twilio/{account['id']}"

        inbound = await signed_post(api, f"{path}/inbound", inbound_params("hi"))
        status = await signed_post(api, f"{path}/status", {"MessageSid": "SM" + "a" * 32})

    assert (inbound.status_code, status.status_code) == (403, 403)


@pytest.mark.parametrize("shape", SHAPES)
async def test_sending_through_a_token_of_any_bad_shape_fails_cleanly(
    api: Api, keys: Keys, database_url: str, twilio: respx.Router, shape: str
) -> None:
    account = await verified_account(api, keys, twilio)
    await store_token(database_url, account["id"], shape)
    calls_before = len(twilio.calls)

    result = await send(api, keys.marketer, account["id"], "+14155550100", "Hello")

    assert result["message"] is None
    assert [(e["field"], e["code"], e["message"]) for e in result["errors"]] == [
        ("accountId", "ACCOUNT_NOT_VERIFIED", CANNOT_BE_READ)
    ]
    assert_cannot_be_read(await card(api, keys, account["id"]))
    assert len(twilio.calls) == calls_before
    assert await execute(database_url, "SELECT id FROM sms_messages") == []


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_new_token_repairs_an_account_whose_token_has_any_bad_shape(
    api: Api, keys: Keys, database_url: str, twilio: respx.Router, shape: str
) -> None:
    account = await verified_account(api, keys, twilio)
    await store_token(database_url, account["id"], shape)
    assert_cannot_be_read((await verify(api, keys.admin, account["id"]))["account"])

    repaired = (
        await api.data(
            keys.admin, UPDATE, {"id": account["id"], "input": {"authToken": AUTH_TOKEN}}
        )
    )["updateSmsAccount"]

    assert repaired["errors"] == []
    assert (repaired["account"]["status"], repaired["account"]["failure"]) == ("DRAFT", None)
    await verify(api, keys.admin, account["id"])
    assert (await verdict(api, keys.admin, account["id"]))["status"] == "VERIFIED"


# An empty column is how a forgotten token is stored (rotate-keys --forget-unreadable, removal):
# rotate-keys has nothing there to open or report, and the paths above fail the account.
BAD_SHAPES = [shape for shape in SHAPES if shape != "empty"]


async def test_rotate_keys_reports_a_token_of_any_bad_shape_and_goes_on(
    make_api: Any, keys: Keys, database_url: str, tmp_path: Path
) -> None:
    # One run over every shape at once (one bad token per account, batches of one between two
    # good ones): each is reported by id and none stops the run, at the cost of two CLI starts.
    async with make_api() as api:
        await enable(api, keys.admin)
        ids = [
            (await added(api, keys.admin, authToken=f"{n % 10}" * 32, senderId=phone(n)))["id"]
            for n in range(len(BAD_SHAPES) + 2)
        ]
    bad = dict(zip(ids[1:-1], BAD_SHAPES, strict=True))
    for account_id, shape in bad.items():
        await store_token(database_url, account_id, shape)
    new_key = base64.b64encode(os.urandom(32)).decode()
    env = {"SMS_DATABASE_URL": database_url, "SMS_ENCRYPTION_KEYS": f"{new_key},{TEST_KEY}"}

    rotated = run_cli("rotate-keys", "--batch-size", "1", env=env, cwd=tmp_path)
    forgot = run_cli("rotate-keys", "--forget-unreadable", env=env, cwd=tmp_path)

    assert rotated.returncode == 1, rotated.stderr
    assert "Traceback" not in rotated.stderr
    assert "Re-encrypted 2 secret(s)" in rotated.stdout
    for account_id, shape in bad.items():
        assert f"account {account_id} (auth_token_ciphertext)" in rotated.stderr, shape
    assert forgot.returncode == 0, forgot.stderr
    assert f"Dropped {len(bad)} unreadable secret(s)" in forgot.stdout
    async with make_api(encryption_keys=f"{new_key},{TEST_KEY}") as api:
        for account_id in bad:
            assert_cannot_be_read(await card(api, keys, account_id))
