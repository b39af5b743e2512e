"""`python -m services.common.topics create`: create every registry topic on the broker."""

from __future__ import annotations

import asyncio
import sys

from services.common.kafka import _main

if __name__ == "__main__":
    raise SystemExit(asyncio.run(_main(sys.argv[1:])))
