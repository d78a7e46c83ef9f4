"""Reading the params of ``crowdcode/*`` notifications, in the shapes editors really send.

One parser for every notification, so each accepts the same shapes and names a bad field the same
way. VS Code's extension API serialises its objects with their ``toJSON``: a ``vscode.Range``
becomes ``[start, end]`` and some clients send a position as ``[line, character]``; LSP's own
shapes are objects (``{"start", "end"}``, ``{"line", "character"}``). Both are accepted. A value
that fits neither raises :class:`BadParams` with the path of the field (``ranges[0].start.line``),
which the server logs as one line and goes on.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from crowdcode_sdk.errors import CrowdcodeError

Point = tuple[int, int]
"""``(line, character)``: a client position, in the negotiated encoding."""

E = TypeVar("E", bound=enum.Enum)


class BadParams(CrowdcodeError):
    """A message's parameters do not fit its method (or its positions lie outside the document)."""


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


def field(params: Any, key: str, kind: type, *, optional: bool = False, path: str = "") -> Any:
    """``params[key]`` checked to be a ``kind`` (``None`` when ``optional`` and absent or null)."""
    where = _join(path, key)
    if not isinstance(params, dict):
        raise BadParams(f"{path or 'params'}: expected an object with {key!r}, got {_describe(params)}")
    value = params.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadParams(f"{where}: expected {kind.__name__}, got {_describe(value)}")
    return value


def choice(params: Any, key: str, kind: type[E], *, path: str = "") -> E | None:
    """An optional enum field, by value."""
    value = field(params, key, str, optional=True, path=path)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise BadParams(f"{_join(path, key)}: expected one of {allowed}, got {value!r}") from None


def items(params: Any, key: str, *, path: str = "") -> list[tuple[str, Any]]:
    """A list field as ``(path of the item, item)`` pairs."""
    where = _join(path, key)
    return [(_join(where, i), item) for i, item in enumerate(field(params, key, list, path=path))]


def _count(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadParams(f"{path}: expected int, got {_describe(value)}")
    if value < 0:
        raise BadParams(f"{path}: must be >= 0, got {value}")
    return value


def point(value: Any, path: str) -> Point:
    """A position: ``{"line", "character"}`` or ``[line, character]``."""
    if isinstance(value, dict):
        return _count(value.get("line"), _join(path, "line")), _count(value.get("character"), _join(path, "character"))
    if isinstance(value, list) and len(value) == 2:
        return _count(value[0], _join(path, 0)), _count(value[1], _join(path, 1))
    raise BadParams(f"{path}: expected a position ({{line, character}} or [line, character]), got {_describe(value)}")


def span(value: Any, path: str, first: str = "start", second: str = "end") -> tuple[Point, Point]:
    """A range as ``{first, second}`` or ``[first, second]`` (VS Code's ``Range.toJSON``); a
    selection is the same with ``anchor`` and ``active``."""
    if isinstance(value, dict):
        return point(value.get(first), _join(path, first)), point(value.get(second), _join(path, second))
    if isinstance(value, list) and len(value) == 2:
        return point(value[0], _join(path, 0)), point(value[1], _join(path, 1))
    raise BadParams(f"{path}: expected a range ({{{first}, {second}}} or [{first}, {second}]), got {_describe(value)}")
