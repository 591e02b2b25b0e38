"""The GraphQL schema: types and the thin root Query / Mutation."""

from schema.build import build_schema, export_schema

__all__ = ["build_schema", "export_schema"]
