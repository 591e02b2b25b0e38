"""Which elements of a GraphQL schema have no description, named by their schema coordinates.

A developer reads the schema in GraphiQL's Docs: every type, field, argument, input field and
enum value there should say what it means. The introspection types (``__Type``…) and the
built-in scalars are GraphQL's own and described by the specification.
"""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    specified_scalar_types,
)


def _said(description: str | None) -> bool:
    return description is not None and description.strip() != ""


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Every element without a description, by coordinate: ``Type``, ``Type.field``,
    ``Type.field(argument:)``, ``Input.field``, ``Enum.VALUE``."""
    missing: list[str] = []
    for name, kind in sorted(schema.type_map.items()):
        if name.startswith("__") or name in specified_scalar_types:
            continue
        if not _said(kind.description):
            missing.append(name)
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in kind.fields.items():
                if not _said(field.description):
                    missing.append(f"{name}.{field_name}")
                missing.extend(
                    f"{name}.{field_name}({argument_name}:)"
                    for argument_name, argument in field.args.items()
                    if not _said(argument.description)
                )
        elif isinstance(kind, GraphQLInputObjectType):
            missing.extend(
                f"{name}.{field_name}"
                for field_name, field in kind.fields.items()
                if not _said(field.description)
            )
        elif isinstance(kind, GraphQLEnumType):
            missing.extend(
                f"{name}.{value_name}"
                for value_name, value in kind.values.items()
                if not _said(value.description)
            )
    return missing
