"""The Twilio adapter: Twilio's REST API, webhooks and words, behind the SMS provider port."""
