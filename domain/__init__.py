"""The product's vocabulary and its pure rules: enums, read-only views, the account's state machine.

Everything else may import this package; it imports nothing of ours. Storage types its columns
with these enums, each provider adapter translates its vendor's words into them, the use cases
speak them, and the GraphQL layer renders them under their GraphQL names.
"""
