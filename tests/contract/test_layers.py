"""The layers, checked: contracts import nothing of the services; the law and the runtime
never import each other; the runtime names no service; no service imports another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from contracts.topics import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def imports_of(package: str) -> dict[str, set[str]]:
    """module file -> the modules it imports (absolute names)."""
    found: dict[str, set[str]] = {}
    base = ROOT / package.replace(".", "/")
    files = [base.with_suffix(".py")] if base.with_suffix(".py").is_file() else \
        sorted(base.rglob("*.py"))
    assert files, f"no module {package}"
    for path in files:
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{module} imports {name}" for module, names in imports_of(package).items()
            for name in sorted(names) if name.startswith(forbidden)]


def test_contracts_import_no_service() -> None:
    assert offenders("contracts", ("services", "deploy")) == []


def test_the_law_does_not_import_the_runtime_or_a_service() -> None:
    assert offenders("services.law", ("services.common", *(f"services.{s}" for s in SERVICES),
                                      "fastapi", "sqlalchemy", "aiokafka")) == []


def test_the_runtime_does_not_import_the_law_or_a_service() -> None:
    assert offenders("services.common", ("services.law",
                                         *(f"services.{s}" for s in SERVICES))) == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    others = tuple(f"services.{s}" for s in SERVICES if s != service)
    assert offenders(f"services.{service}", others) == []


def test_the_runtime_has_no_import_cycle_through_its_http_edge() -> None:
    """http.py renders errors; it does not know the Runtime that installs it."""
    assert offenders("services.common.http", ("services.common.runtime",)) == []
    assert offenders("services.common.ops", ("services.common.runtime",)) == []


PURE = ("services.common", "fastapi", "starlette", "sqlalchemy", "aiokafka")


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_domain_is_pure(service: str) -> None:
    """A service's domain decides; it reads no database, serves no HTTP, uses no broker."""
    assert offenders(f"services.{service}.domain", PURE) == []


@pytest.mark.parametrize("module", ["services.intake.rules", "services.processing.workflow",
                                    "services.processing.clock"])
def test_other_domain_modules_are_pure(module: str) -> None:
    assert offenders(module, PURE) == []


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_repository_writes_sql(service: str) -> None:
    """Handlers may pass the session along (its type), never build a statement."""
    for module in ("handlers", "api", "app"):
        found = [o for o in offenders(f"services.{service}.{module}", ("sqlalchemy",))
                 if not o.endswith("imports sqlalchemy.ext.asyncio")]
        assert found == [], module
