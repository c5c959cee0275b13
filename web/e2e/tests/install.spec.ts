// Installing a plugin from a URL: a .tar.gz of a Python example with its SDK, served by a tiny
// HTTP server of the test, installed through the console's form and its job followed live.

import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { expectAccessible, expect, signInWithLink, test } from "../support/fixtures";
import { EXAMPLES, pythonPackage, tarGz } from "../support/packages";
import { docScreenshot } from "../support/screenshots";

async function serveFile(file: string): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const size = (await stat(file)).size;
  const name = path.basename(file);
  const http: HttpServer = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    if (request.url !== `/${name}`) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": "application/gzip", "content-length": size });
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${name}`,
    requests,
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  };
}

test("install a plugin from a URL and watch its job finish", async ({ page, server, api }, testInfo) => {
  const folder = await pythonPackage(path.join(EXAMPLES, "counter-python"), path.join(server.workDir, "packages"));
  const archive = await tarGz(folder);
  const served = await serveFile(archive);
  try {
    await signInWithLink(page, server);
    await page.getByTestId("nav-plugins").click();
    await expect(page.getByRole("heading", { name: "Plugins", level: 1 })).toBeVisible();
    await expectAccessible(page, testInfo, "plugins (empty)");

    const form = page.getByTestId("install-form");
    await form.getByLabel("Package URL").fill(served.url);
    await form.getByRole("button", { name: "Install" }).click();

    const follow = page.getByTestId("job-follow");
    await expect(follow).toBeVisible();
    // The install job is followed live to its end: its status, and its log's end.
    await expect(follow.getByTestId("status").first()).toHaveAttribute("data-status", "succeeded", { timeout: 60_000 });
    await expect(follow.getByTestId("log-state")).toHaveAttribute("data-ended", "true");
    await expect(follow.getByTestId("log-end")).toContainText("succeeded");
    expect(served.requests).toContain(`GET /${path.basename(archive)}`);

    // The registry shows the plugin, enabled, at its version.
    const row = page.locator('[data-testid="plugin-row"][data-plugin="counter-python"]');
    await expect(row.first()).toBeVisible({ timeout: 15_000 });
    await expect(row.first()).toHaveAttribute("data-state", "enabled");
    await expect(row.first()).toContainText("0.1.0");
    await expectAccessible(page, testInfo, "plugins (installed)");
    await docScreenshot(page, "plugins");

    // The job's own page tells the same story.
    const jobId = Number(await follow.getAttribute("data-job-id"));
    const job = await api.job(jobId);
    expect(job.status).toBe("succeeded");
    await follow.getByTestId("job-follow-link").click();
    await expect(page.getByRole("heading", { level: 1 })).toContainText(`Job ${jobId}`);
    await expect(page.getByTestId("status").first()).toHaveAttribute("data-status", "succeeded");
    await expectAccessible(page, testInfo, "install job");
  } finally {
    await served.close();
  }
});

test("upload a plugin's archive: a broken one is refused in words, a good one installs once its permissions are granted", async ({ page, server, api }, testInfo) => {
  const folder = await pythonPackage(path.join(EXAMPLES, "uptime-python"), path.join(server.workDir, "packages"));
  const archive = await tarGz(folder);
  await signInWithLink(page, server);
  await page.getByTestId("nav-plugins").click();
  const form = page.getByTestId("install-form");
  await form.getByTestId("install-mode-upload").check();

  // Not an archive at all: the install fails and says why, and nothing is installed.
  await form.getByTestId("install-file").setInputFiles({ name: "broken.tar.gz", mimeType: "application/gzip", buffer: Buffer.from("this is not a gzip stream") });
  await form.getByTestId("install-submit").click();
  const follow = page.getByTestId("job-follow");
  const refusal = page.getByTestId("install-error").or(follow.getByTestId("job-follow-error"));
  await expect(refusal.first()).toBeVisible({ timeout: 60_000 });
  await expect(refusal.first()).toContainText(/gzip|archive|package/i);
  await expect(page.locator('[data-testid="plugin-row"]')).toHaveCount(0);
  await expectAccessible(page, testInfo, "upload refused");

  // The real package, uploaded from this machine. It asks for the network: the install stops for
  // the admin's approval, which the console asks for with what the package wants, and sends
  // again with exactly that granted.
  await form.getByTestId("install-file").setInputFiles(archive);
  await form.getByTestId("install-submit").click();
  await expect(follow.getByTestId("status").first()).toHaveAttribute("data-status", "failed", { timeout: 60_000 });
  await expect(page.getByText('"network": true')).toBeVisible();
  await page.getByTestId("grant-permissions").click();
  await page.getByTestId("grant-permissions-dialog").getByTestId("confirm-ok").click();
  await expect(follow.getByTestId("status").first()).toHaveAttribute("data-status", "succeeded", { timeout: 60_000 });
  await expect(follow.getByTestId("log-end")).toContainText("succeeded");
  const row = page.locator('[data-testid="plugin-row"][data-plugin="uptime-python"]');
  await expect(row.first()).toHaveAttribute("data-state", "enabled", { timeout: 15_000 });
  const plugin = await api.get<{ granted_permissions: Record<string, unknown> | null }>("/api/v1/plugins/uptime-python");
  expect(plugin.granted_permissions).toMatchObject({ network: true });
});
