"""An account's fields are written once: ``domain.accounts.Account``. The storage row has a
column of the same name for each field stored as shown, and the GraphQL type has exactly its
fields, in its order."""

from __future__ import annotations

from dataclasses import fields

from domain.accounts import Account
from resolvers.account_rows import DERIVED_FIELDS, STORED_AS_SHOWN
from schema.types import SmsAccount
from storage.models import SmsAccountRow


def test_every_field_stored_as_shown_is_a_column_of_the_same_name() -> None:
    columns = set(SmsAccountRow.__table__.c.keys())  # type: ignore[attr-defined]
    assert set(STORED_AS_SHOWN) <= columns
    assert not DERIVED_FIELDS & columns - {"auth_token_hint", "failure"}


def test_every_field_is_either_stored_as_shown_or_derived() -> None:
    names = [field.name for field in fields(Account)]
    assert set(names) == set(STORED_AS_SHOWN) | DERIVED_FIELDS


def test_the_graphql_type_has_the_accounts_fields_in_order() -> None:
    definition = SmsAccount.__strawberry_definition__  # type: ignore[attr-defined]
    assert [field.python_name for field in definition.fields] == [
        field.name for field in fields(Account)
    ]
