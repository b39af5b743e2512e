"""The law's data files (catalogues, slip form sets) are YAML validated by a pydantic
model; a mistake is reported as `file:line: field: message`, every one at once, so whoever
edits a decree's data sees exactly where."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | str:
    """The line of the deepest node on the error's path (the field, or its parent)."""
    if root is None:
        return "?"
    node, line = root, root.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def where(root: yaml.Node | None, path: Path, loc: tuple[Any, ...], message: str) -> str:
    """One problem as `file:line: field: message`."""
    field = ".".join(str(p) for p in loc)
    return f"{path}:{line_of(root, loc)}: {field + ': ' if field else ''}{message}"


def located(path: Path, problems: list[tuple[tuple[Any, ...], str]]) -> list[str]:
    """Problems found after validation (a parent missing from the file, a loop), each as
    `file:line: field: message`, its line found in the file again."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        root = None
    return [where(root, path, loc, message) for loc, message in problems]


def load_yaml_model(path: Path, model: type[M], error: type[Exception], *, what: str,
                    yaml_path: Callable[[tuple[Any, ...]], tuple[Any, ...]] = lambda loc: loc
                    ) -> M:
    """`path` validated as `model`; anything wrong raises `error` naming file and line.
    `yaml_path` maps a validation error's location to the keys of the file (a tagged
    union's tag, say, is no key of the YAML)."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
        root = yaml.compose(text)
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path}: cannot read the {what}: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [where(root, path, yaml_path(err["loc"]), err["msg"]) for err in exc.errors()]
        raise error(f"invalid {what}\n" + "\n".join(lines)) from exc
