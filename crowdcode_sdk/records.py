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
    encode: Encode | None
    """``None`` when the value is written as it is (scalars, enums: orjson writes both)."""
    exact: type | None
    """A value of exactly this type (and >= ``minimum``) needs no conversion: the hot path."""
    minimum: int | None


class Record:
    """Base of every schema record; see the module docstring."""

    __slots__ = ()
    _fields: ClassVar[tuple[_Field, ...]]

    def __post_init__(self) -> None:
        _methods(type(self)).validate(self)  # replaced per class by @record with generated code

    def _finish(self) -> None:
        """Cross-field checks and defaults, run after construction and after decoding."""

    def to_wire(self) -> dict[str, Any]:
        return _methods(type(self)).to_wire(self)

    def _convert_field(self, spec: _Field) -> None:
        """The slow path of validation: convert (e.g. a str to its enum) or raise SchemaError."""
        value = getattr(self, spec.name)
        if value is None:
            if spec.required:
                raise SchemaError(spec.wire, "is required")
            return
        converted = spec.convert(value, spec.wire)
        if converted is not value:
            object.__setattr__(self, spec.name, converted)

    @classmethod
    def from_wire(cls, data: Any, path: str = "") -> typing.Self:
        return _record_converter(cls)(data, path)


@dataclass_transform(frozen_default=True, kw_only_default=True)
def record(cls: type[R]) -> type[R]:
    """Declare a schema record: a frozen, slotted, keyword-only, validated dataclass."""
    cls = dataclasses.dataclass(frozen=True, slots=True, kw_only=True)(cls)
    methods = _methods(cls)
    cls.__post_init__ = methods.validate  # type: ignore[method-assign]
    cls.to_wire = methods.to_wire  # type: ignore[method-assign]
    return cls


def fields_of(cls: type[Record]) -> tuple[_Field, ...]:
    return _methods(cls).fields


@dataclasses.dataclass(frozen=True, slots=True)
class _Methods:
    fields: tuple[_Field, ...]
    validate: Callable[[Any], None]
    to_wire: Callable[[Any], dict[str, Any]]


_METHODS: dict[type, _Methods] = {}


def _methods(cls: type[Record]) -> _Methods:
    try:
        return _METHODS[cls]
    except KeyError:
        methods = _METHODS[cls] = _compile_methods(cls)
        return methods


def _compile_methods(cls: type[Record]) -> _Methods:
    """Generate straight-line validate and to_wire functions for ``cls``, as dataclasses and attrs
    generate ``__init__``: a loop over field specs costs several times more per event, and the
    recorder must sustain 100k events/s. The generated code only tests exact types inline and
    defers everything else (conversion, errors) to the generic :meth:`Record._convert_field`."""
    specs = _compile_fields(cls)
    check = ["def validate(self):"]
    wire = [
        "def to_wire(self):",
        f"    out = {{'kind': {cls.kind!r}}}" if isinstance(getattr(cls, "kind", None), str) else "    out = {}",
    ]
    namespace: dict[str, Any] = {"specs": specs}
    for i, spec in enumerate(specs):
        check.append(f"    v = self.{spec.name}")
        if spec.exact is None:
            check.append(f"    self._convert_field(specs[{i}])")
        else:
            namespace[f"t{i}"] = spec.exact
            bad = f"type(v) is not t{i}"
            if spec.exact is int:  # JSON consumers need 64-bit integers
                bad += f" or not {INT_MIN if spec.minimum is None else spec.minimum} <= v <= {INT_MAX}"
            if not spec.required:
                bad = f"v is not None and ({bad})"
            check.append(f"    if {bad}: self._convert_field(specs[{i}])")
        if spec.encode is None:
            value = "v"
        elif spec.exact is not None:  # a nested record
            value = "v.to_wire()"
        else:
            value = f"e{i}(v)"
            namespace[f"e{i}"] = spec.encode
        wire.append(f"    v = self.{spec.name}")
        if spec.keep_null:
            wire.append(f"    out[{spec.wire!r}] = None if v is None else {value}")
        else:
            wire.append(f"    if v is not None: out[{spec.wire!r}] = {value}")
    check.append("    self._finish()")
    wire.append("    return out")
    exec("\n".join(check) + "\n\n" + "\n".join(wire), namespace)
    return _Methods(specs, namespace["validate"], namespace["to_wire"])


def _compile_fields(cls: type[Record]) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    specs = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp = hints[f.name]
        convert, encode = _codec(tp)
        exact, minimum = _exact_type(tp)
        if exact is not None and not issubclass(exact, Record):
            encode = None
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        keep_null = bool(f.metadata.get(_KEEP_NULL))
        specs.append(_Field(f.name, camel(f.name), required, keep_null, convert, encode, exact, minimum))
    # Evidence explains the rest of the action, so it reads best last.
    specs.sort(key=lambda s: s.name == "evidence")
    return tuple(specs)


def _exact_type(tp: Any) -> tuple[type | None, int | None]:
    """The plain type behind ``X | None`` and ``Annotated[X, Min(n)]``, if it is not generic."""
    minimum = None
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is typing.Annotated:
        tp, *marks = typing.get_args(tp)
        minimum = next((m.value for m in marks if isinstance(m, Min)), None)
    return (tp, minimum) if isinstance(tp, type) and typing.get_origin(tp) is None else (None, None)


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
        return _integer, _identity
    if tp is float:
        return _scalar(lambda v: type(v) in (int, float), "a number"), _identity
    if tp is str:
        return _scalar(lambda v: type(v) is str, "a string"), _identity
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_converter(tp), lambda value: value.value
    if isinstance(tp, type) and issubclass(tp, Record):
        return _record_converter(tp), lambda value: value.to_wire()
    raise TypeError(f"unsupported schema type {tp!r}")


INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _integer(value: Any, path: str) -> Any:
    if type(value) is not int:
        raise SchemaError(path, f"expected an integer, got {_describe(value)}")
    if not INT_MIN <= value <= INT_MAX:
        raise SchemaError(path, f"does not fit in 64 bits: {_describe(value)}")
    return value


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
