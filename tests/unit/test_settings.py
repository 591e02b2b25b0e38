"""Settings from the environment: unknown or malformed ones stop the start with a clear message."""

from __future__ import annotations

import base64

import pytest

from api.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings
from domain.vocabulary import SmsProvider
from providers.host_policy import HostPolicyError
from providers.sms.adapters import host_policies


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SMS_") and not name.startswith("SMS_TEST_"):
            monkeypatch.delenv(name)


def test_the_defaults_are_the_embedded_setup() -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.graphiql is None
    assert settings.graphiql_enabled is True
    assert settings.accounts_page is None
    assert settings.accounts_page_enabled is True
    assert settings.env == "development"
    assert settings.log_format == "text"
    assert settings.public_url is None
    assert settings.host_policy.is_default


def test_a_killed_check_is_resumed_within_thirty_seconds_by_default() -> None:
    settings = load_settings()
    # A lease outlives its dead replica by at most its length, then waits at most one sweep.
    assert settings.verify_lease_seconds + settings.verify_sweep_seconds <= 30
    assert settings.recheck_seconds == 86_400


def test_an_unknown_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_DATABSE_URL", "sqlite+aiosqlite:///x.db")
    with pytest.raises(SettingsError, match="SMS_DATABSE_URL"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SMS_DATABASE_URL", "mysql://x", "SMS_DATABASE_URL"),
        ("SMS_ENCRYPTION_KEYS", "not-base64!", "SMS_ENCRYPTION_KEYS"),
        ("SMS_ENCRYPTION_KEYS", base64.b64encode(b"x" * 16).decode(), "32"),
        ("SMS_ALLOWED_PROVIDER_HOSTS", " , ", "SMS_ALLOWED_PROVIDER_HOSTS"),
        ("SMS_PUBLIC_URL", "ftp://x", "SMS_PUBLIC_URL"),
        ("SMS_GRAPHIQL", "maybe", "SMS_GRAPHIQL"),
        ("SMS_ACCOUNTS_PAGE", "maybe", "SMS_ACCOUNTS_PAGE"),
        ("SMS_BROADCAST_URL", "kafka://broker:9092", "redis://host:port/db"),
        ("SMS_BROADCAST_URL", "redis://", "SMS_BROADCAST_URL"),
        ("SMS_BUS_RECONNECT_MAX_SECONDS", "0", "SMS_BUS_RECONNECT_MAX_SECONDS"),
        ("SMS_BUS_SECRET", "a" * 40 + ",too short", "SMS_BUS_SECRET: .*secret 2 has 9"),
        ("SMS_BUS_MAX_AGE_SECONDS", "0.5", "SMS_BUS_MAX_AGE_SECONDS"),
        ("SMS_CACHE_WORKSPACES_TRACKED", "10", "SMS_CACHE_WORKSPACES_TRACKED"),
        ("SMS_DB_RETRY_AFTER_SECONDS", "0", "SMS_DB_RETRY_AFTER_SECONDS"),
        ("SMS_VERIFY_LEASE_SECONDS", "0", "SMS_VERIFY_LEASE_SECONDS"),
        ("SMS_VERIFY_SWEEP_SECONDS", "-1", "SMS_VERIFY_SWEEP_SECONDS"),
        ("SMS_RECHECK_SECONDS", "0.5", "SMS_RECHECK_SECONDS"),
        ("SMS_KEY_RECHECK_SECONDS", "6", "SMS_KEY_RECHECK_SECONDS"),
        ("SMS_WS_INIT_TIMEOUT_SECONDS", "0", "SMS_WS_INIT_TIMEOUT_SECONDS"),
        ("SMS_WS_MAX_AWAITING_INIT", "0", "SMS_WS_MAX_AWAITING_INIT"),
        ("SMS_WS_MAX_SOCKETS_PER_KEY", "0", "SMS_WS_MAX_SOCKETS_PER_KEY"),
    ],
)
def test_a_malformed_setting_is_named_with_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=says):
        load_settings()


def test_the_error_never_echoes_an_encryption_key(monkeypatch: pytest.MonkeyPatch) -> None:
    short = base64.b64encode(b"secret-key-16byt").decode()
    monkeypatch.setenv("SMS_ENCRYPTION_KEYS", short)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert short not in str(info.value)


def test_the_public_url_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_PUBLIC_URL", "https://sms.example.com/")
    assert load_settings().public_url == "https://sms.example.com"


def test_the_edge_limits_default_to_the_documented_numbers() -> None:
    settings = load_settings()
    assert (settings.max_query_depth, settings.max_aliases, settings.max_tokens) == (10, 30, 1000)
    assert (settings.max_fields, settings.max_field_overlaps) == (500, 1000)
    assert (settings.max_introspection_depth, settings.document_cache_chars) == (15, 65536)
    assert (settings.max_body_bytes, settings.max_json_depth) == (1024 * 1024, 32)
    assert (settings.ws_max_message_bytes, settings.ws_max_subscriptions) == (64 * 1024, 20)
    assert (settings.auth_failures_per_second, settings.auth_failure_addresses) == (20, 10_000)


def test_websockets_are_bounded_by_default() -> None:
    settings = load_settings()
    # A revoked key's open websockets close within 5 s even without a bus announcing it.
    assert settings.key_recheck_seconds <= 5
    assert settings.ws_init_timeout_seconds == 5
    assert (settings.ws_max_awaiting_init, settings.ws_max_sockets_per_key) == (1_000, 500)


def test_a_redis_broadcast_url_names_the_bus_of_several_replicas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMS_BROADCAST_URL", "redis://redis.internal:6379/2")
    assert load_settings().broadcast_url == "redis://redis.internal:6379/2"


def test_the_introspection_depth_is_capped_at_twenty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_MAX_INTROSPECTION_DEPTH", "21")
    with pytest.raises(SettingsError, match=r"SMS_MAX_INTROSPECTION_DEPTH: .* or equal to 20"):
        load_settings()


def test_by_default_each_provider_may_name_only_its_own_api_hosts() -> None:
    policies = host_policies(load_settings().host_policy)

    twilio, msg91 = policies[SmsProvider.TWILIO], policies[SmsProvider.MSG91]
    assert twilio.check_url("https://api.twilio.com") == "https://api.twilio.com/"
    assert msg91.check_url("https://api.msg91.com") == "https://api.msg91.com/"
    assert msg91.check_url("https://control.msg91.com/") == "https://control.msg91.com/"
    with pytest.raises(HostPolicyError, match="not an allowed MSG91 host"):
        msg91.check_url("https://api.twilio.com/")
    with pytest.raises(HostPolicyError, match="not an allowed Twilio host"):
        twilio.check_url("https://api.msg91.com/")
    with pytest.raises(HostPolicyError, match="https for MSG91's hosts"):
        msg91.check_url("http://api.msg91.com/")


def test_the_operators_hosts_are_the_list_of_both_providers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMS_ALLOWED_PROVIDER_HOSTS", "sms-proxy.example.com,api.msg91.com")

    policies = host_policies(load_settings().host_policy)

    for policy in policies.values():
        assert policy.check_url("https://sms-proxy.example.com:8443/") == (
            "https://sms-proxy.example.com:8443/"
        )
        with pytest.raises(HostPolicyError):
            policy.check_url("https://api.twilio.com/")
    assert policies[SmsProvider.TWILIO].check_url("https://api.msg91.com/")


def test_the_campaign_limits_default_to_the_issues_and_a_killed_hand_over_is_settled_soon() -> None:
    settings = load_settings()
    assert settings.campaign_recipients_per_call == 1_000
    assert settings.campaign_max_recipients == 1_000_000
    # A hand-over whose process was killed turns UNCONFIRMED after its lease: well within 30 s.
    assert settings.campaign_handover_lease_seconds < 30
    assert settings.campaign_event_interval_seconds == 0.5


def test_campaign_events_cannot_be_set_to_more_than_two_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMS_CAMPAIGN_EVENT_INTERVAL_SECONDS", "0.1")
    with pytest.raises(SettingsError, match="SMS_CAMPAIGN_EVENT_INTERVAL_SECONDS"):
        load_settings()


def test_a_worker_is_taken_for_dead_only_after_missing_a_beat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert (settings.serve_workers, settings.worker_heartbeat_seconds) == (4, 2.0)
    # A killed worker's campaign moves to another within 30 s: stalled, then one recovery tick.
    assert settings.worker_stalled_seconds + 5 <= 30
    monkeypatch.setenv("SMS_WORKER_HEARTBEAT_SECONDS", "5")
    monkeypatch.setenv("SMS_WORKER_STALLED_SECONDS", "8")
    with pytest.raises(SettingsError, match="at least twice SMS_WORKER_HEARTBEAT_SECONDS"):
        load_settings()


def test_pacing_bounds_are_strict_by_default() -> None:
    settings = load_settings()
    assert settings.send_max_wait_seconds == 5.0
    assert (settings.queue_full_slowdown_factor, settings.queue_full_slowdown_seconds) == (2, 60)
    assert settings.campaign_job_slice_seconds == 10.0


def test_webhook_signers_are_remembered_for_ten_thousand_accounts_at_most_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().webhook_signers_remembered == 10_000
    monkeypatch.setenv("SMS_WEBHOOK_SIGNERS_REMEMBERED", "-1")
    with pytest.raises(SettingsError, match="SMS_WEBHOOK_SIGNERS_REMEMBERED"):
        load_settings()


def test_a_long_running_server_is_bounded_and_unprofiled_by_default() -> None:
    settings = load_settings()
    assert (settings.auth_cache_entries, settings.cache_workspaces_tracked) == (10_000, 10_000)
    assert settings.malloc_arenas == 2
    assert (settings.db_pool_size, settings.db_max_overflow, settings.sqlite_cache_kib) == (
        20,
        10,
        1024,
    )
    assert (settings.sqlite_heap_limit_kib, settings.sqlite_cached_statements) == (16 * 1024, 32)
    assert settings.log_flush_seconds == 0.1
    assert settings.debug_memory_report_seconds == 0


def test_the_log_flush_wait_is_capped_at_five_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_LOG_FLUSH_SECONDS", "6")
    with pytest.raises(SettingsError, match="SMS_LOG_FLUSH_SECONDS"):
        load_settings()
