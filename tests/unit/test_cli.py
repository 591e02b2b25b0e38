"""The command line makes slips visible: which database, new workspaces, keys and their use."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.bootstrap import build_services
from api.cli import main
from api.settings import Settings
from tests.conftest import PG_URL, TEST_KEY


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty folder as the working directory, the default database URL (./data/sms.db)."""
    for name in ("SMS_DATABASE_URL", "SMS_ENCRYPTION_KEYS", "SMS_ENV", "SMS_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_command_says_loudly_when_it_creates_the_database_then_names_it(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = (cli_env / "data" / "sms.db").resolve()

    code, _, first = run(capsys, "migrate")
    _, _, second = run(capsys, "migrate")

    assert code == 0
    assert f"NEW DATABASE: {database} did not exist" in first
    assert "NEW DATABASE" not in second
    assert f"database {database} (SQLite)" in second


@pytest.mark.skipif(not PG_URL, reason="needs SMS_TEST_DATABASE_URL (PostgreSQL)")
def test_a_server_database_is_named_without_its_credentials(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PG_URL is not None
    # Trust authentication ignores the password: the command works and must not show it.
    with_password = PG_URL.replace("://root@", "://root:s3cret-pw@", 1)
    monkeypatch.setenv("SMS_DATABASE_URL", with_password)
    monkeypatch.setenv("SMS_ENCRYPTION_KEYS", TEST_KEY)

    code, _, err = run(capsys, "list-api-keys")

    assert code == 0
    assert "s3cret-pw" not in err
    [line] = [line for line in err.splitlines() if "database postgresql+asyncpg://" in line]
    assert "root" not in line


def test_create_api_key_for_a_new_workspace_says_so_and_lists_the_others(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "create-api-key", "--workspace", "default", "--role", "admin")
    run(capsys, "create-api-key", "--workspace", "acme", "--role", "admin")

    code, out, err = run(capsys, "create-api-key", "--workspace", "defualt", "--role", "sales")
    _, _, again = run(capsys, "create-api-key", "--workspace", "defualt", "--role", "sales")

    assert code == 0
    assert out.strip().splitlines()[-1].startswith("sms_")
    assert "New workspace 'defualt' created (existing: acme, default)." in err
    assert "New workspace" not in again


def use_key(key: str) -> None:
    """One GraphQL request with the key, through the app, as a client would."""

    async def request() -> None:
        app = create_app(build_services(Settings(database_url="sqlite+aiosqlite:///./data/sms.db")))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as http,
        ):
            answer = await http.post(
                "/graphql",
                json={"query": "{ smsIntegration { enabled } }"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert answer.status_code == 200

    asyncio.run(request())


def test_list_api_keys_shows_prefixes_roles_and_times_never_the_keys(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, made, _ = run(capsys, "create-api-key", "--workspace", "acme", "--role", "marketer")
    key = made.strip().splitlines()[-1]
    prefix = "_".join(key.split("_")[:2])
    run(capsys, "create-api-key", "--workspace", "globex", "--role", "admin")
    _, before, _ = run(capsys, "list-api-keys", "--workspace", "acme")
    use_key(key)

    code, after, _ = run(capsys, "list-api-keys")

    assert code == 0
    header, *lines = before.strip().splitlines()
    assert header.split() == ["PREFIX", "WORKSPACE", "ROLE", "CREATED", "LAST", "USED", "REVOKED"]
    assert len(lines) == 1
    assert lines[0].startswith(f"{prefix}  acme       marketer")
    assert "never" in lines[0]
    [acme] = [line for line in after.splitlines() if line.startswith(prefix)]
    assert "never" not in acme
    assert acme.count(" UTC") == 2
    assert "globex" in after
    assert key not in before + after


def test_listing_an_unknown_workspace_fails_and_names_the_existing_ones(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "create-api-key", "--workspace", "acme", "--role", "admin")

    code, _, err = run(capsys, "list-api-keys", "--workspace", "acne")

    assert code == 1
    assert "no workspace 'acne' (existing: acme)" in err


def test_revoking_a_revoked_key_says_so_and_changes_nothing(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, made, _ = run(capsys, "create-api-key", "--workspace", "acme", "--role", "admin")
    prefix = "_".join(made.strip().splitlines()[-1].split("_")[:2])

    first = run(capsys, "revoke-api-key", prefix)
    second = run(capsys, "revoke-api-key", prefix)

    assert first[0] == 0
    assert f"Revoked key {prefix}." in first[1]
    assert second[0] == 0
    assert f"Key {prefix} was already revoked on " in second[1]
    assert "nothing changed" in second[1]
