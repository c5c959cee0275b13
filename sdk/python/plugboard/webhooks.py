"""Checking webhook signatures: that a delivery was sent by who holds the shared secret.

A webhook address (``/hooks/{config}/{secret}``) already tells the host which config and tenant
a delivery is for; a signature tells the plugin that the body is what the sender signed. The
two formats here are the ones most services copy:

- GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``.
- Stripe: ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">[,v1=...]``,
  refused when ``t`` is further than ``tolerance`` seconds from now (a replayed delivery).

Owns: :func:`verify_github`, :func:`verify_stripe` and :class:`SignatureError`.

Must not touch: where the secret comes from (usually a secret field of the config, which the
host opens for the delivery: ``request.config.values``).
"""

import hashlib
import hmac
import time
from typing import Optional, Union

Secret = Union[str, bytes]


class SignatureError(Exception):
    """The delivery's signature is missing, malformed, wrong or too old; the message says which."""


def _key(secret: Secret) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not secret:
        raise SignatureError("the webhook secret is empty: set it in the config")
    return secret


def _hex_hmac(secret: Secret, payload: bytes) -> str:
    return hmac.new(_key(secret), payload, hashlib.sha256).hexdigest()


def verify_github(secret: Secret, body: bytes, header: Optional[str]) -> None:
    """Checks GitHub's ``X-Hub-Signature-256`` header against ``body``.

    Raises :class:`SignatureError` when it is missing, malformed or does not match.
    """
    if not header:
        raise SignatureError("the delivery has no X-Hub-Signature-256 header")
    scheme, _, signature = header.strip().partition("=")
    if scheme != "sha256" or not signature:
        raise SignatureError("X-Hub-Signature-256 must read sha256=<hex>")
    if not hmac.compare_digest(_hex_hmac(secret, body), signature.lower()):
        raise SignatureError("the signature does not match the body and the secret")


def verify_stripe(
    secret: Secret,
    body: bytes,
    header: Optional[str],
    tolerance: int = 300,
    now: Optional[float] = None,
) -> None:
    """Checks Stripe's ``Stripe-Signature`` header against ``body``.

    Any of the header's ``v1`` signatures may match (Stripe sends several while a secret is
    rolled). Raises :class:`SignatureError` when none does, or when the timestamp is more than
    ``tolerance`` seconds away from ``now`` (default: the clock).
    """
    if not header:
        raise SignatureError("the delivery has no Stripe-Signature header")
    timestamp = None
    signatures = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1" and value:
            signatures.append(value.lower())
    if timestamp is None or not timestamp.isdigit():
        raise SignatureError("Stripe-Signature has no t=<unix time>")
    if not signatures:
        raise SignatureError("Stripe-Signature has no v1=<hex> signature")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        raise SignatureError(
            f"the delivery was signed {int(current - int(timestamp))} s from now, "
            f"beyond the {tolerance} s tolerance: a replay, or a clock far off"
        )
    expected = _hex_hmac(secret, timestamp.encode("ascii") + b"." + body)
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        raise SignatureError("no signature matches the body and the secret")
