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

It also adds a page to the admin console (docs/plugin-pages.md): ``GET /ui`` serves the page
(``public``: a frame cannot send a token, and the page holds no data), which asks the console to
call ``GET /admin/deliveries`` (the admin's token, added by the console) for the latest
deliveries of every tenant.
"""

import os
import sys
from datetime import datetime, timezone
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
RECENT_KEY = "recent-deliveries"
RECENT_KEPT = 20

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>GitHub deliveries</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px; color: #1d2330; background: #fff; }
  body.dark { color: #e6e9ef; background: #161a22; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #8883; }
  .empty { color: #666; }
  body.dark .empty { color: #aab; }
</style>
</head>
<body>
<main>
<h1>GitHub deliveries</h1>
<p id="summary" data-testid="deliveries-summary">Loading…</p>
<table>
  <thead><tr><th>When (UTC)</th><th>Tenant</th><th>Config</th><th>Event</th><th>Repository</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<p><button id="refresh" type="button">Refresh</button></p>
</main>
<script src="/plugin-page.js"></script>
<script>
  const summary = document.getElementById("summary");
  const rows = document.getElementById("rows");
  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    return td;
  }
  async function load() {
    const answer = await plugboard.fetch("/admin/deliveries");
    if (answer.status !== 200) {
      summary.textContent = "The plugin answered " + answer.status + ": " + answer.body;
      return;
    }
    const data = answer.json();
    summary.textContent = data.recent.length
      ? data.recent.length + " latest deliveries, newest first"
      : "No delivery yet: send one to a config's webhook address.";
    rows.replaceChildren(...data.recent.map((delivery) => {
      const tr = document.createElement("tr");
      tr.append(cell(delivery.at), cell(delivery.tenant), cell(delivery.config),
        cell(delivery.event), cell(delivery.repository));
      return tr;
    }));
  }
  plugboard.onInit((context) => {
    document.body.classList.toggle("dark", context.theme === "dark");
  });
  document.getElementById("refresh").addEventListener("click", load);
  plugboard.ready();
  load().catch((error) => { summary.textContent = "Could not load: " + error; });
</script>
</body>
</html>
"""

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
                    "path": "/ui",
                    "auth": "public",
                    "summary": "The console page (loaded in the console's sandboxed frame)",
                },
                {
                    "method": "GET",
                    "path": "/admin/deliveries",
                    "auth": "admin",
                    "summary": "The latest deliveries of every tenant",
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
            "ui": [{"id": "deliveries", "title": "Deliveries", "path": "/ui"}],
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
        if request.route == "/ui":
            return plugboard.HttpResponse(
                status=200,
                headers={"content-type": "text/html; charset=utf-8"},
                body=PAGE.encode(),
            )
        if request.route == "/admin/deliveries":
            recent = await ctx.kv_get(RECENT_KEY, tenant=None) or []
            return plugboard.HttpResponse.json({"recent": recent})
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
        recent = await ctx.kv_get(RECENT_KEY, tenant=None) or []
        recent.insert(
            0,
            {
                "at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                "tenant": ctx.tenant,
                "config": request.config.name,
                "event": f"github.{kind}",
                "repository": (payload.get("repository") or {}).get("full_name"),
            },
        )
        await ctx.kv_set(RECENT_KEY, recent[:RECENT_KEPT], tenant=None)
        ctx.info(f"delivery {delivery} ({kind}) for tenant {ctx.tenant} became event {event_id}")
        return plugboard.HttpResponse.json({"event": event_id}, status=202)


if __name__ == "__main__":
    GitHubWebhook().serve()
