"""`python -m services.common.messaging.topics create`: create every registry topic on the broker,
with its partition count (KAFKA_BOOTSTRAP_SERVERS names the broker)."""

from __future__ import annotations

import asyncio
import os
import sys

from contracts.topics import TOPICS
from services.common.messaging.kafka import ensure_topics


async def main(argv: list[str]) -> int:
    if argv[:1] != ["create"]:
        print("usage: python -m services.common.messaging.topics create", file=sys.stderr)
        return 2
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    created = await ensure_topics(bootstrap)
    print(f"{len(TOPICS)} topics in the registry; created {len(created)}: {', '.join(created)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
