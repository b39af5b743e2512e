"""Kafka for every service: clients, the batch consumer with its inbox, the outbox and its relay,
dead letters, retries, subscriptions."""
