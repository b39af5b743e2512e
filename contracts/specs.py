"""JSON Schema of every event and the AsyncAPI document, built from the models (pure)."""

from __future__ import annotations

from typing import Any

from contracts.envelope import Envelope
from contracts.portal import PortalStatusUpdate
from contracts.registry import EVENT_TYPES, short_name
from contracts.topics import TOPICS


def event_schemas() -> dict[str, dict[str, Any]]:
    """File name (without .json) -> JSON Schema of the event's data."""
    out: dict[str, dict[str, Any]] = {}
    for event_type, cls in sorted(EVENT_TYPES.items()):
        schema = cls.model_json_schema(mode="validation")
        schema["$id"] = f"urn:{event_type}"
        schema["x-event-type"] = event_type
        out[short_name(event_type)] = schema
    out["envelope"] = Envelope.model_json_schema(mode="validation")
    # Not an event: the body processing POSTs to the national portal (contracts/portal.py).
    portal = PortalStatusUpdate.model_json_schema(mode="validation")
    out["portal.status-update.v1"] = portal | {"$id": "urn:portal.status-update.v1"}
    return out


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in TOPICS:
        refs = {short_name(t): {"$ref": f"#/components/messages/{short_name(t)}"}
                for t in topic.events}
        channels[topic.name] = {
            "address": topic.name,
            "description": topic.description,
            "messages": refs,
            "x-owner": topic.owner,
            "x-key": topic.key,
            "x-partitions": topic.partitions,
            "x-consumers": list(topic.consumers),
            "x-personal-data": topic.personal_data,
            "x-dead-letter": topic.dead_letter,
        }
        operations[f"publish.{topic.name}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{topic.name}"},
            "x-by": topic.owner,
        }
        for event_type in topic.events:
            messages[short_name(event_type)] = {
                "name": event_type,
                "contentType": "application/cloudevents+json",
                "headers": {"type": "object", "properties": {"traceparent": {"type": "string"}}},
                "payload": {"$ref": f"schemas/{short_name(event_type)}.json"},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "National e-one-stop of Vietnam Social Security (Một cửa điện tử tập trung)",
            "version": "1.0.0",
            "description": "Every record is a CloudEvents 1.0 envelope in structured mode "
            "(schemas/envelope.json) whose `data` follows the message payload schema.",
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
