"""The command line makes slips visible: which database, new workspaces, keys and their use."""

from __future__ import annotations

import asyncio
import socket
import stat
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from api.app import create_app
from api.bootstrap import build_services
from api.cli import main
from api.settings import Settings
from tests.conftest import PG_URL, TEST_KEY


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cli_logging: None) -> Path:
    """An empty folder as the working directory, the default database URL (./data/sms.db)."""
    for name in ("SMS_DATABASE_URL", "SMS_ENCRYPTION_KEYS", "SMS_ENV", "SMS_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def new_key(capsys: pytest.CaptureFixture[str], workspace: str, role: str) -> tuple[int, str, str]:
    """create-api-key on purpose for a new workspace (and, the first time, a new database)."""
    argv = ("--init", "--create-workspace", "--workspace", workspace, "--role", role)
    return run(capsys, "create-api-key", *argv)


def test_a_command_refuses_a_database_file_that_does_not_exist_and_names_the_path(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = (cli_env / "data" / "sms.db").resolve()

    code, out, err = run(capsys, "create-api-key", "--workspace", "default", "--role", "admin")

    assert code == 2
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(f"sms-accounts: no database at {database} (SMS_DATABASE_URL=")
    assert "--init" in line
    assert not (cli_env / "data").exists()


def test_init_creates_the_database_loudly_then_names_it(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = (cli_env / "data" / "sms.db").resolve()

    code, _, first = run(capsys, "migrate", "--init")
    _, _, second = run(capsys, "migrate")

    assert code == 0
    assert f"NEW DATABASE: {database} did not exist" in first
    assert "NEW DATABASE" not in second
    assert f"database {database} (SQLite)" in second


def test_the_database_and_its_folder_are_for_this_user_alone(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new_key(capsys, "acme", "admin")

    data = cli_env / "data"
    files = sorted(data.iterdir())
    assert data / "sms.db" in files
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in files:  # the database and SQLite's -wal and -shm files beside it
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


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


def test_a_mistyped_workspace_is_refused_with_the_existing_ones_and_no_key(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new_key(capsys, "default", "admin")
    new_key(capsys, "acme", "admin")

    code, out, err = run(capsys, "create-api-key", "--workspace", "defualt", "--role", "sales")
    _, listing, _ = run(capsys, "list-api-keys")

    assert code == 1
    assert "sms_" not in out
    assert "no workspace 'defualt' (existing: acme, default)" in err
    assert "--create-workspace" in err
    assert "defualt" not in listing


def test_create_workspace_makes_a_new_one_says_so_and_issues_the_key(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new_key(capsys, "default", "admin")

    code, out, err = new_key(capsys, "acme", "admin")
    _, again, again_err = run(capsys, "create-api-key", "--workspace", "acme", "--role", "sales")

    assert code == 0
    assert out.startswith("Created an admin key for workspace 'acme'.")
    assert out.strip().splitlines()[-1].startswith("sms_")
    assert "New workspace 'acme' created (existing: default)." in err
    assert again.startswith("Created a sales key for workspace 'acme'.")
    assert "New workspace" not in again_err


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
    _, made, _ = new_key(capsys, "acme", "marketer")
    key = made.strip().splitlines()[-1]
    prefix = "_".join(key.split("_")[:2])
    new_key(capsys, "globex", "admin")
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
    new_key(capsys, "acme", "admin")

    code, _, err = run(capsys, "list-api-keys", "--workspace", "acne")

    assert code == 1
    assert "no workspace 'acne' (existing: acme)" in err


def test_revoking_a_revoked_key_says_so_and_changes_nothing(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, made, _ = new_key(capsys, "acme", "admin")
    prefix = "_".join(made.strip().splitlines()[-1].split("_")[:2])

    first = run(capsys, "revoke-api-key", prefix)
    second = run(capsys, "revoke-api-key", prefix)

    assert first[0] == 0
    assert f"Revoked key {prefix}." in first[1]
    assert second[0] == 0
    assert f"Key {prefix} was already revoked on " in second[1]
    assert "nothing changed" in second[1]


def closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


EVERY_COMMAND = [
    ["serve", "--port", "1"],  # stops before it would listen
    ["create-api-key", "--workspace", "acme", "--role", "admin"],
    ["list-api-keys"],
    ["revoke-api-key", "sms_00000000"],
    ["rotate-keys"],
    ["migrate"],
]


def failure_line(err: str) -> str:
    """The one line a failing command prints (the others are the log's, e.g. which database)."""
    [line] = [line for line in err.splitlines() if line.startswith("sms-accounts:")]
    assert "Traceback" not in err
    return line


@pytest.mark.parametrize("argv", EVERY_COMMAND, ids=lambda argv: argv[0])
def test_an_unreachable_database_stops_every_command_with_one_sentence_and_exit_code_2(
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    port = closed_port()
    monkeypatch.setenv("SMS_DATABASE_URL", f"postgresql+asyncpg://sms:pw@127.0.0.1:{port}/sms")
    monkeypatch.setenv("SMS_ENCRYPTION_KEYS", TEST_KEY)

    code, out, err = run(capsys, *argv)

    assert code == 2
    assert out == ""
    assert failure_line(err) == (
        f"sms-accounts: cannot use the database postgresql+asyncpg://127.0.0.1:{port}/sms "
        "(SMS_DATABASE_URL): connection refused; start the database server, or correct the "
        "host and port."
    )
    assert ":pw@" not in err


def test_the_traceback_behind_a_failure_is_logged_at_debug_level(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS_DATABASE_URL", f"postgresql+asyncpg://127.0.0.1:{closed_port()}/x")
    monkeypatch.setenv("SMS_ENCRYPTION_KEYS", TEST_KEY)

    code, _, err = run(capsys, "migrate", "--log-level", "debug")

    assert code == 2
    assert "Traceback" in err
    assert "ConnectionRefusedError" in err


@pytest.mark.skipif(not PG_URL, reason="needs SMS_TEST_DATABASE_URL (PostgreSQL)")
def test_a_database_the_server_does_not_have_is_named_with_what_to_do(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PG_URL is not None
    missing = make_url(PG_URL).set(database="sms_accounts_no_such_database")
    monkeypatch.setenv("SMS_DATABASE_URL", missing.render_as_string(hide_password=False))
    monkeypatch.setenv("SMS_ENCRYPTION_KEYS", TEST_KEY)

    code, _, err = run(capsys, "list-api-keys")

    assert code == 2
    line = failure_line(err)
    assert "/sms_accounts_no_such_database (SMS_DATABASE_URL): the database does not exist" in line
    assert "createdb" in line


def test_a_malformed_database_url_is_one_sentence_naming_the_setting(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS_DATABASE_URL", "postgresql+asyncpg://sms@db:54x2/sms")

    code, _, err = run(capsys, "migrate")

    assert code == 2
    line = failure_line(err)
    assert line.startswith("sms-accounts: invalid setting: SMS_DATABASE_URL: is not a valid URL")
    assert "postgresql+asyncpg://user:password@host:5432/name" in line


def test_the_help_texts_are_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    texts = []
    for command in ([], *[[argv[0]] for argv in EVERY_COMMAND]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        texts.append(capsys.readouterr().out)

    assert all("usage: sms-accounts" in text for text in texts)
    assert not [text for text in texts if "`" in text]


def test_a_worker_on_the_embedded_sqlite_default_is_refused_saying_serve_sends_there(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "worker", "--concurrency", "2")

    assert (code, out) == (2, "")
    assert "sms-accounts worker needs PostgreSQL" in err
    assert "serve sends the campaigns itself" in err
    assert not (cli_env / "data" / "sms.db").exists()
