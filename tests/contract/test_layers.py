"""The layers, checked: contracts import nothing of the services; the law and the runtime
never import each other; the runtime names no service and holds no product rule (the
product's roles, permissions and stationery are given to it); no service imports another;
each service's domain is pure and typed (its aggregates, never a row, in its signatures)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from contracts.topics import SERVICES

ROOT = Path(__file__).resolve().parents[2]
# The use-case modules of a service that splits them by what they serve; the others keep
# one handlers.py.
USE_CASES = {"processing": ("case_events", "officer_actions", "officer_writes",
                            "case_documents", "deadline_monitor", "case_reads",
                            "case_records")}


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


def offenders(package: str, forbidden: tuple[str, ...],
              allowed: tuple[str, ...] = ()) -> list[str]:
    return [f"{module} imports {name}" for module, names in imports_of(package).items()
            for name in sorted(names)
            if name.startswith(forbidden) and not (allowed and name.startswith(allowed))]


def test_contracts_import_no_service() -> None:
    assert offenders("contracts", ("services", "deploy")) == []


def test_the_law_does_not_import_the_runtime_or_a_service() -> None:
    assert offenders("services.law", ("services.common", *(f"services.{s}" for s in SERVICES),
                                      "fastapi", "sqlalchemy", "aiokafka")) == []


def test_the_runtime_does_not_import_the_law_or_a_service() -> None:
    assert offenders("services.common", ("services.law",
                                         *(f"services.{s}" for s in SERVICES))) == []


def test_the_runtime_is_given_the_product_never_imports_it() -> None:
    assert offenders("services.common", ("services.product",)) == []
    assert offenders("services.law", ("services.product",)) == []


def test_the_product_is_data_of_its_own() -> None:
    """Who may do what and what every document prints: no runtime, service or I/O in it."""
    assert offenders("services.product", ("services.common", "services.law", "services.web",
                                          *(f"services.{s}" for s in SERVICES),
                                          "fastapi", "sqlalchemy", "aiokafka",
                                          "reportlab")) == []


def _product_rules_in(path: Path) -> list[str]:
    """Role or permission enums, a table keyed by role, and the state's heading or the
    agency's name written as text (docstrings and comments may still speak of them)."""
    found: list[str] = []
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr)
                  and isinstance(n.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
                w in node.name.lower() for w in ("role", "permission")) and any(
                "enum" in ast.unparse(b).lower() for b in node.bases):
            found.append(f"defines the enum {node.name}")
        elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(
                node.value, ast.Dict | ast.DictComp):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            keyed_by_role = isinstance(node.value, ast.Dict) and any(  # {Role.x: ...}
                isinstance(k, ast.Attribute) and "role" in ast.unparse(k.value).lower()
                for k in node.value.keys)
            if keyed_by_role or any("permission" in ast.unparse(t).lower() for t in targets):
                found.append(f"defines the table {ast.unparse(targets[0])}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            text = node.value.casefold()
            found += [f"prints {word!r}" for word in ("cộng hòa", "độc lập - tự do", "bhxh",
                                                      "bảo hiểm xã hội") if word in text]
    return found


def test_the_runtime_holds_no_roles_permissions_or_letterhead() -> None:
    files = sorted((ROOT / "services" / "common").rglob("*.py"))
    assert files
    assert [f"{path.relative_to(ROOT)} {rule}" for path in files
            for rule in _product_rules_in(path)] == []


def test_the_rules_check_finds_a_table_an_enum_and_a_heading(tmp_path: Path) -> None:
    written = tmp_path / "rules.py"
    written.write_text('''"""Cộng hòa in a docstring is fine."""
from enum import StrEnum


class Role(StrEnum):
    ops = "ops"


GRANTS = {Role.ops: frozenset({"report:read"})}
TITLE = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
''', "utf-8")
    assert _product_rules_in(written) == [
        "defines the enum Role", "defines the table GRANTS", "prints 'cộng hòa'"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    others = tuple(f"services.{s}" for s in SERVICES if s != service)
    assert offenders(f"services.{service}", others) == []


def test_the_runtime_has_no_import_cycle_through_its_http_edge() -> None:
    """http.py renders errors; it does not know the Runtime that installs it."""
    assert offenders("services.common.http.edge", ("services.common.runtime",)) == []
    assert offenders("services.common.http.ops", ("services.common.runtime",)) == []


# The domain modules: each service's decisions, typed (a row is the repository's business).
DOMAIN_MODULES = (*(f"services.{s}.domain" for s in SERVICES), "services.intake.rules",
                  "services.intake.receipt", "services.intake.province_status",
                  "services.intake.dossier", "services.digitization.document_set",
                  "services.processing.workflow", "services.processing.legal_clock",
                  "services.processing.case_record", "services.notification.dossier",
                  "services.notification.message", "services.reporting.facts")
PURE = ("services.common", "fastapi", "starlette", "sqlalchemy", "aiokafka")
# The one error base is pure (no I/O, no framework): a domain raises its kinds.
ERRORS = ("services.common.errors",)


def test_the_error_base_is_pure() -> None:
    assert offenders("services.common.errors", (*PURE, "services.law", "services.product")) \
        == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_domain_is_pure(service: str) -> None:
    """A service's domain decides; it reads no database, serves no HTTP, uses no broker."""
    assert offenders(f"services.{service}.domain", PURE, ERRORS) == []


@pytest.mark.parametrize("module", [m for m in DOMAIN_MODULES if not m.endswith(".domain")])
def test_other_domain_modules_are_pure(module: str) -> None:
    assert offenders(module, PURE, ERRORS) == []


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_repository_writes_sql(service: str) -> None:
    """Handlers may pass the session along (its type), never build a statement."""
    for module in (*USE_CASES.get(service, ("handlers",)), "api", "app"):
        found = [o for o in offenders(f"services.{service}.{module}", ("sqlalchemy",))
                 if not o.endswith("imports sqlalchemy.ext.asyncio")]
        assert found == [], module


UNTYPED = ("dict[str, Any]", "Mapping[str, Any]", "MutableMapping[str, Any]")


def untyped_signatures(path: Path) -> list[str]:
    """Each function whose parameters or return are annotated as a string-keyed bag of
    anything: the shape of a database row or a JSON body, not of a domain type."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        args = node.args
        annotated = [(a.arg, a.annotation) for a in
                     (*args.posonlyargs, *args.args, *args.kwonlyargs,
                      *(x for x in (args.vararg, args.kwarg) if x))]
        annotated.append(("return", node.returns))
        found += [f"{path.name}:{node.lineno} {node.name}({name}: {text})"
                  for name, annotation in annotated if annotation is not None
                  for text in [ast.unparse(annotation)]
                  if any(u in text for u in UNTYPED)]
    return found


def _module_path(module: str) -> Path:
    return (ROOT / module.replace(".", "/")).with_suffix(".py")


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_the_domain_takes_and_returns_types_not_rows(module: str) -> None:
    assert untyped_signatures(_module_path(module)) == []


def test_the_typed_domain_check_finds_a_row_in_a_signature(tmp_path: Path) -> None:
    sample = tmp_path / "domain.py"
    sample.write_text("from typing import Any\n"
                      "def ok(code: str) -> int: ...\n"
                      "def bad(row: dict[str, Any]) -> bool: ...\n"
                      "async def worse(rows: list[dict[str, Any]]) -> None: ...\n"
                      "class C:\n"
                      "    def m(self, *, x: int) -> dict[str, Any]: ...\n", "utf-8")
    assert [f.split(" ")[1] for f in untyped_signatures(sample)] == \
        ["bad(row:", "worse(rows:", "m(return:"]
