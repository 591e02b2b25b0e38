"""Role checks on root fields: a role that may not run a field gets FORBIDDEN."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from domain.vocabulary import Role
from resolvers.permissions import OPERATIONS, may
from schema.context import Info


class _Allowed(BasePermission):
    operation = ""
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012  (strawberry reads it per class)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        caller = info.context.authenticated
        return caller is not None and may(caller.role, self.operation)


def who_may(operation: str) -> str:
    """The sentence a root field's description ends with: which keys may call it, from the
    roles table the permission checks read (so the docs cannot drift from them)."""
    roles = OPERATIONS[operation]
    if roles == frozenset(Role):
        return "Any key may call it."
    names = " and ".join(role.value for role in Role if role in roles)
    return f"For {names} keys; others get FORBIDDEN."


def allowed(operation: str) -> list[type[BasePermission]]:
    """The permission class list for a root field named in the roles table."""
    roles = ", ".join(sorted(role.value for role in OPERATIONS[operation]))
    permission = type(
        f"Allowed_{operation}",
        (_Allowed,),
        {"operation": operation, "message": f"Forbidden: {operation} is for {roles} keys only."},
    )
    return [permission]
