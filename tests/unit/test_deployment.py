"""docker-compose.yml, read as Docker Compose would read it (Docker does not run here): every
SMS_* variable it gives the service is a setting the service knows and accepts. And the build
context, as .dockerignore leaves it, holds what the Dockerfile copies and nothing private."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OURS = {name: service for name, service in SERVICES.items() if service.get("build") == "."}
REPLICAS = {name: service for name, service in OURS.items() if "command" not in service}
# What an operator exports before ``docker compose up`` (a valid value for each placeholder).
OPERATOR = {
    "POSTGRES_PASSWORD": "s3cret",
    "REDIS_PASSWORD": "r3dis",
    "SMS_ENCRYPTION_KEYS": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
    "SMS_PUBLIC_URL": "https://sms.example.com",
}


def interpolate(value: str) -> str:
    """Compose's ``${NAME}``, ``${NAME:?message}`` and ``${NAME:-default}``."""

    def one(match: re.Match[str]) -> str:
        name, _, default = match.group(1).partition(":-")
        name = name.split(":?")[0]
        return OPERATOR.get(name, default)

    return re.sub(r"\$\{([^}]+)\}", one, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {name: interpolate(str(value)) for name, value in service["environment"].items()}


def test_two_replicas_run_the_server_behind_a_load_balancer_that_passes_websockets() -> None:
    assert len(REPLICAS) == 2
    balancer = SERVICES["load-balancer"]
    assert balancer["image"].startswith("caddy")
    (config,) = [v.split(":")[0] for v in balancer["volumes"] if "Caddyfile" in v]
    caddyfile = (ROOT / config).read_text()
    for name in REPLICAS:
        assert f"{name}:8000" in caddyfile
    assert {"postgres", "redis"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_sms_variable_is_a_setting_the_service_accepts(name: str) -> None:
    values = environment(OURS[name])
    known = {f"SMS_{field.upper()}" for field in Settings.model_fields}
    assert set(values) - known == set(), "unknown settings stop the start"
    fields: dict[str, Any] = {key.removeprefix("SMS_").lower(): v for key, v in values.items()}
    settings = Settings(**fields)
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.database_url.split("@")[1].startswith("postgres:5432/")
    assert settings.broadcast_url == "redis://:r3dis@redis:6379/0"
    assert settings.encryption_key_list, "replicas must share their encryption keys"
    assert settings.public_url == "https://sms.example.com"
    assert settings.production, "no GraphiQL, introspection or hints for the public"
    assert not settings.graphiql_enabled


def test_replicas_and_the_migration_share_one_configuration() -> None:
    configurations = [environment(service) for service in OURS.values()]
    assert all(configuration == configurations[0] for configuration in configurations)
    assert SERVICES["migrate"]["command"] == ["migrate"]
    for replica in REPLICAS.values():
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_a_worker_sends_campaigns_after_the_migration_with_the_replicas_configuration() -> None:
    worker = SERVICES["worker"]
    assert worker["command"][0] == "worker"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["healthcheck"] == {"disable": True}  # the image's check asks for HTTP
    assert environment(worker) == environment(SERVICES["replica-a"])


def test_redis_is_private_and_asks_for_the_password_the_replicas_use() -> None:
    redis = SERVICES["redis"]
    command = [interpolate(str(part)) for part in redis["command"]]
    assert command[command.index("--requirepass") + 1] == OPERATOR["REDIS_PASSWORD"]
    assert environment(redis)["REDISCLI_AUTH"] == OPERATOR["REDIS_PASSWORD"]  # its health check
    assert "ports" not in redis, "only the replicas reach Redis"


def ignored(path: str, rules: list[str]) -> bool:
    """Docker's reading of .dockerignore: the last rule matching the path or a folder above it
    decides; ``!`` keeps; ``*`` stays within a folder, ``**`` crosses folders."""
    result = False
    parts = path.split("/")
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    for rule in rules:
        keep = rule.startswith("!")
        pattern = rule.removeprefix("!").strip("/")
        expression = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        expression = expression.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(expression, candidate) for candidate in candidates):
            result = not keep
    return result


def copied_into_the_image() -> list[str]:
    """The sources of the Dockerfile's COPY lines."""
    return [
        source
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    ]


def test_the_image_copies_every_package_the_project_installs() -> None:
    """``pip install .`` in the image installs whatever packages it finds: one left out is
    no build error, only an ImportError when the container starts."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.removesuffix("*") for pattern in included}

    assert sorted(packages - set(copied_into_the_image())) == []


def test_the_build_context_holds_what_the_image_copies_and_no_secret_or_venv() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    copied = copied_into_the_image()
    kept = [
        *copied,
        "api/cli.py",
        "api/static/graphiql/page.js",
        "api/static/accounts/main.js",
        "storage/migrations/env.py",
    ]
    private = [
        ".venv/bin/python",
        ".venv-3.13/lib/site.py",
        "data/sms.db",
        "data/sms.db-wal",
        "data/sms.key",
        "data/first-admin-key",
        "api/data/sms.db",
        "sms.key",
        ".git/config",
        "api/__pycache__/cli.cpython-311.pyc",
        "tests/conftest.py",
        "bench/load.py",
    ]

    assert [path for path in kept if ignored(path, rules)] == []
    assert [path for path in private if not ignored(path, rules)] == []
