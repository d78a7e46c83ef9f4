"""The machinery behind the schema's typed records: validation, decoding and encoding.

A record is a frozen, slotted, keyword-only dataclass whose fields are checked against their type
annotations when it is constructed and when it is decoded from the wire. Field names are
snake_case in Python and camelCase on the wire, as crowd-code 2.0 spells them.

crowd-code's null conventions are kept: a field declared with :func:`nullable` is always written
(``null`` when empty, like ``previousFile``); every other field whose value is ``None`` is omitted.

Why not pydantic or msgspec: events must be encoded with orjson at 100k/s, and the error of a bad
adapter message must name the wire field (``action.diff.rangeOffset: expected an integer``); the
few dozen lines here do both without another dependency on the hot path.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, dataclass_transform

from .errors import SchemaError

R = TypeVar("R", bound="Record")
Convert = Callable[[Any, str], Any]
Encode = Callable[[Any], Any]


class Min:
    """``Annotated`` marker: the integer must be at least ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


NonNegative = typing.Annotated[int, Min(0)]
Positive = typing.Annotated[int, Min(1)]

_KEEP_NULL = "crowdcode.keep_null"


def nullable() -> Any:
    """A field that defaults to ``None`` and is written as ``null`` rather than omitted."""
    return dataclasses.field(default=None, metadata={_KEEP_NULL: True})


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    wire: str
    required: bool
    keep_null: bool
    convert: Convert
    encode: Encode


class Record:
    """Base of every schema record; see the module docstring."""

    __slots__ = ()
    _fields: ClassVar[tuple[_Field, ...]]

    def __post_init__(self) -> None:
        for spec in fields_of(type(self)):
            value = getattr(self, spec.name)
            if value is None:
                if spec.required:
                    raise SchemaError(spec.wire, "is required")
                continue
            converted = spec.convert(value, spec.wire)
            if converted is not value:
                object.__setattr__(self, spec.name, converted)
        self._finish()

    def _finish(self) -> None:
        """Cross-field checks and defaults, run after construction and after decoding."""

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in fields_of(type(self)):
            value = getattr(self, spec.name)
            if value is None:
                if spec.keep_null:
                    out[spec.wire] = None
            else:
                out[spec.wire] = spec.encode(value)
        return out

    @classmethod
    def from_wire(cls, data: Any, path: str = "") -> typing.Self:
        return _record_converter(cls)(data, path)


@dataclass_transform(frozen_default=True, kw_only_default=True)
def record(cls: type[R]) -> type[R]:
    """Declare a schema record: a frozen, slotted, keyword-only, validated dataclass."""
    return dataclasses.dataclass(frozen=True, slots=True, kw_only=True)(cls)  # type: ignore[return-value]


def fields_of(cls: type[Record]) -> tuple[_Field, ...]:
    specs = cls.__dict__.get("_fields_cache")
    if specs is None:
        specs = _compile_fields(cls)
        type.__setattr__(cls, "_fields_cache", specs)
    return specs


def _compile_fields(cls: type[Record]) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    specs = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        convert, encode = _codec(hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        specs.append(_Field(f.name, camel(f.name), required, bool(f.metadata.get(_KEEP_NULL)), convert, encode))
    # Evidence explains the rest of the action, so it reads best last.
    specs.sort(key=lambda s: s.name == "evidence")
    return tuple(specs)


def _identity(value: Any) -> Any:
    return value


def _codec(tp: Any) -> tuple[Convert, Encode]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *marks = typing.get_args(tp)
        convert, encode = _codec(base)
        minimum = next((m.value for m in marks if isinstance(m, Min)), None)
        if minimum is None:
            return convert, encode

        def bounded(value: Any, path: str) -> Any:
            value = convert(value, path)
            if value < minimum:
                raise SchemaError(path, f"must be >= {minimum}, got {value}")
            return value

        return bounded, encode
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        return _codec(options[0])
    if origin is list:
        (item,) = typing.get_args(tp)
        convert_item, encode_item = _codec(item)

        def convert_list(value: Any, path: str) -> Any:
            if not isinstance(value, (list, tuple)):
                raise SchemaError(path, f"expected a list, got {_describe(value)}")
            return [convert_item(v, f"{path}[{i}]") for i, v in enumerate(value)]

        return convert_list, lambda value: [encode_item(v) for v in value]
    if tp is bool:
        return _scalar(lambda v: type(v) is bool, "a boolean"), _identity
    if tp is int:
        return _scalar(lambda v: type(v) is int, "an integer"), _identity
    if tp is float:
        return _scalar(lambda v: type(v) in (int, float), "a number"), _identity
    if tp is str:
        return _scalar(lambda v: type(v) is str, "a string"), _identity
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_converter(tp), lambda value: value.value
    if isinstance(tp, type) and issubclass(tp, Record):
        return _record_converter(tp), lambda value: value.to_wire()
    raise TypeError(f"unsupported schema type {tp!r}")


def _scalar(accepts: Callable[[Any], bool], what: str) -> Convert:
    def convert(value: Any, path: str) -> Any:
        if not accepts(value):
            raise SchemaError(path, f"expected {what}, got {_describe(value)}")
        return value

    return convert


def _enum_converter(enum_type: type[enum.Enum]) -> Convert:
    allowed = ", ".join(repr(m.value) for m in enum_type)

    def convert(value: Any, path: str) -> Any:
        if isinstance(value, enum_type):
            return value
        try:
            return enum_type(value)
        except (ValueError, TypeError):
            raise SchemaError(path, f"expected one of {allowed}, got {_describe(value)}") from None

    return convert


def _record_converter(cls: type[R]) -> Callable[[Any, str], R]:
    def convert(value: Any, path: str) -> R:
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected an object, got {_describe(value)}")
        specs = fields_of(cls)
        known = {s.wire for s in specs}
        for key in value:
            if key not in known:
                raise SchemaError(_join(path, str(key)), "unknown field")
        obj = object.__new__(cls)
        for spec in specs:
            raw = value.get(spec.wire)
            where = _join(path, spec.wire)
            if raw is None:
                if spec.required:
                    raise SchemaError(where, "is required")
                object.__setattr__(obj, spec.name, None)
            else:
                object.__setattr__(obj, spec.name, spec.convert(raw, where))
        obj._finish()
        return obj

    return convert
