"""Write (or with --check, compare) the committed JSON Schemas and the AsyncAPI document.

    python -m tools.gen_contracts          # regenerate after changing contracts/
    python -m tools.gen_contracts --check  # exit 1 when the committed files are stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from contracts.specs import asyncapi, event_schemas

ROOT = Path(__file__).resolve().parent.parent / "contracts"


def rendered() -> dict[Path, str]:
    files = {ROOT / "schemas" / f"{name}.json": json.dumps(schema, indent=2, ensure_ascii=False,
                                                           sort_keys=True) + "\n"
             for name, schema in event_schemas().items()}
    files[ROOT / "asyncapi.yaml"] = yaml.safe_dump(asyncapi(), sort_keys=False,
                                                   allow_unicode=True, width=100)
    return files


def stale() -> list[str]:
    return [str(p.relative_to(ROOT.parent)) for p, text in rendered().items()
            if not p.exists() or p.read_text(encoding="utf-8") != text]


def main() -> int:
    if "--check" in sys.argv:
        problems = stale()
        for p in problems:
            print(f"stale: {p} (run: python -m tools.gen_contracts)")
        return 1 if problems else 0
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(rendered())} files under contracts/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
