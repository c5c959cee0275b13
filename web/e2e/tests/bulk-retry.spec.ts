// Retrying many failed jobs at once from the jobs list. The jobs failed because their plugin
// was not installed; once it is, the retried jobs succeed.

import { expectAccessible, expect, signInWithLink, test, visit } from "../support/fixtures";
import { docScreenshot } from "../support/screenshots";
import { E2E_PLUGIN, installFixturePlugin } from "../support/setup";

test("bulk-retry failed jobs", async ({ page, server, api }, testInfo) => {
  const failed = [];
  for (let index = 0; index < 3; index++) {
    const job = await api.enqueue({ kind: "plugin.run", payload: { plugin: E2E_PLUGIN, payload: { delay_ms: 0 } }, max_attempts: 1 });
    failed.push((await api.waitJob(job.id)).id);
  }
  for (const id of failed) expect((await api.job(id)).status, `job ${id} should fail: its plugin is not installed`).toBe("failed");
  // A job that succeeded, so the list holds more than the failures.
  const ok = await api.enqueue({ kind: "noop", payload: { note: "not to be retried" } });
  expect((await api.waitJob(ok.id)).status).toBe("succeeded");
  await installFixturePlugin(api, server);

  await signInWithLink(page, server);
  await visit(page, server, "/jobs", testInfo, "jobs");
  for (const id of [...failed, ok.id]) await expect(page.locator(`[data-testid="job-row"][data-job-id="${id}"]`)).toBeVisible();
  await docScreenshot(page, "jobs");

  // Only the failed ones, all selected, retried.
  await page.getByTestId("filter-status").selectOption("failed");
  await expect(page).toHaveURL(/status=failed/);
  const rows = page.getByTestId("job-row");
  await expect(rows).toHaveCount(3);
  for (const id of failed) await expect(page.locator(`[data-testid="job-row"][data-job-id="${id}"]`)).toHaveAttribute("data-status", "failed");
  await page.getByTestId("select-all").check();
  await expect(page.getByTestId("selected-count")).toHaveText("3 selected");
  await page.getByTestId("bulk-retry").click();
  const dialog = page.getByTestId("bulk-retry-dialog");
  await expect(dialog).toBeVisible();
  await expectAccessible(page, testInfo, "bulk retry dialog");
  await dialog.getByTestId("confirm-ok").click();
  await expect(page.getByTestId("bulk-summary")).toHaveText(/Retry of 3 jobs: 3 retried/);

  // Each retried job runs again, now with its plugin there, and succeeds.
  for (const id of failed) {
    const job = await api.waitJob(id, { until: "succeeded" });
    expect(job.status).toBe("succeeded");
  }
  await page.getByTestId("filter-status").selectOption("");
  for (const id of failed) {
    await expect(page.locator(`[data-testid="job-row"][data-job-id="${id}"]`)).toHaveAttribute("data-status", "succeeded");
  }
  await expect(page.locator(`[data-testid="job-row"][data-job-id="${ok.id}"]`)).toHaveAttribute("data-status", "succeeded");
  await expectAccessible(page, testInfo, "jobs after retry");

  // The overview counts them: the per-minute series gets what the workers finished every 10 s,
  // and the overview reads it again every 15 s.
  await visit(page, server, "/", testInfo, "overview");
  // At least the three retried jobs and the noop (the install job may count too).
  await expect(page.getByTestId("tile-succeeded").locator(".tile-number")).toHaveText(/^([4-9]|\d{2,})$/, { timeout: 45_000 });
  await expect(page.getByTestId("tile-failed").locator(".tile-number")).toHaveText(/^([3-9]|\d{2,})$/);
  await docScreenshot(page, "overview");
});
