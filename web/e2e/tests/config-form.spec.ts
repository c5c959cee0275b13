// Editing a config in the form generated from the plugin's JSON Schema: the server's
// validation errors appear next to their fields, and once fixed the config saves.

import type { Locator, Page } from "@playwright/test";
import type { Config } from "../support/api";
import { expectAccessible, expect, signInWithLink, test, visit } from "../support/fixtures";
import { docScreenshot } from "../support/screenshots";
import { E2E_PLUGIN, installFixturePlugin } from "../support/setup";

/** The error the form shows for an input: the element its aria-describedby names, or the rjsf error beside it. */
async function errorOf(page: Page, input: Locator): Promise<Locator> {
  const described = ((await input.getAttribute("aria-describedby")) ?? "").split(/\s+/).filter(Boolean);
  const id = await input.getAttribute("id");
  const candidates = [...described.map((name) => `[id="${name}"]`), `[id="${id}__error"]`];
  return page.locator(candidates.join(", ")).filter({ hasText: /\S/ });
}

test("edit a config, see the server's error next to its field, fix it and save", async ({ page, server, api }, testInfo) => {
  await installFixturePlugin(api, server);
  await api.createTenant("acme", "Acme Inc.");
  const config = await api.createConfig("acme", { plugin: E2E_PLUGIN, name: "greeter", values: { greeting: "hi", repeat: 2 } });

  await signInWithLink(page, server);
  await visit(page, server, `/configs/${config.id}`, testInfo, "config form");
  const form = page.getByTestId("config-form");
  const greeting = form.getByLabel(/^Greeting/);
  const repeat = form.getByLabel(/^Repeat/);
  await expect(greeting).toHaveValue("hi");
  await expect(repeat).toHaveValue("2");
  await docScreenshot(page, "config-form");

  // Out of the schema's bounds on two fields: the server refuses, and each error sits by its field.
  await repeat.fill("99");
  await greeting.fill("x".repeat(41));
  await page.getByTestId("config-save").click();
  await expect(page.getByTestId("config-notice")).toBeVisible();
  await expect(page.getByTestId("config-notice")).toContainText(/not valid|fields/i);

  const repeatError = await errorOf(page, repeat);
  await expect(repeatError).toHaveCount(1);
  await expect(repeatError).toBeVisible();
  await expect(repeatError).toContainText(/99|maximum|greater/i);
  const greetingError = await errorOf(page, greeting);
  await expect(greetingError).toHaveCount(1);
  await expect(greetingError).toContainText(/long|40|maxLength/i);
  // Each error belongs to its own field: the repeat error says nothing about the greeting.
  await expect(repeatError).not.toContainText(/long/i);
  // Marked invalid for assistive technology too, as the console's other fields with errors are.
  await expect.soft(repeat, "a field with a server error should have aria-invalid=true").toHaveAttribute("aria-invalid", "true");
  await expect.soft(greeting, "a field with a server error should have aria-invalid=true").toHaveAttribute("aria-invalid", "true");
  await expectAccessible(page, testInfo, "config form with errors");
  // Nothing was stored.
  expect((await api.get<Config>(`/api/v1/configs/${config.id}`)).values).toEqual({ greeting: "hi", repeat: 2 });

  // Fixed, it saves, and the errors go.
  await repeat.fill("3");
  await greeting.fill("hello again");
  await page.getByTestId("config-save").click();
  await expect(page.getByTestId("config-notice")).toHaveText(/Saved/);
  await expect(page.locator('[data-testid^="field-error-"]').filter({ hasText: /\S/ })).toHaveCount(0);
  await expect(repeat).not.toHaveAttribute("aria-invalid", "true");
  const saved = await api.get<Config>(`/api/v1/configs/${config.id}`);
  expect(saved.values).toMatchObject({ greeting: "hello again", repeat: 3 });

  // A reload shows what was stored.
  await page.reload();
  await expect(page.getByTestId("config-form").getByLabel(/^Repeat/)).toHaveValue("3");
  await expect(page.getByTestId("config-form").getByLabel(/^Greeting/)).toHaveValue("hello again");
});

test("the schedule editor shows the next five fires of the schedule as it is typed, and its error", async ({ page, server, api }, testInfo) => {
  await installFixturePlugin(api, server);
  await api.createTenant("acme", "Acme Inc.");
  const config = await api.createConfig("acme", { plugin: E2E_PLUGIN, name: "greeter", values: { greeting: "hi", repeat: 1 } });
  await signInWithLink(page, server);
  await visit(page, server, `/configs/${config.id}`, testInfo, "config without a schedule");
  await expect(page.getByTestId("next-fires")).toHaveCount(0);

  // A weekday cron in Berlin, not saved: five fires, each at 09:00 Berlin time (shown in the
  // browser's zone, UTC here), read from the server as saving would compute them.
  await page.getByTestId("schedule-mode-cron").check();
  await page.getByTestId("schedule-cron").fill("0 9 * * MON-FRI");
  await page.getByTestId("schedule-timezone").fill("Europe/Berlin");
  const fires = page.getByTestId("next-fires");
  await expect(fires).toHaveAttribute("data-preview", "true");
  await expect(fires.locator("li time")).toHaveCount(5);
  for (const time of await fires.locator("li time").all()) {
    await expect(time).toHaveAttribute("title", /(07|08):00:00\.000 UTC$/);
  }
  await expectAccessible(page, testInfo, "schedule preview");

  // A cron the server refuses: its words, in place of the fires.
  await page.getByTestId("schedule-cron").fill("61 * * * *");
  await expect(page.getByTestId("next-fires-error")).toContainText(/minute|61|cron/i);
  await expect(fires.locator("li")).toHaveCount(0);

  // Saved, the same fires are the saved schedule's.
  await page.getByTestId("schedule-cron").fill("0 9 * * MON-FRI");
  await page.getByTestId("config-save").click();
  await expect(page.getByTestId("config-notice")).toHaveText(/Saved/);
  await expect(fires).toHaveAttribute("data-preview", "false");
  await expect(fires.locator("li time")).toHaveCount(5);
});
