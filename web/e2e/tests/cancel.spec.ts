// Cancelling a running job from its page: the plugin is told to stop, and the page follows the
// job to `cancelled`.

import { expectAccessible, expect, signInWithLink, test, visit } from "../support/fixtures";
import { E2E_PLUGIN, installFixturePlugin } from "../support/setup";

test("cancel a running job", async ({ page, server, api }, testInfo) => {
  await installFixturePlugin(api, server);
  const job = await api.enqueue({ kind: "plugin.run", payload: { plugin: E2E_PLUGIN, payload: { sleep_seconds: 300 } }, max_attempts: 1 });
  await api.waitJob(job.id, { until: "running" });

  await signInWithLink(page, server);
  await visit(page, server, `/jobs/${job.id}`, testInfo, "running job");
  await expect(page.getByRole("heading", { level: 1 }).getByTestId("status")).toHaveAttribute("data-status", "running");
  await expect(page.getByTestId("job-log").getByTestId("log-line").first()).toContainText("sleeping 300 s");
  await expect(page.getByTestId("log-state")).toHaveAttribute("data-ended", "false");

  await page.getByTestId("job-cancel").click();
  const dialog = page.getByTestId("job-cancel-dialog");
  await expect(dialog).toBeVisible();
  await expectAccessible(page, testInfo, "cancel dialog");
  await dialog.getByTestId("confirm-ok").click();
  await expect(dialog).toBeHidden();

  // Told to stop, then stopped: the page follows the job to its end without a reload.
  await expect(page.getByRole("heading", { level: 1 }).getByTestId("status")).toHaveAttribute("data-status", "cancelled", { timeout: 30_000 });
  await expect(page.getByTestId("log-end")).toContainText("cancelled");
  await expect(page.getByTestId("job-cancel")).toHaveCount(0);
  // A cancelled job can be retried.
  await expect(page.getByTestId("job-retry")).toBeEnabled();
  const done = await api.job(job.id);
  expect(done.status).toBe("cancelled");
  expect(done.result).toBeNull();
  await expectAccessible(page, testInfo, "cancelled job");
});
