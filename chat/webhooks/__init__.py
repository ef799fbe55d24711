"""Webhooks' rules and data: the subscriptions and their outbox (services, selectors),
the bodies of each format, the signature, the retry schedule and the targets a
delivery may reach. The door that follows answers and posts them is
chat/transports/webhooks/."""
