"""Routes parse, authorize, call one use case and render: none maps exceptions itself. Every
refusal of a use case is a `DomainError` (services/common/errors.py) answered once by the
HTTP edge's handler (services/common/http/edge.py), so a route holds no try/except and no
`contextlib.suppress`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUTES = ["intake/api.py", "digitization/api.py", "processing/api.py",
          "notification/api.py", "reporting/api.py", "reporting/dashboard_api.py",
          "common/http/ops.py", "common/runtime.py"]
VERBS = {"get", "post", "put", "patch", "delete", "api_route", "websocket"}


def is_route(fn: ast.AsyncFunctionDef | ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
               and d.func.attr in VERBS for d in fn.decorator_list)


def mappings(source: str, name: str) -> list[str]:
    found = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.AsyncFunctionDef | ast.FunctionDef) or not is_route(fn):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Try | ast.TryStar) and node.handlers:
                found.append(f"{name}:{node.lineno}: {fn.name} catches an exception")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "suppress"):
                found.append(f"{name}:{node.lineno}: {fn.name} suppresses an exception")
    return found


def test_no_route_maps_exceptions_itself() -> None:
    found = [m for rel in ROUTES
             for m in mappings((ROOT / "services" / rel).read_text("utf-8"), rel)]
    assert not found, "routes that map exceptions (raise a DomainError instead):\n" + \
        "\n".join(found)


def test_the_check_finds_a_mapping() -> None:
    source = ("@router.get('/x')\nasync def x():\n    try:\n        f()\n"
              "    except KeyError:\n        raise ApiError(404, [])\n")
    assert mappings(source, "x.py") == ["x.py:3: x catches an exception"]
    assert not mappings("async def helper():\n    try:\n        f()\n"
                        "    except KeyError:\n        pass\n", "y.py")
