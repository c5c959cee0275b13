"""Config checks: what ``validate_config`` and ``test_config`` return, and their wire form.

Owns: :class:`ConfigProblem`, :class:`ConfigTestResult`, reading ``config/validate`` and
``config/test`` params, and turning a handler's return value into the protocol's
``{valid, errors}`` and ``{ok, message, details?}`` results.

Must not touch: I/O.
"""

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Tuple, Union

from .params import Fields


@dataclass(frozen=True)
class ConfigProblem:
    """One problem with a config's values: ``path`` is a JSON Pointer such as ``/url``."""

    path: str
    message: str


@dataclass(frozen=True)
class ConfigTestResult:
    """The outcome of ``test_config``: ``ok``, a sentence for a person, optional details."""

    ok: bool
    message: str
    details: Optional[Any] = None


ValidateReturn = Optional[Iterable[Union[ConfigProblem, Dict[str, str]]]]
"""What ``validate_config`` returns: the problems found; ``None`` or empty means valid."""


def read_config_params(method: str, params: Any) -> Tuple[Optional[str], Any]:
    """The ``(tenant, values)`` of ``config/validate`` or ``config/test``."""
    fields = Fields(params, f"{method}: params")
    return fields.optional_string("tenant"), fields.required_value("values")


def validate_result(returned: ValidateReturn) -> Dict[str, Any]:
    """The ``config/validate`` result for what the handler returned."""
    errors = []
    for problem in returned or ():
        if isinstance(problem, ConfigProblem):
            errors.append({"path": problem.path, "message": problem.message})
        elif isinstance(problem, dict) and {"path", "message"} <= problem.keys():
            errors.append({"path": str(problem["path"]), "message": str(problem["message"])})
        else:
            raise TypeError(
                "validate_config must return ConfigProblem values (or {'path', 'message'} "
                f"dicts), got {problem!r}"
            )
    return {"valid": not errors, "errors": errors}


def config_test_result(returned: Union[ConfigTestResult, Dict[str, Any]]) -> Dict[str, Any]:
    """The ``config/test`` result for what the handler returned."""
    if isinstance(returned, dict) and "ok" in returned:
        returned = ConfigTestResult(
            bool(returned["ok"]), str(returned.get("message", "")), returned.get("details")
        )
    if not isinstance(returned, ConfigTestResult):
        raise TypeError(f"test_config must return a ConfigTestResult, got {returned!r}")
    result: Dict[str, Any] = {"ok": returned.ok, "message": returned.message}
    if returned.details is not None:
        result["details"] = returned.details
    return result
