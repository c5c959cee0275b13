"""The handshake: reading ``initialize`` and writing its answer.

Owns: the protocol version check (another version is refused with -32003 and
``data.supported``, as in ``initialize.error-unsupported-version.response.json``) and the
``initialize`` result (``protocolVersion``, ``plugin``, checked ``metadata``).

Must not touch: the connection or the plugin's handlers; the server calls these with what it
read and what ``metadata()`` returned.
"""

from typing import Any, Dict, NamedTuple, Optional

from .errors import UNSUPPORTED_PROTOCOL_VERSION
from .metadata import normalize_metadata
from .params import Fields
from .wire import PROTOCOL_VERSION


class InitializeParams(NamedTuple):
    """What the plugin needs from ``initialize``."""

    protocol_version: int
    data_dir: Optional[str]


def read_initialize_params(params: Any) -> InitializeParams:
    """Reads ``initialize``; raises :class:`~plugboard.InvalidParams` naming the bad field."""
    fields = Fields(params, "initialize: params")
    return InitializeParams(fields.integer("protocolVersion"), fields.optional_string("dataDir"))


def unsupported_version(version: int) -> Optional[Dict[str, Any]]:
    """The error refusing the host's ``version``, or ``None`` when this SDK speaks it."""
    if version == PROTOCOL_VERSION:
        return None
    return {
        "code": UNSUPPORTED_PROTOCOL_VERSION,
        "message": f"this plugin speaks protocol {PROTOCOL_VERSION}; plugboard sent protocol {version}",
        "data": {"supported": [PROTOCOL_VERSION]},
    }


def initialize_result(identity: Dict[str, str], metadata: Any) -> Dict[str, Any]:
    """The ``initialize`` result; raises :class:`~plugboard.metadata.MetadataError` when the
    metadata does not fit the protocol."""
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "plugin": identity,
        "metadata": normalize_metadata(metadata),
    }
