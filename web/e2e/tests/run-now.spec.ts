// Running a config now from its page and following the job's log live to its end.

import { expectAccessible, expect, signInWithLink, test, visit } from "../support/fixtures";
import { docScreenshot } from "../support/screenshots";
import { E2E_PLUGIN, installFixturePlugin } from "../support/setup";

test("run a config now and follow its job's log live to the end", async ({ page, server, api }, testInfo) => {
  await installFixturePlugin(api, server);
  await api.createTenant("acme");
  const config = await api.createConfig("acme", { plugin: E2E_PLUGIN, name: "slow-greeter", values: { greeting: "hello from e2e", repeat: 4, delay_ms: 900 } });

  await signInWithLink(page, server);
  await visit(page, server, `/configs/${config.id}`, testInfo, "config page");
  await page.getByTestId("config-run").click();

  const follow = page.getByTestId("job-follow");
  await expect(follow).toBeVisible();
  const lines = follow.getByTestId("log-line");
  // The first line shows while the job still runs: the log is followed live, not read at the end.
  await expect(lines.first()).toContainText("hello from e2e 1/4", { timeout: 30_000 });
  const seenEarly = await lines.count();
  await expect(follow.getByTestId("log-state")).toHaveAttribute("data-ended", "false");
  expect(seenEarly, "the log should grow while the browser watches").toBeLessThan(5);

  // Then every line, in order, and the end.
  await expect(follow.getByTestId("log-end")).toContainText("succeeded", { timeout: 30_000 });
  await expect(follow.getByTestId("log-state")).toHaveAttribute("data-ended", "true");
  const messages = await follow.locator('[data-testid="log-line"] .log-message').allTextContents();
  expect(messages).toEqual(["hello from e2e 1/4", "hello from e2e 2/4", "hello from e2e 3/4", "hello from e2e 4/4", "done"]);
  await expect(follow.getByTestId("status").first()).toHaveAttribute("data-status", "succeeded");
  await expectAccessible(page, testInfo, "config page after run");

  // The job is the config's, and its page shows the whole log too.
  const jobId = Number(await follow.getAttribute("data-job-id"));
  const job = await api.job(jobId);
  expect(job).toMatchObject({ status: "succeeded", config: config.id, tenant: "acme", plugin: E2E_PLUGIN });
  await follow.getByTestId("job-follow-link").click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText(`Job ${jobId}`);
  await expect(page.getByTestId("job-log").getByTestId("log-line")).toHaveCount(5);
  await expect(page.getByTestId("job-result")).toContainText("greeted");
  await expectAccessible(page, testInfo, "job page");
  await docScreenshot(page, "job");

  // The dark theme, checked and pictured once.
  await page.getByTestId("theme-toggle").click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expectAccessible(page, testInfo, "job page, dark");
  await docScreenshot(page, "job-dark");
});
