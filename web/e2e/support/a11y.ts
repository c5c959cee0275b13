// An axe-core check of the page as it is now: no `serious` or `critical` violation. Each test
// calls it on every page it visits; the full report is attached to the test.

import AxeBuilder from "@axe-core/playwright";
import { expect, type Page, type TestInfo } from "@playwright/test";

export async function expectAccessible(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  // Let the page settle: no "Loading…" left, so axe sees what a person sees.
  await expect(page.getByTestId("loading")).toHaveCount(0, { timeout: 15_000 }).catch(() => undefined);
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((violation) => violation.impact === "serious" || violation.impact === "critical");
  if (bad.length > 0) {
    await testInfo.attach(`axe-${name}.json`, { body: JSON.stringify(bad, null, 2), contentType: "application/json" });
  }
  const summary = bad.map(
    (violation) =>
      `${violation.impact} ${violation.id}: ${violation.help} (${violation.helpUrl})\n` +
      violation.nodes
        .slice(0, 5)
        .map((node) => `    ${node.target.join(" ")}: ${node.failureSummary?.replace(/\n\s*/g, " ")}`)
        .join("\n"),
  );
  expect(summary, `axe-core found serious or critical violations on ${name} (${page.url()})`).toEqual([]);
}
