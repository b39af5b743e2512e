"""Does a new schema break a consumer of the old one? (pure; used by the contract tests)

Breaking: a removed or renamed field, a new required field, a changed type, a narrowed enum.
Allowed: new optional fields, widened enums, looser constraints.
"""

from __future__ import annotations

from typing import Any


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema.get("$defs", {}).get(name, {})
    return node


def _types(schema: dict[str, Any], node: dict[str, Any]) -> set[str]:
    node = _resolve(schema, node)
    found: set[str] = set()
    if "type" in node:
        found.add(node["type"] if isinstance(node["type"], str) else ",".join(node["type"]))
    for key in ("anyOf", "oneOf"):
        for sub in node.get(key, []):
            found |= _types(schema, sub)
    if "enum" in node or "const" in node:
        found.add("enum")
    if "properties" in node:
        found.add("object")
    return found


def _enum(schema: dict[str, Any], node: dict[str, Any]) -> set[Any] | None:
    node = _resolve(schema, node)
    if "enum" in node:
        return set(node["enum"])
    if "const" in node:
        return {node["const"]}
    values: set[Any] = set()
    for key in ("anyOf", "oneOf"):
        for sub in node.get(key, []):
            sub_values = _enum(schema, sub)
            if sub_values:
                values |= sub_values
    return values or None


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    return _compare(old, old, new, new, path or "$")


def _compare(old_root: dict[str, Any], old: dict[str, Any], new_root: dict[str, Any],
             new: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    old, new = _resolve(old_root, old), _resolve(new_root, new)
    old_types, new_types = _types(old_root, old), _types(new_root, new)
    if old_types and new_types and not old_types <= new_types:
        problems.append(f"{path}: type changed from {sorted(old_types)} to {sorted(new_types)}")
    old_enum, new_enum = _enum(old_root, old), _enum(new_root, new)
    if old_enum is not None and new_enum is not None and not old_enum <= new_enum:
        problems.append(f"{path}: enum narrowed, lost {sorted(map(str, old_enum - new_enum))}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: field removed or renamed")
            continue
        problems += _compare(old_root, old_prop, new_root, new_props[name], f"{path}.{name}")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{path}.{name}: new required field")
    for key in ("items",):
        if key in old and key in new:
            problems += _compare(old_root, old[key], new_root, new[key], f"{path}[]")
    # Union members (e.g. applicant kinds) are compared by position of their object shapes.
    for key in ("anyOf", "oneOf"):
        for i, (o, n) in enumerate(zip(old.get(key, []), new.get(key, []), strict=False)):
            problems += _compare(old_root, o, new_root, n, f"{path}<{i}>")
    return problems
