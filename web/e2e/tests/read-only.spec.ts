// A read token, pasted at sign-in, gets a console with no write action anywhere: every page is
// walked and none offers to create, install, cancel, retry, delete, save or run.

import type { Page } from "@playwright/test";
import type { Config } from "../support/api";
import { expect, signInWithToken, test, visit } from "../support/fixtures";
import { E2E_PLUGIN, installExample, installFixturePlugin } from "../support/setup";

const WRITE_WORDS =
  /\b(create|install|uninstall|cancel|retry|delete|remove|save|run|add|new|post|send|enable|disable|update|roll ?back|grant|revoke|upload|validate|test|check|edit|set|change|import)\b/i;

/** The write actions a person could use on this page: visible, enabled buttons and links named for writing. */
async function writeActions(page: Page): Promise<string[]> {
  const found: string[] = [];
  for (const role of ["button", "link", "menuitem", "checkbox", "switch"] as const) {
    for (const element of await page.getByRole(role, { name: WRITE_WORDS }).all()) {
      if ((await element.isVisible()) && (await element.isEnabled())) {
        const name = (await element.getAttribute("aria-label")) ?? (await element.innerText()).trim();
        found.push(`${role} "${name}" (${(await element.getAttribute("data-testid")) ?? "no test id"})`);
      }
    }
  }
  for (const testId of ["select-job", "select-all", "install-form", "tenant-create-form", "post-event-form", "token-create-form", "limit-form", "config-save", "config-run", "config-delete", "job-cancel", "job-retry", "bulk-cancel", "bulk-retry", "new-config", "plugin-update-open", "plugin-disable", "plugin-uninstall"]) {
    if ((await page.getByTestId(testId).count()) > 0) found.push(`data-testid=${testId}`);
  }
  // A config a read token cannot save is shown read-only: its values, name, enabled switch,
  // schedule and event subscriptions take no input.
  for (const input of await page.locator('form[aria-label="Config"]').locator("input, textarea, select").all()) {
    if ((await input.isVisible()) && (await input.isEditable())) {
      found.push(`editable config field ${(await input.getAttribute("id")) ?? (await input.getAttribute("data-testid")) ?? (await input.getAttribute("name"))}`);
    }
  }
  return found;
}

test("a read token finds no write action anywhere", async ({ page, server, api }, testInfo) => {
  // Seventeen pages, each checked with axe-core.
  test.setTimeout(240_000);
  // Something on every page: plugins (one with a console page), a tenant with a config, jobs
  // that failed, succeeded and run, an event and a limit.
  await installFixturePlugin(api, server);
  await installExample(api, server, "github-webhook-python", "github-webhook");
  await api.createTenant("acme", "Acme Inc.");
  const config = await api.createConfig("acme", { plugin: E2E_PLUGIN, name: "greeter", values: { greeting: "hi", repeat: 1, delay_ms: 0 } });
  const failed = await api.enqueue({ kind: "plugin.run", payload: { plugin: E2E_PLUGIN, payload: { fail: "on purpose" } }, max_attempts: 1 });
  const running = await api.enqueue({ kind: "plugin.run", payload: { plugin: E2E_PLUGIN, payload: { sleep_seconds: 300 } }, max_attempts: 1 });
  const queued = await api.enqueue({ kind: "noop", payload: {}, run_at: new Date(Date.now() + 3_600_000).toISOString() });
  await api.waitJob(failed.id);
  await api.waitJob(running.id, { until: "running" });
  await api.post("/api/v1/events", { type: "e2e.happened", tenant: "acme", payload: { n: 1 } });
  await api.request("PUT", "/api/v1/limits/tenant/acme", { max_running: 5 });
  const { secret } = await api.createToken({ name: "reader", access: "read" });

  // The check finds write actions where they are: the admin's view of the running job.
  await signInWithToken(page, server, server.adminToken);
  await visit(page, server, `/jobs/${running.id}`, testInfo, "a running job (admin)");
  await expect(page.getByTestId("job-cancel")).toBeVisible();
  expect(await writeActions(page), "the check should see the admin's cancel button").toEqual(
    expect.arrayContaining([expect.stringContaining('"Cancel job"')]),
  );
  await page.getByTestId("sign-out").click();
  await expect(page.getByTestId("sign-in-form")).toBeVisible();

  await signInWithToken(page, server, secret);
  await expect(page.getByTestId("session-info")).toHaveAttribute("data-access", "read");
  // Tokens are the admin's: not even in the navigation.
  await expect(page.getByTestId("nav-tokens")).toHaveCount(0);

  const routes: [string, string][] = [
    ["/", "overview"],
    ["/jobs", "jobs"],
    ["/jobs?status=failed", "failed jobs"],
    [`/jobs/${failed.id}`, "a failed job"],
    [`/jobs/${running.id}`, "a running job"],
    [`/jobs/${queued.id}`, "a queued job"],
    ["/plugins", "plugins"],
    [`/plugins/${E2E_PLUGIN}`, "a plugin"],
    ["/plugins/github-webhook", "a plugin with a page"],
    ["/plugins/github-webhook/pages/deliveries", "a plugin page"],
    ["/tenants", "tenants"],
    ["/tenants/acme", "a tenant"],
    [`/configs/${config.id}`, "a config"],
    ["/events", "events"],
    ["/limits", "limits"],
    ["/nodes", "nodes"],
    ["/health", "health"],
  ];
  const problems: string[] = [];
  for (const [route, name] of routes) {
    await visit(page, server, route, testInfo, `${name} (read token)`);
    await expect(page.getByRole("heading", { level: 1 }).first()).toBeVisible();
    // Pages that load more after the first paint settle first: the config's form, a job's log.
    if (route.startsWith("/configs/")) {
      await expect(page.getByTestId("config-form")).toBeVisible();
      await expect(page.locator('form[aria-label="Config"]'), "the config page's form").toBeVisible();
    }
    if (route.startsWith("/jobs/")) await expect(page.getByTestId("job-log")).toBeVisible();
    for (const action of await writeActions(page)) problems.push(`${name} (#${route}): ${action}`);
  }
  expect(problems, "write actions shown to a read token").toEqual([]);

  // And the data it read is as it was: nothing was changed along the way.
  expect((await api.get<Config>(`/api/v1/configs/${config.id}`)).values).toEqual({ greeting: "hi", repeat: 1, delay_ms: 0 });
  expect((await api.job(running.id)).status).toBe("running");
});
