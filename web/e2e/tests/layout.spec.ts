// The console at a phone's width (390 px) and a laptop's (1280 px): no page is wider than the
// window, and at 390 px the navigation folds behind its button. And by keyboard alone: the skip
// link, the navigation, a job's link, each with a visible focus ring; times carry UTC on hover.

import type { Page } from "@playwright/test";
import { expect, signInWithLink, test } from "../support/fixtures";
import { E2E_PLUGIN, installFixturePlugin } from "../support/setup";

/** How far the document sticks out of the window, in pixels (0 when it fits), and what does. */
async function overflow(page: Page): Promise<{ wider: number; culprits: string[] }> {
  return page.evaluate(() => {
    const wider = document.documentElement.scrollWidth - window.innerWidth;
    const culprits: string[] = [];
    if (wider > 1) {
      for (const element of Array.from(document.querySelectorAll<HTMLElement>("#main *"))) {
        const box = element.getBoundingClientRect();
        // The outermost elements past the edge whose parent is not past it: where it starts.
        const parent = element.parentElement?.getBoundingClientRect();
        if (box.right > window.innerWidth + 1 && parent && parent.right <= window.innerWidth + 1) {
          culprits.push(`<${element.tagName.toLowerCase()} class="${element.className}" data-testid="${element.dataset.testid ?? ""}"> right edge ${Math.round(box.right)}`);
        }
      }
    }
    return { wider, culprits: culprits.slice(0, 5) };
  });
}

/** The focused element's focus ring: its outline, which must be drawn. */
async function focusRing(page: Page): Promise<{ tag: string; text: string; outline: string }> {
  return page.evaluate(() => {
    const element = document.activeElement as HTMLElement | null;
    const style = element ? getComputedStyle(element) : null;
    return {
      tag: element?.tagName.toLowerCase() ?? "",
      text: (element?.textContent ?? "").trim(),
      outline: style ? `${style.outlineStyle} ${style.outlineWidth}` : "",
    };
  });
}

test("every page fits 390 and 1280 pixels wide", async ({ page, server, api }) => {
  test.setTimeout(180_000);
  await installFixturePlugin(api, server);
  await api.createTenant("acme", "Acme Inc.");
  const config = await api.createConfig("acme", { plugin: E2E_PLUGIN, name: "greeter", values: { greeting: "a greeting that wraps on a phone", repeat: 1, delay_ms: 0 } });
  const job = await api.enqueue({ kind: "noop", payload: { customer: { id: 42, name: "a payload with a rather long value that must wrap rather than widen the page" } } });
  await api.waitJob(job.id);
  await signInWithLink(page, server);

  const routes = ["/", "/jobs", `/jobs/${job.id}`, "/plugins", `/plugins/${E2E_PLUGIN}`, "/tenants", "/tenants/acme", `/configs/${config.id}`, "/events", "/tokens", "/limits", "/nodes", "/health"];
  const problems: string[] = [];
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 844 });
    for (const route of routes) {
      await page.goto(`${server.url}/#${route}`);
      await expect(page.getByRole("heading", { level: 1 }).first()).toBeVisible();
      await expect(page.getByTestId("loading")).toHaveCount(0);
      const { wider, culprits } = await overflow(page);
      if (wider > 1) problems.push(`${route} at ${width} px is ${wider} px wider than the window: ${culprits.join("; ")}`);
    }
  }
  expect(problems).toEqual([]);

  // At 390 px the navigation is folded behind its button, and opens and closes by it.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${server.url}/#/jobs`);
  const toggle = page.getByTestId("nav-toggle");
  await expect(toggle).toBeVisible();
  await expect(page.getByTestId("nav-plugins")).toBeHidden();
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  await page.getByTestId("nav-plugins").click();
  await expect(page.getByRole("heading", { name: "Plugins", level: 1 })).toBeVisible();
  await expect(page.getByTestId("nav-plugins")).toBeHidden();
});

test("the console works by keyboard, with a visible focus ring, and shows UTC on hover", async ({ page, server, api }) => {
  const job = await api.enqueue({ kind: "noop", payload: {} });
  await api.waitJob(job.id);
  await signInWithLink(page, server);
  await page.goto(`${server.url}/#/jobs`);
  await expect(page.locator(`[data-testid="job-row"][data-job-id="${job.id}"]`)).toBeVisible();

  // The first Tab reaches the skip link, which takes focus to the page's content.
  await page.keyboard.press("Tab");
  let focused = await focusRing(page);
  expect(focused.text).toMatch(/skip/i);
  expect(focused.outline, "the skip link's focus ring").not.toMatch(/^none|^\S+ 0px$/);

  // Tabbing on reaches the navigation's Plugins link, ringed, and Enter follows it.
  let steps = 0;
  while (!(focused.tag === "a" && focused.text === "Plugins") && steps++ < 30) {
    await page.keyboard.press("Tab");
    focused = await focusRing(page);
    if (focused.tag !== "body") expect(focused.outline, `the focus ring of ${focused.tag} "${focused.text}"`).not.toMatch(/^none|^\S+ 0px$/);
  }
  expect(focused.text, "Tab should reach the navigation").toBe("Plugins");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Plugins", level: 1 })).toBeVisible();

  // Back on the jobs page, a job's link is reached by Tab and opened by Enter.
  await page.goto(`${server.url}/#/jobs`);
  const link = page.locator(`[data-testid="job-row"][data-job-id="${job.id}"] a`).first();
  await link.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toContainText(`Job ${job.id}`);

  // Times are the user's, with UTC in the title.
  const time = page.getByTestId("job-timing").locator("time").first();
  await expect(time).toHaveAttribute("title", /UTC/);
});
