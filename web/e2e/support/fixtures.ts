// The test fixtures: `server`, a real `plugboard serve` of this test alone (stopped and removed
// afterwards, whatever happened), `api`, its REST API with the admin token, and helpers to sign
// in and visit pages with the accessibility check. Uncaught errors in the console's page fail
// the test: the console must never throw.

import { writeFile } from "node:fs/promises";
import { test as base, expect, type Page, type TestInfo } from "@playwright/test";
import { expectAccessible } from "./a11y";
import { Api } from "./api";
import { startServer, type Server } from "./server";

interface Fixtures {
  server: Server;
  api: Api;
  /** Uncaught exceptions of the console's page, checked after the test. */
  pageErrors: string[];
}

export const test = base.extend<Fixtures>({
  server: async ({}, use, testInfo) => {
    const server = await startServer();
    try {
      await use(server);
    } finally {
      if (testInfo.status !== testInfo.expectedStatus) {
        // Kept as a file beside the screenshot and the trace: the server's side of the failure.
        const log = testInfo.outputPath("plugboard-serve.log");
        await writeFile(log, server.output());
        await testInfo.attach("plugboard-serve.log", { path: log, contentType: "text/plain" });
      }
      await server.stop();
    }
  },
  api: async ({ server }, use) => {
    await use(new Api(server.url, server.adminToken));
  },
  pageErrors: [
    async ({ page }, use, testInfo) => {
      const errors: string[] = [];
      const messages: string[] = [];
      page.on("pageerror", (error) => errors.push(`${error.name}: ${error.message}\n${error.stack ?? ""}`));
      page.on("console", (message) => {
        if (message.type() === "error") messages.push(`${message.location().url}: ${message.text()}`);
      });
      await use(errors);
      if (messages.length > 0) await testInfo.attach("browser-console-errors.txt", { body: messages.join("\n"), contentType: "text/plain" });
      expect(errors, "the console threw uncaught errors").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Signs in with the server's one-time link and waits for the signed-in console. */
export async function signInWithLink(page: Page, server: Server): Promise<void> {
  await page.goto(server.signInLink);
  await expect(page.getByTestId("session-info")).toBeVisible();
}

/** Signs in by pasting a token in the sign-in form. */
export async function signInWithToken(page: Page, server: Server, token: string): Promise<void> {
  await page.goto(`${server.url}/#/sign-in`);
  await page.getByLabel("Token").fill(token);
  await page.getByTestId("sign-in-submit").click();
  await expect(page.getByTestId("session-info")).toBeVisible();
}

/** Opens a console route (`/jobs/42`) and checks the page with axe-core. */
export async function visit(page: Page, server: Server, route: string, testInfo: TestInfo, name = route): Promise<void> {
  await page.goto(`${server.url}/#${route}`);
  await expect(page.getByTestId("session-info")).toBeVisible();
  await expectAccessible(page, testInfo, name);
}

export { expectAccessible };
