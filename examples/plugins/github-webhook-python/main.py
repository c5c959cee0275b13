"""github-webhook: GitHub webhook deliveries in, events of the tenant out.

An example of a plugin route an outside service calls. Each config holds the webhook secret
set on GitHub (a secret field: stored sealed, shown as ``********``). The config's webhook
address, made with ``POST /api/v1/configs/{id}/webhook``, reaches the route ``POST /github``
with that config attached, so the delivery is for the config's tenant whoever sends it. The
plugin checks ``X-Hub-Signature-256`` against the secret and answers ``401`` when it does not
match; a good delivery becomes the event ``github.<event>`` (``github.push``,
``github.pull_request``, …) of the tenant, keyed by the delivery id so a redelivery is one
event, and every config subscribed to it runs. This plugin subscribes to its own events too: a
config with ``events = ["github.push"]`` runs ``run`` for each push, which logs it and answers
what was pushed. ``GET /deliveries`` (a tenant's token) says how many deliveries the tenant's
configs received.
"""

import os
import sys
from typing import Any, Dict

try:
    import plugboard
except ImportError:
    # Neither installed nor in the package: use the SDK of this repository. That works when
    # main.py is run by hand; under plugboard the sandbox lets a plugin read only its package,
    # so a shipped package carries the SDK (`plugboard/` next to this file, as scripts/demo does).
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(_HERE, "..", "..", "..", "sdk", "python"))
    import plugboard

COUNT_KEY = "deliveries"

CONFIG_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "properties": {
        "secret": {
            "type": "string",
            "writeOnly": True,
            "minLength": 1,
            "description": "The secret set on GitHub's webhook page.",
        },
    },
    "required": ["secret"],
    "additionalProperties": False,
}


class GitHubWebhook(plugboard.Plugin):
    """Checks GitHub deliveries and emits them as events."""

    id = "github-webhook"
    name = "GitHub webhooks (Python)"
    version = "0.1.0"

    def metadata(self) -> plugboard.Metadata:
        return {
            "configSchema": CONFIG_SCHEMA,
            "events": ["github.*"],
            "routes": [
                {
                    "method": "POST",
                    "path": "/github",
                    "auth": "public",
                    "webhook": True,
                    "summary": "A GitHub webhook delivery (reached through /hooks/{config}/{secret})",
                },
                {
                    "method": "GET",
                    "path": "/deliveries",
                    "auth": "tenant",
                    "summary": "How many deliveries the caller's tenant received",
                    "responseSchema": {
                        "type": "object",
                        "properties": {"deliveries": {"type": "integer"}},
                        "required": ["deliveries"],
                    },
                },
            ],
        }

    async def run(self, ctx: plugboard.Context, params: plugboard.RunParams) -> Any:
        trigger = ctx.trigger
        if trigger is None or trigger.event is None:
            ctx.info("nothing to do: this plugin's runs react to github.* events")
            return None
        event = trigger.event
        payload = event.payload if isinstance(event.payload, dict) else {}
        ctx.info(
            f"{event.type} to {payload.get('repository')} ({payload.get('ref')}) "
            f"by {payload.get('sender')}"
        )
        return {"event": event.type, "repository": payload.get("repository")}

    async def http(
        self, ctx: plugboard.Context, request: plugboard.HttpRequest
    ) -> plugboard.HttpResponse:
        if request.route == "/github":
            return await self._delivery(ctx, request)
        if request.route == "/deliveries":
            count = await ctx.kv_get(COUNT_KEY) or 0
            return plugboard.HttpResponse.json({"deliveries": count})
        return plugboard.HttpResponse.json({"error": f"no route {request.route}"}, status=404)

    async def _delivery(
        self, ctx: plugboard.Context, request: plugboard.HttpRequest
    ) -> plugboard.HttpResponse:
        if request.config is None:
            # Called at /plugins/github-webhook/github, not through a config's webhook address:
            # nobody knows which tenant this is for.
            return plugboard.HttpResponse.json(
                {"error": "deliver to the config's webhook address, /hooks/{config}/{secret}"},
                status=400,
            )
        try:
            plugboard.verify_github(
                request.config.values.get("secret", ""),
                request.body,
                request.header("x-hub-signature-256"),
            )
        except plugboard.SignatureError as refused:
            ctx.warn(f"delivery refused for config {request.config.name}: {refused}")
            return plugboard.HttpResponse.json({"error": str(refused)}, status=401)
        kind = request.header("x-github-event") or "unknown"
        delivery = request.header("x-github-delivery")
        if kind == "ping":
            return plugboard.HttpResponse.json({"pong": True})
        try:
            payload = request.json()
        except ValueError:
            return plugboard.HttpResponse.json({"error": "the body is not JSON"}, status=400)
        event_id = await ctx.emit(
            f"github.{kind}",
            {
                "delivery": delivery,
                "config": request.config.name,
                "repository": (payload.get("repository") or {}).get("full_name"),
                "ref": payload.get("ref"),
                "sender": (payload.get("sender") or {}).get("login"),
            },
            idempotency_key=f"github:{delivery}" if delivery else None,
        )
        count = (await ctx.kv_get(COUNT_KEY) or 0) + 1
        await ctx.kv_set(COUNT_KEY, count)
        ctx.info(f"delivery {delivery} ({kind}) for tenant {ctx.tenant} became event {event_id}")
        return plugboard.HttpResponse.json({"event": event_id}, status=202)


if __name__ == "__main__":
    GitHubWebhook().serve()
