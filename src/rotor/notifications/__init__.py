"""Notifications: where a subscription may send (:mod:`.targets`) and the sender that
delivers the outbox (:mod:`.sender`), signed as the Standard Webhooks spec describes."""
