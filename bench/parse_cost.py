"""What one parse of a record costs with pydantic and what it would cost with msgspec, per
event type of the contracts (a micro-benchmark: is "one parse, typed to the end" worth
msgspec, and what would a switch have to keep).

Every consumed record is parsed by pydantic (`typed_inbound(...).model_validate_json`, in
`BatchConsumer._parse`) and written again for the inbox's content hash (`content_hash`:
`to_json(exclude_defaults=True)`); every emitted event is written once more (`encode`).
This builds msgspec Structs from the same pydantic contracts (`struct_of`: the contracts stay
the one source of the schemas; nothing is written by hand) and times both on every example
in contracts/examples, beside three checks that say what a switch would have to keep:
- `decodes`: msgspec takes the example (the generated types are complete enough);
- `same_data`: it reads the same values as pydantic does (compared as JSON builtins);
- `same_hash`: its encoding is byte for byte the one `content_hash` hashes, so the inbox rows
  recorded before a switch would still recognise a redelivery.
Nothing is asserted; the figures and the differences are printed. The checks the contracts
add to the types (contracts/common.py `Timestamp`: ISO text only, years 2000..2100, a
pattern pydantic-core checks when it reads JSON; the envelope's type, a pattern; its time
turned to UTC, the one Python validator a record still meets) are not in the generated types:
msgspec's JSON decoder takes only RFC 3339 text for a datetime, the rest would need checks
of its own, and the timings here leave them out.

    python -m bench.parse_cost [--rounds N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import json
import types
import typing
import uuid
from pathlib import Path
from typing import Any

import msgspec
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bench.inbox_hash import per_call_us
from contracts.envelope import InboundEnvelope, typed_inbound
from contracts.registry import EVENT_TYPES
from services.common.messaging.inbox import content_hash

EXAMPLES = Path(__file__).resolve().parents[1] / "contracts" / "examples"
_STRUCTS: dict[type[BaseModel], type[msgspec.Struct]] = {}


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    """pydantic's constraints (annotated-types' MaxLen, Ge...) as msgspec.Meta's keywords."""
    return {name: value for item in metadata
            for name in ("min_length", "max_length", "ge", "gt", "le", "lt", "pattern")
            if (value := getattr(item, name, None)) is not None}


def _type_of(annotation: Any, metadata: list[Any] = ()) -> Any:  # type: ignore[assignment]
    """The msgspec type of a pydantic annotation (with its field's constraints)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        more: list[Any] = []
        for item in extra:
            more.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            if isinstance(item, FieldInfo) and item.discriminator:
                return _tagged(inner)
        return _type_of(inner, [*metadata, *more])
    meta = _constraints(list(metadata))
    if annotation is AwareDatetime:
        return typing.Annotated[dt.datetime, msgspec.Meta(tz=True)]
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        if all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
            return _tagged(annotation)
        # A field's constraints are its value's: `str | None` bounds the text, not None.
        return typing.Union[tuple(  # noqa: UP007
            m if m is type(None) else _type_of(m, metadata) for m in members)]
    if origin is list:
        (item,) = typing.get_args(annotation)
        kind: Any = list[_type_of(item)]  # type: ignore[misc]
    elif origin is dict:
        kind = dict[str, Any]
    elif origin is typing.Literal:
        kind = annotation
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        kind = struct_of(annotation)
    elif (isinstance(annotation, type) and issubclass(
            annotation, str | int | float | bool | enum.Enum | uuid.UUID | dt.datetime | dt.date
    )) or annotation in (Any, type(None)):
        kind = annotation
    else:
        raise TypeError(f"no msgspec type for {annotation!r}")
    return typing.Annotated[kind, msgspec.Meta(**meta)] if meta else kind


def _tagged(union: Any) -> Any:
    """A pydantic union of models told apart by a one-value Literal field (`kind`): msgspec's
    tagged union of their Structs, the field become the tag."""
    members = typing.get_args(union)
    tags = {m: next(name for name, f in m.model_fields.items()
                    if typing.get_origin(f.annotation) is typing.Literal
                    and len(typing.get_args(f.annotation)) == 1) for m in members}
    return typing.Union[tuple(  # noqa: UP007
        struct_of(m, tag_field=field, tag=typing.get_args(m.model_fields[field].annotation)[0])
        for m, field in tags.items())]


def struct_of(model: type[BaseModel], tag_field: str | None = None,
              tag: str | None = None) -> type[msgspec.Struct]:
    """A msgspec Struct with `model`'s fields in its order, their types, constraints and
    defaults; unknown fields ignored (the contracts' tolerant reader), defaults left out
    when written (as `content_hash` leaves them)."""
    if model in _STRUCTS:
        return _STRUCTS[model]
    fields: list[tuple[str, Any, Any]] = []
    for name, info in model.model_fields.items():
        if name == tag_field:
            continue
        kind = _type_of(info.annotation, info.metadata)
        if info.default_factory is not None:
            fields.append((name, kind, msgspec.field(default_factory=info.default_factory)))
        elif info.default is not PydanticUndefined:
            default = info.default
            fields.append((name, kind, msgspec.field(default_factory=lambda d=default: d)
                           if isinstance(default, list | dict) else default))
        else:
            fields.append((name, kind, msgspec.NODEFAULT))
    options: dict[str, Any] = {"kw_only": True, "omit_defaults": True}
    if tag_field is not None:
        options.update(tag_field=tag_field, tag=tag)
    struct = msgspec.defstruct(model.__name__, [
        (n, k) if d is msgspec.NODEFAULT else (n, k, d) for n, k, d in fields], **options)
    _STRUCTS[model] = struct
    return struct


def _examples() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(EXAMPLES.glob("*.json")):
        body = json.loads(path.read_text("utf-8"))
        if body.get("type") in EVENT_TYPES:  # an envelope of a registered event
            out.append((path.stem, json.dumps(body, ensure_ascii=False,
                                              separators=(",", ":")).encode()))
    return out


def _plain(node: Any) -> Any:
    """A decoded Struct as pydantic's `model_dump` has a model: every field (defaults too),
    a tagged union's tag among them."""
    if isinstance(node, msgspec.Struct):
        config = node.__struct_config__
        out = {} if config.tag_field is None else {config.tag_field: config.tag}
        return out | {name: _plain(getattr(node, name)) for name in node.__struct_fields__}
    return [_plain(v) for v in node] if isinstance(node, list) else node


# The envelope's text defaults. msgspec leaves a field out of what it writes only when it
# holds its default object itself (an identity test), so a decoded "1.0" is written; pydantic
# compares values. Given the default object back, the two write the same.
_ENVELOPE_DEFAULTS = {name: info.default for name, info in InboundEnvelope.model_fields.items()
                      if isinstance(info.default, str)}


def _decode(decoder: msgspec.json.Decoder[Any], raw: bytes) -> Any:
    """The envelope as a consumer would hold it: its time in UTC, as the envelope's own
    validator has it (the contracts' other Python checks are left out, see above), and its
    text defaults as `_ENVELOPE_DEFAULTS` says."""
    envelope = decoder.decode(raw)
    envelope.time = envelope.time.astimezone(dt.UTC)
    for name, default in _ENVELOPE_DEFAULTS.items():
        if getattr(envelope, name) == default:
            setattr(envelope, name, default)
    return envelope


def measure(rounds: int = 5_000) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, raw in _examples():
        model = typed_inbound(EVENT_TYPES[json.loads(raw)["type"]])
        typed = model.model_validate_json(raw)
        canonical = typed.__pydantic_serializer__.to_json(typed, exclude_defaults=True)
        row: dict[str, Any] = {
            "bytes": len(raw),
            "pydantic_parse_us": per_call_us(lambda m=model, r=raw: m.model_validate_json(r),
                                              rounds),
            "pydantic_hash_us": per_call_us(lambda t=typed: content_hash(t), rounds)}
        try:
            decoder = msgspec.json.Decoder(struct_of(model))
            decoded = _decode(decoder, raw)
        except (TypeError, msgspec.ValidationError) as exc:
            row.update(decodes=False, why=str(exc)[:200])
            out[name] = row
            continue
        encoder = msgspec.json.Encoder()
        row.update(
            decodes=True,
            msgspec_parse_us=per_call_us(lambda d=decoder, r=raw: _decode(d, r), rounds),
            msgspec_hash_us=per_call_us(lambda d=decoded: msgspec.json.encode(d), rounds),
            same_data=_plain(decoded) == typed.model_dump(),
            same_hash=encoder.encode(decoded) == canonical)
        if not row["same_hash"]:  # where the two first part, with some context
            ours = encoder.encode(decoded)
            at = next((i for i, (a, b) in enumerate(zip(canonical, ours, strict=False))
                       if a != b), min(len(canonical), len(ours)))
            row["pydantic_writes"] = canonical[max(0, at - 40):at + 60].decode("utf-8", "replace")
            row["msgspec_writes"] = ours[max(0, at - 40):at + 60].decode("utf-8", "replace")
        out[name] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5_000)
    rows = measure(parser.parse_args().rounds)
    print(f"{'example':32s} {'bytes':>5s}  pydantic parse+hash µs  msgspec parse+hash µs  "
          "same data/hash")
    totals = [0.0, 0.0]
    for name, r in rows.items():
        if not r["decodes"]:
            print(f"{name:32s} {r['bytes']:5d}  {r['pydantic_parse_us']:6.2f} + "
                  f"{r['pydantic_hash_us']:5.2f}   msgspec refused: {r['why']}")
            continue
        totals[0] += r["pydantic_parse_us"] + r["pydantic_hash_us"]
        totals[1] += r["msgspec_parse_us"] + r["msgspec_hash_us"]
        print(f"{name:32s} {r['bytes']:5d}  {r['pydantic_parse_us']:6.2f} + "
              f"{r['pydantic_hash_us']:5.2f}          {r['msgspec_parse_us']:6.2f} + "
              f"{r['msgspec_hash_us']:5.2f}         {r['same_data']!s:5s}/{r['same_hash']!s}")
    decoded = sum(r["decodes"] for r in rows.values())
    print(f"{decoded} of {len(rows)} examples decoded by the generated types; over those, "
          f"pydantic {totals[0]:.1f} µs, msgspec {totals[1]:.1f} µs "
          f"({totals[0] / max(totals[1], 1e-9):.1f}x)")
    for name, r in rows.items():
        if r["decodes"] and not r["same_hash"]:
            print(f"  {name}: pydantic hashes …{r['pydantic_writes']}…\n"
                  f"  {' ' * len(name)}  msgspec writes  …{r['msgspec_writes']}…")


if __name__ == "__main__":
    main()
