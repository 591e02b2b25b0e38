"""Every element of the schema says, in GraphiQL's Docs, what it means (issue 14, item 8)."""

from __future__ import annotations

import graphql

from resolvers.permissions import OPERATIONS
from schema import build_schema
from schema.permissions import who_may
from tests.schema_docs import undescribed

# One of each kind of element, described and not; a blank description says nothing.
SAMPLE = '''
"""Described."""
type Query {
  """Described."""
  told("""Described.""" id: ID, silent: Int): Pick
  silent(
    """Described."""
    input: Form
  ): Pick
  blank: Shape
}

type Silent {
  """Described."""
  name: String
}

"""   """
interface Shape {
  side: Int
}

"""Described."""
union Any = Silent

union Both = Silent

scalar Stamp

"""Described."""
input Form {
  """Described."""
  told: String
  silent: Stamp
}

"""Described."""
enum Pick {
  """Described."""
  TOLD
  SILENT
}
'''


def test_the_check_names_each_undescribed_element_by_its_coordinate() -> None:
    sample = graphql.build_schema(SAMPLE)

    assert undescribed(sample) == [
        "Both",
        "Form.silent",
        "Pick.SILENT",
        "Query.told(silent:)",
        "Query.silent",
        "Query.blank",
        "Shape",
        "Shape.side",
        "Silent",
        "Stamp",
    ]


def test_every_type_field_argument_input_field_and_enum_value_is_described() -> None:
    missing = undescribed(build_schema()._schema)

    assert not missing, (
        "Describe these schema elements (description= in their Strawberry definitions; enum "
        "values in schema/types.py):\n  " + "\n  ".join(missing)
    )


def test_every_root_field_says_which_keys_may_call_it() -> None:
    schema = build_schema()._schema
    roots = [schema.query_type, schema.mutation_type, schema.subscription_type]
    silent = [
        f"{root.name}.{name}"
        for root in roots
        if root is not None
        for name, field in root.fields.items()
        if name not in OPERATIONS or who_may(name) not in (field.description or "")
    ]

    assert not silent, (
        "End these root fields' descriptions with who_may(<field>) (and name each in "
        "resolvers/permissions.py's OPERATIONS):\n  " + "\n  ".join(silent)
    )
