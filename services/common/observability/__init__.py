"""What operators see of every service: logs, traces, metrics, gauges, SQL statistics, and the
masking of personal data in them."""
