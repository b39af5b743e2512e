"""Subscriptions derived from what a service handles and the topic registry.

A service declares `handlers = {EventClass: fn}`; it reads every topic on which the
registry lists it as a consumer, with the handlers of that topic's events. At start-up the
two must agree: a handled event no topic it reads carries, or a topic it is listed on whose
events it ignores, is a wiring error, named in full, and the service does not start.
"""

from __future__ import annotations

from collections.abc import Mapping

from contracts.common import Contract
from contracts.registry import short_name
from contracts.topics import SERVICES, topics_consumed_by
from services.common.messaging.consumer import Answer, Handler, Subscription, Verify


class WiringError(RuntimeError):
    pass


def subscriptions_for(service: str, handlers: Mapping[type[Contract], Handler],
                      answers: Mapping[str, Answer] | None = None,
                      verifiers: Mapping[str, Verify] | None = None) -> list[Subscription]:
    answers = answers or {}
    verifiers = verifiers or {}
    by_type = {cls.event_type: fn for cls, fn in handlers.items()}  # type: ignore[attr-defined]
    reads = topics_consumed_by(service)
    problems = []
    subscriptions = []
    for topic in reads:
        mine = {t: fn for t, fn in by_type.items() if t in topic.events}
        if not mine:
            problems.append(
                f"the registry lists {service} as a reader of {topic.name}, but it handles "
                f"none of its events ({', '.join(map(short_name, topic.events))})")
            continue
        # A topic written from outside (provinces) is not a tolerant reader's: a type
        # nobody here handles is refused, not skipped; and its writers may serialize an
        # event again, so the inbox knows its records by content (inbox.py).
        outside = topic.owner not in SERVICES
        subscriptions.append(Subscription(topic, mine, strict_types=outside,
                                          answer=answers.get(topic.name),
                                          verify=verifiers.get(topic.name),
                                          hash_content=outside))
    carried = {t for topic in reads for t in topic.events}
    problems += [f"{service} handles {short_name(t)}, but no topic the registry lets it read "
                 "carries it" for t in by_type if t not in carried]
    problems += [f"{service} answers refusals on {name}, which it does not read"
                 for name in answers if name not in {t.name for t in reads}]
    problems += [f"{service} verifies writers on {name}, which it does not read"
                 for name in verifiers if name not in {t.name for t in reads}]
    if problems:
        raise WiringError(f"{service}: handlers and contracts/topics.py disagree:\n  - "
                          + "\n  - ".join(problems))
    return subscriptions
