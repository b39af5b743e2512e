"""What `docker compose` does to docker-compose.yml before it starts anything, without Docker:
read the project's `.env`, substitute variables, and say what each service's container gets.

Compose's documented rules (compose-file reference, "Interpolation"; "Syntax for environment
files"): `$VAR` and `${VAR}`; `${VAR:-default}` (unset or empty) and `${VAR-default}`
(unset); `${VAR:?error}` and `${VAR?error}` refuse to start; `${VAR:+alt}` and `${VAR+alt}`;
operands nest; `$$` is a literal `$`; a `$` that starts no name is kept; an unset direct
variable becomes empty. Values are substituted, keys are not. In `.env`: `#` lines and blank
lines are skipped, `export ` may lead, unquoted values end at ` #` and are trimmed,
single-quoted ones are literal (`\\'` escapes a quote), double-quoted ones take `\\n \\r \\t
\\\\ \\"` and interpolation, and may span lines; the shell's environment wins over `.env`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
# Stands for an escaped `\$` in a double-quoted .env value until interpolation is done.
_LITERAL_DOLLAR = "\x00"


class InterpolationError(ValueError):
    """A value compose would refuse: a required variable without a value, or a malformed
    `${...}`."""

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """`text` with every variable of `env` substituted as compose substitutes it."""
    out, i = [], 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        nxt = text[dollar + 1:dollar + 2]
        if nxt == "$":
            out.append("$")
            i = dollar + 2
        elif nxt == "{":
            end = _closing(text, dollar + 2)
            out.append(_braced(text[dollar + 2:end], env))
            i = end + 1
        elif (name := _NAME.match(text, dollar + 1)) is not None:
            out.append(env.get(name.group(), ""))
            i = name.end()
        else:
            out.append("$")
            i = dollar + 1
    return "".join(out)


def _closing(text: str, start: int) -> int:
    """Index of the `}` closing a `${` whose body starts at `start` (nested `${` counted,
    `$$` skipped)."""
    depth, i = 1, start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"invalid interpolation format: unclosed ${{ in {text!r}")


def _braced(body: str, env: Mapping[str, str]) -> str:
    name = _NAME.match(body)
    if name is None:
        raise InterpolationError(f"invalid interpolation format: ${{{body}}}")
    var, rest = name.group(), body[name.end():]
    if not rest:
        return env.get(var, "")
    op = next((o for o in _OPERATORS if rest.startswith(o)), None)
    if op is None:
        raise InterpolationError(f"invalid interpolation format: ${{{body}}} "
                                 "(only :- - :? ? :+ + are supported)", var)
    operand = rest[len(op):]
    value = env.get(var)
    present = value is not None and (value != "" or not op.startswith(":"))
    if op.endswith("-"):
        return value if present and value is not None else interpolate(operand, env)
    if op.endswith("+"):
        return interpolate(operand, env) if present else ""
    if present and value is not None:
        return value
    raise InterpolationError(
        f"required variable {var} is missing a value: {interpolate(operand, env)}", var)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """Every string value of a parsed compose document substituted; keys kept."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env) for v in node]
    return node


def missing_variables(node: Any, env: Mapping[str, str]) -> dict[str, str]:
    """Each required variable compose would stop at, with its message: every one, where
    compose names the first it meets."""
    found: dict[str, str] = {}
    if isinstance(node, str):
        masked = dict(env)
        while True:
            try:
                interpolate(node, masked)
                break
            except InterpolationError as exc:
                if exc.variable is None or exc.variable in found:
                    raise
                found[exc.variable] = str(exc)
                masked[exc.variable] = "set"  # look past it for the next one
    elif isinstance(node, dict):
        for v in node.values():
            found.update(missing_variables(v, env))
    elif isinstance(node, list):
        for v in node:
            found.update(missing_variables(v, env))
    return found


# --- the .env file -----------------------------------------------------------------------


def parse_env_file(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`.env` as compose reads it; `environ` (the shell's) serves interpolation in it."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, eq, raw = line.partition("=")
        key = key.strip()
        if not eq or not _NAME.fullmatch(key):
            raise ValueError(f".env line {i}: want KEY=VALUE, got {line[:40]!r}")
        raw = raw.lstrip()
        scope = {**(environ or {}), **values}
        if raw[:1] in ("'", '"'):
            quote, body = raw[0], raw[1:]
            while _unescaped_quote(body, quote) < 0 and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            end = _unescaped_quote(body, quote)
            if end < 0:
                raise ValueError(f".env: {key}'s value has no closing {quote}")
            content = body[:end]
            if quote == "'":
                values[key] = content.replace("\\'", "'")
            else:
                values[key] = interpolate(_unescape(content), scope).replace(_LITERAL_DOLLAR, "$")
        else:
            value = re.split(r"\s#", raw, maxsplit=1)[0].strip()
            values[key] = interpolate(value, scope)
    return values


def _unescaped_quote(text: str, quote: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def _unescape(text: str) -> str:
    """Escapes of a double-quoted value: `\\n \\r \\t`; `\\$` is a literal `$`; any
    other escaped character stands for itself (`\\\\`, `\\"`)."""

    def one(m: re.Match[str]) -> str:
        c = m.group(1)
        return _LITERAL_DOLLAR if c == "$" else _ESCAPES.get(c, c)

    return re.sub(r"\\(.)", one, text, flags=re.S)


def read_env_file(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    return parse_env_file(path.read_text(encoding="utf-8"), environ) if path.exists() else {}


# --- the project -------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool


@dataclass
class Project:
    """docker-compose.yml as `docker compose up` would run it from `directory` (where its
    `.env` and relative bind mounts are)."""

    document: dict[str, Any]
    directory: Path

    @classmethod
    def load(cls, compose_file: Path, directory: Path | None = None,
             environ: Mapping[str, str] | None = None) -> Project:
        """Substituted with `directory/.env` under `environ` (the shell wins); raises
        InterpolationError naming the first required variable without a value."""
        directory = directory or compose_file.parent
        raw = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
        return cls(interpolate_tree(raw, variables(directory, environ)), directory)

    def service(self, name: str) -> dict[str, Any]:
        return dict(self.document["services"][name])

    def environment(self, name: str) -> dict[str, str]:
        """What the service's container gets from `environment:` (map or list form)."""
        env = self.service(name).get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env if "=" in item)
        return {str(k): _scalar(v) for k, v in env.items() if v is not None}

    def mounts(self, name: str) -> list[Mount]:
        """The service's bind mounts (named volumes left out), sources resolved."""
        found = []
        for entry in self.service(name).get("volumes") or []:
            if isinstance(entry, dict):
                if entry.get("type") != "bind":
                    continue
                source, target = str(entry["source"]), str(entry["target"])
                read_only = bool(entry.get("read_only"))
            else:
                source, target, *mode = str(entry).split(":")
                if not source.startswith((".", "/", "~")):
                    continue
                read_only = "ro" in ",".join(mode).split(",")
            found.append(Mount((self.directory / Path(source).expanduser()).resolve(),
                               target, read_only))
        return found

    def host_path(self, name: str, container_path: str) -> Path | None:
        """Where a path inside the service's container is on the host, through its bind
        mounts (the deepest one that holds it); None when no mount holds it."""
        best: Mount | None = None
        for m in self.mounts(name):
            if (container_path == m.target or container_path.startswith(m.target.rstrip("/")
                                                                         + "/")) and (
                    best is None or len(m.target) > len(best.target)):
                best = m
        if best is None:
            return None
        rest = container_path[len(best.target):].lstrip("/")
        return best.source / rest if rest else best.source


def variables(directory: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values compose substitutes: the project's `.env`, under the shell's environment."""
    shell = dict(environ or {})
    return {**read_env_file(directory / ".env", shell), **shell}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
