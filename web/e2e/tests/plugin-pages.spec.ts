// A plugin's console page: shown in a sandboxed frame (no allow-same-origin), it asks the
// console to call its plugin's routes; a page asking for anything outside its plugin is refused.

import { expectAccessible, expect, signInWithLink, test } from "../support/fixtures";
import { docScreenshot } from "../support/screenshots";
import { E2E_PLUGIN, installExample, installFixturePlugin } from "../support/setup";

interface ProbeResult {
  path: string;
  outcome: "answered" | "refused" | string;
  status?: number;
  body?: string;
  reason?: string;
}

test("the github-webhook page calls its plugin's route through the console, in a sandboxed frame", async ({ page, server, api }, testInfo) => {
  await installExample(api, server, "github-webhook-python", "github-webhook");
  await signInWithLink(page, server);

  const pageAnswer = page.waitForResponse((response) => new URL(response.url()).pathname === "/plugins/github-webhook/ui");
  const dataRequest = page.waitForRequest((request) => new URL(request.url()).pathname === "/plugins/github-webhook/admin/deliveries");
  await page.getByTestId("nav-plugin-page-github-webhook-deliveries").click();
  await expect(page).toHaveURL(/#\/plugins\/github-webhook\/pages\/deliveries$/);

  const frame = page.getByTestId("plugin-page-frame");
  await expect(frame).toBeVisible();
  const sandbox = (await frame.getAttribute("sandbox")) ?? "";
  expect(sandbox.split(/\s+/)).toContain("allow-scripts");
  expect(sandbox.split(/\s+/), "the frame must not share the console's origin").not.toContain("allow-same-origin");
  expect(sandbox.split(/\s+/)).not.toContain("allow-top-navigation");
  // The server sandboxes the page on its own too.
  const answer = await pageAnswer;
  expect(answer.headers()["content-security-policy"] ?? "").toMatch(/^sandbox\b/);
  expect(answer.headers()["content-security-policy"] ?? "").not.toContain("allow-same-origin");

  // The page asked the console for its admin route; the console called it with the token.
  const request = await dataRequest;
  expect(request.headers()["authorization"] ?? "").toMatch(/^Bearer \S+/);
  const summary = page.frameLocator('[data-testid="plugin-page-frame"]').getByTestId("deliveries-summary");
  await expect(summary).not.toHaveText("Loading…");
  await expect(summary).toHaveText(/No delivery yet/);
  await expect(frame).toHaveAttribute("data-ready", "true");
  await expectAccessible(page, testInfo, "plugin page");
  await docScreenshot(page, "plugin-page");
});

test("a plugin page asking the console to fetch outside its plugin is refused", async ({ page, server, api }, testInfo) => {
  await installFixturePlugin(api, server);
  await signInWithLink(page, server);
  const requested: string[] = [];
  // Requests that carry a token: the console's own, and those it makes for the page.
  page.on("request", (request) => {
    if (request.headers()["authorization"]) requested.push(`${request.method()} ${new URL(request.url()).pathname}${new URL(request.url()).search}`);
  });

  await page.getByTestId(`nav-plugin-page-${E2E_PLUGIN}-hostile`).click();
  const frame = page.frameLocator('[data-testid="plugin-page-frame"]');
  await expect(frame.getByTestId("hostile-state")).toHaveText("done", { timeout: 60_000 });
  const report = JSON.parse((await frame.getByTestId("hostile-results").textContent()) ?? "{}") as {
    probes: ProbeResult[];
    frame: Record<string, string>;
  };
  await testInfo.attach("hostile-results.json", { body: JSON.stringify(report, null, 2), contentType: "application/json" });
  const byPath = new Map(report.probes.map((probe) => [probe.path, probe]));

  // The one request a page may make: its own plugin's route, with the user's token added.
  expect(byPath.get("/data")).toMatchObject({ outcome: "answered", status: 200 });
  expect(byPath.get("/data")?.body).toContain("only the plugin's own route");
  // "/api/v1/tokens" is a path of the plugin, never the API's: no token list comes back.
  const tokens = byPath.get("/api/v1/tokens");
  expect(tokens?.outcome === "refused" || (tokens?.outcome === "answered" && tokens.status === 404), JSON.stringify(tokens)).toBe(true);
  expect(tokens?.body ?? "").not.toContain('"tokens"');
  // Everything that could leave the plugin is refused by the console, with a reason.
  for (const path of [
    "../x",
    "../../api/v1/tokens",
    "/../../api/v1/tokens",
    "//evil.example/x",
    "/%2e%2e/%2e%2e/api/v1/tokens",
    "/%2E%2E/api/v1/tokens",
    "/./data",
    "/x%2f..%2f..%2fapi",
    "/\\evil.example",
    "http://127.0.0.1/api/v1/tokens",
    "javascript:alert(1)",
    "/data#fragment",
    "/data with an Authorization header",
    "/data with the method TRACE",
  ]) {
    const probe = byPath.get(path);
    expect(probe, `no result for ${path}`).toBeDefined();
    expect(probe?.outcome, `${path}: ${JSON.stringify(probe)}`).toBe("refused");
    expect(probe?.reason ?? "", `${path} should be refused with a reason`).toMatch(/\w+/);
  }
  // What the console sent with the token: only the plugin's own paths, never the API's tokens.
  expect(requested.filter((line) => line.includes("/api/v1/tokens") && !line.includes(`/plugins/${E2E_PLUGIN}/`))).toEqual([]);
  expect(requested.filter((line) => /evil/.test(line))).toEqual([]);
  expect(requested.filter((line) => line.startsWith("GET /plugins/") && !line.startsWith(`GET /plugins/${E2E_PLUGIN}/`))).toEqual([]);

  // The frame itself has an opaque origin: no console DOM, no storage, no token.
  expect(report.frame.origin).toBe("null");
  expect(report.frame.parentDocument).toMatch(/^blocked/);
  expect(report.frame.sessionStorage).toMatch(/^blocked/);
  expect(report.frame.directTokens).not.toBe("status 200");
  // A frame nested in the page is not the console's frame: its request is not answered.
  expect(report.frame.nested).toBe("ignored");
  await expectAccessible(page, testInfo, "hostile plugin page");
});
