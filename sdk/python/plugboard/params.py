"""Reading the host's params objects field by field, with errors that name the field.

Owns: the type checks behind every :class:`~plugboard.errors.InvalidParams` (-32602) the SDK
answers, for example ``run: params.job.attempt must be an integer, got "2"``. Unknown fields
are ignored, as the Rust types ignore them.

Must not touch: I/O.
"""

import json
from typing import Any, Dict, Optional

from .errors import InvalidParams

_MISSING = object()


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


class Fields:
    """One params object (or nested object) being read; ``where`` names it in errors."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise InvalidParams(f"{where} must be an object, got {_show(value)}")
        self.value: Dict[str, Any] = value
        self.where = where

    def _get(self, key: str, required: bool) -> Any:
        value = self.value.get(key, _MISSING)
        # serde reads null as absent for optional fields and as a type error for required ones.
        if value is _MISSING or (value is None and not required):
            if required:
                raise InvalidParams(f"{self.where}.{key} is missing")
            return _MISSING
        return value

    def _fail(self, key: str, expected: str, value: Any) -> InvalidParams:
        return InvalidParams(f"{self.where}.{key} must be {expected}, got {_show(value)}")

    def string(self, key: str) -> str:
        """A required string."""
        value = self._get(key, True)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def optional_string(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """An optional string; ``default`` when absent or null."""
        value = self._get(key, False)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def integer(self, key: str) -> int:
        """A required integer (a JSON number without fraction; not a boolean)."""
        value = self._get(key, True)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "an integer", value)
        return value

    def json_value(self, key: str, default: Any = None) -> Any:
        """Any JSON value; ``default`` when absent or null."""
        value = self._get(key, False)
        return default if value is _MISSING else value

    def required_value(self, key: str) -> Any:
        """Any JSON value, which must be present (it may be null)."""
        if key not in self.value:
            raise InvalidParams(f"{self.where}.{key} is missing")
        return self.value[key]

    def nested(self, key: str) -> "Fields":
        """A required nested object."""
        return Fields(self._get(key, True), f"{self.where}.{key}")

    def optional_nested(self, key: str) -> Optional["Fields"]:
        """An optional nested object."""
        value = self._get(key, False)
        return None if value is _MISSING else Fields(value, f"{self.where}.{key}")

    def string_map(self, key: str) -> Dict[str, str]:
        """An object of strings; empty when absent."""
        value = self._get(key, False)
        if value is _MISSING:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._fail(key, "an object of strings", value)
        return dict(value)
