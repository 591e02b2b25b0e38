"""The account's state machine: what each move sets, clears and starts from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.account_states import (
    ANY_STATUS,
    KEEP,
    AccountMove,
    check_again,
    still_verified,
    to_draft,
    to_failed,
    to_verified,
    to_verifying,
)
from domain.vocabulary import AccountStatus, FailureReason, SmsProvider, VerificationFailure
from storage.models import SmsAccountRow
from storage.queries import apply_move

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)


def test_back_to_draft_forgets_everything_checked_and_takes_new_credentials() -> None:
    move = to_draft(NOW)
    assert move.allowed_from == ANY_STATUS
    assert move.new_credentials
    assert move.columns() == {
        "status": AccountStatus.DRAFT,
        "failure": None,
        "trial": None,
        "verified_at": None,
        "next_check_at": None,
        "verify_lease_until": None,
        "updated_at": NOW,
    }


def test_verifying_takes_a_lease_and_clears_the_failure() -> None:
    assert to_verifying(NOW, LATER).columns() == {
        "status": AccountStatus.VERIFYING,
        "failure": None,
        "verify_lease_until": LATER,
        "updated_at": NOW,
    }


def test_verified_comes_only_from_verifying_and_schedules_the_next_check() -> None:
    move = to_verified(NOW, LATER, trial=True)
    assert move.allowed_from == {AccountStatus.VERIFYING}
    assert move.columns() == {
        "status": AccountStatus.VERIFIED,
        "failure": None,
        "trial": True,
        "verified_at": NOW,
        "last_checked_at": NOW,
        "next_check_at": LATER,
        "verify_lease_until": None,
        "updated_at": NOW,
    }


def test_an_unknown_trial_flag_is_kept_rather_than_cleared() -> None:
    assert to_verified(NOW, LATER, trial=None).trial is KEEP
    assert "trial" not in still_verified(NOW, LATER, trial=None).columns()


def test_a_passed_health_check_moves_only_its_dates_and_gives_the_lease_back() -> None:
    move = still_verified(NOW, LATER, trial=False)
    assert move.allowed_from == {AccountStatus.VERIFIED}
    assert move.columns() == {
        "trial": False,
        "last_checked_at": NOW,
        "next_check_at": LATER,
        "verify_lease_until": None,
    }
    assert check_again(LATER).columns() == {"next_check_at": LATER, "verify_lease_until": None}


@pytest.mark.parametrize("checked", [True, False])
def test_failing_always_clears_the_verification_the_next_check_and_the_lease(
    checked: bool,
) -> None:
    move = to_failed(
        VerificationFailure.INVALID_CREDENTIALS,
        NOW,
        allowed_from=frozenset({AccountStatus.VERIFIED}),
        checked=checked,
    )
    columns = move.columns()
    assert columns["status"] is AccountStatus.FAILED
    assert columns["failure"] is VerificationFailure.INVALID_CREDENTIALS
    assert (columns["verified_at"], columns["next_check_at"]) == (None, None)
    assert columns["verify_lease_until"] is None
    # lastCheckedAt says when the provider last answered for the account.
    assert ("last_checked_at" in columns) is checked
    assert move.allowed_from == {AccountStatus.VERIFIED}


def test_a_move_applied_to_a_held_row_sets_its_columns() -> None:
    row = SmsAccountRow(
        workspace_id="w1",
        provider=SmsProvider.TWILIO,
        display_name="Support",
        client_id="AC1",
        auth_token_ciphertext="-",
        auth_token_hint="",
        base_url="https://api.twilio.com/",
        status=AccountStatus.VERIFIED,
        credentials_version=3,
        verified_at=NOW,
    )

    apply_move(row, to_failed(FailureReason.TOKEN_UNREADABLE, LATER))
    assert (row.status, row.failure, row.verified_at) == (
        AccountStatus.FAILED,
        FailureReason.TOKEN_UNREADABLE,
        None,
    )
    apply_move(row, to_draft(LATER))
    assert (row.status, row.credentials_version) == (AccountStatus.DRAFT, 4)


def test_every_move_writes_only_state_columns() -> None:
    state = {"status", "failure", "trial", "verified_at", "last_checked_at", "next_check_at"}
    state |= {"verify_lease_until", "updated_at"}
    moves: list[AccountMove] = [
        to_draft(NOW),
        to_verifying(NOW, LATER),
        to_verified(NOW, LATER, True),
        still_verified(NOW, LATER, True),
        check_again(LATER),
        to_failed(VerificationFailure.BASE_URL, NOW, checked=True, trial=True),
    ]
    columns = set(SmsAccountRow.__table__.c.keys())  # type: ignore[attr-defined]
    for move in moves:
        assert set(move.columns()) <= state <= columns
