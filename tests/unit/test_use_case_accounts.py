"""Adding, editing and removing accounts, as use cases: SQLite, a fake provider, no HTTP."""

from __future__ import annotations

import base64

from domain.vocabulary import AccountStatus, ErrorCode, SenderKind, SmsProvider, SmsRoute
from resolvers import accounts, integration
from resolvers.events import AccountEvent, AccountEventKind, SendersChanged
from storage import queries
from tests.unit.world import (
    CLIENT_ID,
    ENTITY_ID,
    HEADER,
    MG_SID,
    PHONE,
    PUBLIC_URL,
    SECRET,
    World,
    form,
)


async def test_adding_an_account_saves_a_draft_and_announces_it(twilio_world: World) -> None:
    world = twilio_world
    async with world.listening() as heard:
        result = await accounts.add_account(
            world.services, world.caller, SmsProvider.TWILIO, form(dlt_entity_id="12345")
        )

    assert result.errors == []
    assert result.message == accounts.ADDED
    account = result.account
    assert account is not None
    assert (account.status, account.sender_kind) == (AccountStatus.DRAFT, SenderKind.PHONE_NUMBER)
    assert (account.sender_id, account.client_id, account.dlt_entity_id) == (
        PHONE,
        CLIENT_ID,
        "12345",
    )
    assert account.display_name == f"Twilio {PHONE}"
    assert account.auth_token_hint == "••••" + SECRET[-4:]
    assert account.created_at == world.clock.now
    [event] = [m for _, m in heard.messages]
    assert isinstance(event, AccountEvent)
    assert (event.kind, event.account, event.stats.connected) == (
        AccountEventKind.ADDED,
        account,
        1,
    )
    assert world.sms.calls == []  # adding calls no provider


async def test_every_field_problem_is_reported_at_once_and_nothing_is_stored(
    twilio_world: World,
) -> None:
    world = twilio_world
    result = await accounts.add_account(
        world.services,
        world.caller,
        SmsProvider.TWILIO,
        {"sender_id": "nope", "client_id": "", "auth_token": "a b"},
    )

    assert {(error.field, error.code) for error in result.errors} == {
        ("senderId", ErrorCode.INVALID),
        ("clientId", ErrorCode.REQUIRED),
        ("authToken", ErrorCode.INVALID),
    }
    assert (await accounts.list_accounts(world.services, world.caller)).nodes == []


async def test_adding_while_the_integration_is_off_is_refused(world: World) -> None:
    await integration.set_integration_enabled(world.services, world.caller, False)

    result = await accounts.add_account(world.services, world.caller, world.provider, world.form())

    assert [error.code for error in result.errors] == [ErrorCode.INTEGRATION_DISABLED]


async def test_one_sender_is_connected_once_per_workspace(world: World) -> None:
    first = await world.add()

    again = await accounts.add_account(world.services, world.caller, world.provider, world.form())

    assert [(e.field, e.code) for e in again.errors] == [("senderId", ErrorCode.INVALID)]
    assert first.display_name in again.errors[0].message


async def test_changing_the_auth_token_returns_the_account_to_draft(world: World) -> None:
    account = await world.verified()
    version = (await world.row(account.id)).credentials_version

    async with world.listening() as heard:
        result = await world.update(account.id, auth_token="0" * 32)

    assert result.account is not None
    assert result.account.status is AccountStatus.DRAFT
    assert result.account.verified_at is None
    assert result.account.trial is None
    row = await world.row(account.id)
    assert row.credentials_version == version + 1
    assert row.previous_auth_token_until is not None  # the old token signs webhooks a while
    kinds = [m.kind for _, m in heard.messages if isinstance(m, AccountEvent)]
    assert kinds == [AccountEventKind.STATUS_CHANGED]
    assert any(isinstance(m, SendersChanged) for _, m in heard.messages)  # left the picker


async def test_renaming_keeps_the_verification_and_an_unchanged_edit_announces_nothing(
    world: World,
) -> None:
    account = await world.verified()

    renamed = await world.update(account.id, display_name="Marketing")
    async with world.listening() as heard:
        same = await world.update(account.id, display_name="Marketing", client_id=account.client_id)

    assert renamed.account is not None
    assert same.account is not None
    assert renamed.account.status is AccountStatus.VERIFIED
    assert same.account == renamed.account
    assert heard.messages == []


async def test_moving_to_a_connected_sender_is_refused_and_changes_nothing(world: World) -> None:
    first = await world.add()
    second_sender = MG_SID if world.provider is SmsProvider.TWILIO else "OTHRIN"
    other = await world.add(sender_id=second_sender)

    result = await world.update(other.id, sender_id=first.sender_id)

    assert [(e.field, e.code) for e in result.errors] == [("senderId", ErrorCode.INVALID)]
    assert (await world.row(other.id)).sender_id == second_sender


async def test_removing_an_account_destroys_its_secret_and_announces_the_removal(
    world: World,
) -> None:
    account = await world.add()

    async with world.listening() as heard:
        result = await accounts.remove_account(world.services, world.caller, account.id)

    assert result.message == accounts.REMOVED
    assert await world.row(account.id) is None
    async with world.services.reads() as session:
        row = await queries.account_by_id(session, account.id)
    assert row is None
    [event] = [m for _, m in heard.messages if isinstance(m, AccountEvent)]
    assert (event.kind, event.stats.connected) == (AccountEventKind.REMOVED, 0)


async def test_another_workspaces_account_reads_as_not_found(world: World) -> None:
    account = await world.add()
    stranger = type(world.caller)("another-workspace", world.caller.role, "key")

    assert await accounts.get_account(world.services, stranger, account.id) is None
    removed = await accounts.remove_account(world.services, stranger, account.id)
    assert [error.code for error in removed.errors] == [ErrorCode.NOT_FOUND]


async def test_an_msg91_account_is_its_header_its_entity_and_a_transactional_route(
    msg91_world: World,
) -> None:
    world = msg91_world
    added = await world.add(client_id=HEADER)  # the sender, as the article's hint says

    assert (added.sender_id, added.client_id, added.sender_kind) == (
        HEADER,
        HEADER,
        SenderKind.ALPHANUMERIC,
    )
    assert (added.dlt_entity_id, added.route) == (ENTITY_ID, SmsRoute.TRANSACTIONAL)
    assert added.display_name == f"MSG91 {HEADER}"
    assert added.base_url == "https://api.msg91.com/"
    assert added.inbound_webhook_url is None  # replies are not supported for MSG91
    token = (await world.row(added.id)).status_webhook_token
    assert added.status_webhook_url == f"{PUBLIC_URL}/webhooks/reports/{added.id}/{token}"
    assert len(base64.urlsafe_b64decode(token + "==")) * 8 >= 128


async def test_every_msg91_field_problem_is_reported_at_once_in_msg91s_words(
    msg91_world: World,
) -> None:
    world = msg91_world
    result = await accounts.add_account(
        world.services,
        world.caller,
        SmsProvider.MSG91,
        {"sender_id": "ACME12", "client_id": "AC" + "0" * 32, "auth_token": "", "route": None},
    )

    assert {(error.field, error.code) for error in result.errors} == {
        ("senderId", ErrorCode.INVALID),
        ("clientId", ErrorCode.INVALID),
        ("authToken", ErrorCode.REQUIRED),
        ("dltEntityId", ErrorCode.REQUIRED),
    }
    sender_error = next(error for error in result.errors if error.field == "senderId")
    assert "6-letter DLT header" in sender_error.message
    assert (await accounts.list_accounts(world.services, world.caller)).nodes == []


async def test_a_twilio_account_takes_no_route_and_has_no_report_url(twilio_world: World) -> None:
    world = twilio_world
    refused = await accounts.add_account(
        world.services, world.caller, SmsProvider.TWILIO, form(route="PROMOTIONAL")
    )
    account = await world.add()
    rotation = await world.update_rotating(account.id)

    assert [(e.field, e.code) for e in refused.errors] == [("route", ErrorCode.INVALID)]
    assert (account.route, account.status_webhook_url) == (None, None)
    assert [(e.field, e.code) for e in rotation.errors] == [
        ("rotateStatusWebhookToken", ErrorCode.INVALID)
    ]


async def test_changing_the_route_keeps_the_verification_and_rotating_issues_a_new_url(
    msg91_world: World,
) -> None:
    world = msg91_world
    account = await world.verified()

    async with world.listening() as heard:
        routed = await world.update(account.id, route="PROMOTIONAL")
        rotated = await world.update_rotating(account.id)

    assert routed.account is not None
    assert rotated.account is not None
    assert (routed.account.route, routed.account.status) == (
        SmsRoute.PROMOTIONAL,
        AccountStatus.VERIFIED,
    )
    assert rotated.account.status is AccountStatus.VERIFIED
    assert rotated.account.status_webhook_url not in (None, account.status_webhook_url)
    kinds = [m.kind for _, m in heard.messages if isinstance(m, AccountEvent)]
    assert kinds == [AccountEventKind.UPDATED, AccountEventKind.UPDATED]


async def test_an_msg91_account_cannot_lose_its_header_or_its_entity(msg91_world: World) -> None:
    world = msg91_world
    account = await world.add()

    result = await world.update(account.id, sender_id="", dlt_entity_id="")

    assert {(e.field, e.code) for e in result.errors} == {
        ("senderId", ErrorCode.REQUIRED),
        ("dltEntityId", ErrorCode.REQUIRED),
    }
