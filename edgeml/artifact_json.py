"""Typed reading of an artifact's JSON object: what a user's file lacks or gets wrong is one EdgeMLError.

edgeml's stages write their results as JSON objects (``metrics.json``, ``benchmark/benchmark.json``, ...);
the report and the typed results read them back through :class:`JsonObject`, so a missing key or a value of
the wrong type is told apart from a bug in the reading code, which raises as itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeml.artifacts import read_json
from edgeml.errors import EdgeMLError


def read_json_object(path: Path) -> "JsonObject | None":
    """``path``'s JSON object, None when nothing exists at ``path``; EdgeMLError naming it when it is not a file
    (a folder in the file's place is not "not produced"), not JSON or not an object."""
    if not path.exists():
        return None
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise EdgeMLError(f"{path} is {kind}; edgeml expects its JSON file there")
    data = read_json(path, path.name)
    if not isinstance(data, dict):
        raise EdgeMLError(f"{path} is not an edgeml artifact: expected a JSON object, found {type(data).__name__}")
    return JsonObject(data, path)


class JsonObject:
    """One JSON object of an artifact, read back through typed accessors.

    A required key the file lacks, or a value of the wrong type, is one EdgeMLError naming the file and the
    key's path (``rows[2].latency_us.p50``): that is the user's file. Code that reads only through these
    accessors never needs to catch TypeError or KeyError, so any it raises is edgeml's own bug. An optional
    key that is absent or null reads as None (an empty object, an empty list).
    """

    def __init__(self, data: dict[str, Any], path: Path, where: str = "") -> None:
        self.data, self.path, self.where = data, path, where

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def keys(self) -> list[str]:
        return list(self.data)

    def raw(self, key: str) -> Any:
        """The value as JSON gave it (None when absent), for display only: ``str()`` of it."""
        return self.data.get(key)

    def number(self, key: str, required: bool = False) -> float | None:
        value = self._value(key, required)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._wrong(key, "a number")
        return float(value)

    def integer(self, key: str, required: bool = False) -> int | None:
        value = self.number(key, required)
        if value is not None and not value.is_integer():
            raise self._wrong(key, "a whole number")
        return None if value is None else int(value)

    def text(self, key: str, required: bool = False) -> str | None:
        """A string, number or true/false as text; None when absent or null and not required."""
        value = self._value(key, required)
        if value is None and not required:
            return None
        if not isinstance(value, (str, int, float, bool)):
            raise self._wrong(key, "a text")
        return str(value)

    def flag(self, key: str) -> bool:
        return bool(self.data.get(key))

    def object(self, key: str, required: bool = False) -> "JsonObject":
        value = self._value(key, required)
        if value is None and not required:
            value = {}
        if not isinstance(value, dict):
            raise self._wrong(key, "an object")
        return JsonObject(value, self.path, f"{self.where}{key}.")

    def objects(self, key: str, required: bool = False) -> list["JsonObject"]:
        items = self._list(key, required)
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise self._wrong(key, "a list of objects", f"{key}[{index}]", item)
        return [JsonObject(item, self.path, f"{self.where}{key}[{index}].") for index, item in enumerate(items)]

    def strings(self, key: str, required: bool = False) -> list[str]:
        items = self._list(key, required)
        for index, item in enumerate(items):
            if not isinstance(item, (str, int, float, bool)):
                raise self._wrong(key, "a list of texts", f"{key}[{index}]", item)
        return [str(item) for item in items]

    def numbers(self, key: str) -> list[float]:
        items = self._list(key, required=False)
        for index, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise self._wrong(key, "a list of numbers", f"{key}[{index}]", item)
        return [float(item) for item in items]

    def integer_rows(self, key: str) -> tuple[tuple[int, ...], ...]:
        """A list of lists of whole numbers (a matrix); () when absent."""
        rows = self._list(key, required=False)
        for index, row in enumerate(rows):
            if not isinstance(row, list) or not all(isinstance(value, int) and not isinstance(value, bool)
                                                    for value in row):
                raise self._wrong(key, "a list of lists of whole numbers", f"{key}[{index}]", row)
        return tuple(tuple(row) for row in rows)

    def _list(self, key: str, required: bool) -> list[Any]:
        value = self._value(key, required)
        if value is None and not required:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return value

    def _value(self, key: str, required: bool) -> Any:
        if required and key not in self.data:
            raise EdgeMLError(f"{self.path} does not have the contents edgeml expects (missing key {self.where}{key})")
        return self.data.get(key)

    def _wrong(self, key: str, expected: str, where: str | None = None, found: Any = None) -> EdgeMLError:
        value = self.data.get(key) if where is None else found
        return EdgeMLError(f"{self.path} does not have the contents edgeml expects ({self.where}{where or key}: "
                           f"expected {expected}, found {_json_type(value)})")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return "a list" if isinstance(value, list) else "an object"
