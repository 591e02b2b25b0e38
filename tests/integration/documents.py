"""GraphQL documents the tests send, as a frontend would."""

ACCOUNT_FIELDS = """
  id provider displayName senderId senderKind dltEntityId clientId authTokenHint baseUrl
  status failure failureMessage trial inboundWebhookUrl verifiedAt lastCheckedAt createdAt
  updatedAt
"""

ADD = f"""
mutation Add($input: AddSmsAccountInput!) {{
  addSmsAccount(input: $input) {{
    account {{ {ACCOUNT_FIELDS} }}
    message
    errors {{ field code message }}
  }}
}}
"""

UPDATE = f"""
mutation Update($id: ID!, $input: UpdateSmsAccountInput!) {{
  updateSmsAccount(id: $id, input: $input) {{
    account {{ {ACCOUNT_FIELDS} }}
    message
    errors {{ field code message }}
  }}
}}
"""

REMOVE = f"""
mutation Remove($id: ID!) {{
  removeSmsAccount(id: $id) {{
    account {{ {ACCOUNT_FIELDS} }}
    message
    errors {{ field code message }}
  }}
}}
"""

VERIFY = f"""
mutation Verify($id: ID!) {{
  verifySmsAccount(id: $id) {{
    account {{ {ACCOUNT_FIELDS} }}
    message
    errors {{ field code message }}
  }}
}}
"""

SET_ENABLED = """
mutation Toggle($enabled: Boolean!) {
  setSmsIntegrationEnabled(enabled: $enabled) { integration { enabled } errors { code } }
}
"""

INTEGRATION = "query { smsIntegration { enabled } }"

ACCOUNTS = f"""
query Accounts {{
  smsAccounts {{
    stats {{ connected verified awaitingAction }}
    nodes {{ {ACCOUNT_FIELDS} }}
  }}
}}
"""

ACCOUNT = f"""
query Account($id: ID!) {{ smsAccount(id: $id) {{ {ACCOUNT_FIELDS} }} }}
"""

SENDERS = """
query Senders { smsSenders { accountId displayName provider senderId senderKind } }
"""

PROVIDERS = """
query Providers {
  smsProviders { provider label fields { name label required secret hint defaultValue } }
}
"""
