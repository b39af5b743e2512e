"""Shared language of the e-one-stop: events, envelope, topics, catalogue schemas. No I/O."""
