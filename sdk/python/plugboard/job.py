"""What a ``run`` request carries: the job, its trigger, its config and payload, as typed values.

Owns: :class:`RunParams` and its parts, read from the wire with
:class:`~plugboard.params.Fields` (wire names as in ``methods.rs``: ``maxAttempts``,
``fireTime``, ``type``).

Must not touch: I/O.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .errors import InvalidParams
from .params import Fields

TRIGGER_KINDS = ("schedule", "event", "manual")


@dataclass(frozen=True)
class JobInfo:
    """The job a run belongs to."""

    id: int
    attempt: int
    """This attempt, from 1."""
    max_attempts: int
    """The last attempt there will be."""
    deadline: Optional[str] = None
    """When the host stops the attempt (RFC 3339), if it has a timeout."""

    @property
    def is_last_attempt(self) -> bool:
        """True when a failure now fails the job for good."""
        return self.attempt >= self.max_attempts


@dataclass(frozen=True)
class Event:
    """An event that triggered a run."""

    id: str
    type: str
    payload: Any = None


@dataclass(frozen=True)
class Trigger:
    """What started a run: ``kind`` is ``schedule``, ``event`` or ``manual``."""

    kind: str
    event: Optional[Event] = None
    """The event, when ``kind`` is ``event``."""
    fire_time: Optional[str] = None
    """The scheduled time (RFC 3339), when ``kind`` is ``schedule``."""


@dataclass(frozen=True)
class ConfigInfo:
    """The config a run uses; ``values`` are valid against the plugin's config schema."""

    id: str
    name: str
    values: Any = field(default_factory=dict)


@dataclass(frozen=True)
class RunParams:
    """Params of ``run``. ``raw`` is the params object as received."""

    job: JobInfo
    trigger: Trigger
    tenant: Optional[str]
    config: Optional[ConfigInfo]
    payload: Any
    raw: Dict[str, Any]


def _trigger(fields: Fields) -> Trigger:
    kind = fields.string("kind")
    if kind not in TRIGGER_KINDS:
        raise InvalidParams(
            f"{fields.where}.kind must be one of {', '.join(TRIGGER_KINDS)}, got {kind!r}"
        )
    event_fields = fields.optional_nested("event")
    event = None
    if event_fields is not None:
        event = Event(
            id=event_fields.string("id"),
            type=event_fields.string("type"),
            payload=event_fields.json_value("payload"),
        )
    return Trigger(kind=kind, event=event, fire_time=fields.optional_string("fireTime"))


def read_run_params(params: Any) -> RunParams:
    """Reads the params of ``run``; raises :class:`InvalidParams` naming the bad field."""
    fields = Fields(params, "run: params")
    job_fields = fields.nested("job")
    job = JobInfo(
        id=job_fields.integer("id"),
        attempt=job_fields.integer("attempt"),
        max_attempts=job_fields.integer("maxAttempts"),
        deadline=job_fields.optional_string("deadline"),
    )
    config_fields = fields.optional_nested("config")
    config = None
    if config_fields is not None:
        config = ConfigInfo(
            id=config_fields.string("id"),
            name=config_fields.string("name"),
            values=config_fields.json_value("values", {}),
        )
    return RunParams(
        job=job,
        trigger=_trigger(fields.nested("trigger")),
        tenant=fields.optional_string("tenant"),
        config=config,
        payload=fields.json_value("payload"),
        raw=fields.value,
    )
