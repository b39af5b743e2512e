"""The HTTP edge for every service: errors and limits, who may call, rate limits, idempotency
keys, the busy database's 503, /health and /metrics."""
