// Signing in with the one-time link `plugboard serve` prints, and that link refused the second
// time with a message a person can read.

import { expectAccessible, expect, signInWithLink, test } from "../support/fixtures";

test("the one-time link signs in once, and a second use is refused with a readable message", async ({ page, browser, server }, testInfo) => {
  await signInWithLink(page, server);
  await expect(page.getByTestId("session-info")).toHaveAttribute("data-access", "admin");
  // The code is taken out of the address bar at once.
  expect(page.url()).not.toContain("code=");
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await expectAccessible(page, testInfo, "overview");

  // The same link in a fresh tab (no token in its sessionStorage) is refused.
  const context = await browser.newContext();
  try {
    const again = await context.newPage();
    await again.goto(server.signInLink);
    const error = again.getByTestId("sign-in-error");
    await expect(error).toBeVisible();
    await expect(error).toContainText(/sign-in link/i);
    const text = (await error.textContent()) ?? "";
    // Readable: words about the link, not a raw answer.
    expect(text, "the refusal should be a sentence, not raw JSON or a placeholder").not.toMatch(/[{}]|\[object|undefined|null\b/);
    expect(text.length).toBeGreaterThan(20);
    await expect(again.getByTestId("session-info")).toHaveCount(0);
    // It still offers to sign in with a token.
    await expect(again.getByLabel("Token")).toBeVisible();
    expect(again.url()).not.toContain("code=");
    await expectAccessible(again, testInfo, "sign-in refused");
  } finally {
    await context.close();
  }
});
