"""Autogenerate a service's next Alembic revision from its tables module.

    python -m tools.make_migration intake "add postal tracking number"
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path

from alembic import command

from services.common.persistence.migrations import alembic_config, upgrade


def main(service: str, message: str) -> None:
    metadata = importlib.import_module(f"services.{service}.tables").metadata
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'scratch.db'}"
        upgrade(service, url, metadata)  # bring a scratch database to head, then diff
        versions = Path("services") / service / "migrations" / "versions"
        rev_id = f"{len(list(versions.glob('*.py'))) + 1:04d}"
        command.revision(alembic_config(service, url, metadata), message=message,
                         autogenerate=True, rev_id=rev_id)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "change")
