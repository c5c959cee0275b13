// The console's first useful paint with many jobs stored (docs/benchmarks.md): for each page, a
// fresh browser context (no cache, no warm connection) opens it signed in, and the time from
// navigation start until its content is in the document and painted is taken, with the server
// time (`Server-Timing`) of every API call the page made. The same pages over 1,000 jobs of the
// same mix, in the same run, are the floor.
//
//   node bench/first-paint.mjs BINARY OUT_DIR     (run through scripts/bench-console)
//
// Environment: JOBS (default 1000000), REPS (runs per page, default 7), CHROMIUM
// (default /usr/bin/chromium).

import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const run = promisify(execFile);
const [binary, outDir = "/tmp/plugboard-bench-console"] = process.argv.slice(2);
if (!binary) {
  console.error("usage: node bench/first-paint.mjs PLUGBOARD_BINARY [OUT_DIR]");
  process.exit(2);
}
const JOBS = Number(process.env.JOBS ?? 1_000_000);
const FLOOR_JOBS = 1_000;
const REPS = Number(process.env.REPS ?? 7);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// What each page shows once it is useful: a row of the list (or its "no job matches"), the job's
// facts, the overview's counts by state.
const PAGES = [
  { name: "jobs", route: "/jobs", ready: '[data-testid="job-row"]' },
  { name: "jobs, failed", route: "/jobs?status=failed", ready: '[data-testid="job-row"]' },
  { name: "jobs, kind", route: "/jobs?kind=report.build", ready: '[data-testid="job-row"]' },
  { name: "jobs, tenant", route: "/jobs?tenant=tenant-7", ready: '[data-testid="job-row"]' },
  { name: "jobs, payload", route: `/jobs?payload=${encodeURIComponent('{"customer":{"id":42}}')}`, ready: '[data-testid="job-row"]' },
  { name: "jobs, payload (no match)", route: `/jobs?payload=${encodeURIComponent('{"customer":{"id":-1}}')}`, ready: '[data-testid="empty"]' },
  { name: "a job", route: "/jobs/{middle}", ready: '[data-testid="job-facts"]' },
  { name: "overview", route: "/", ready: '[data-testid="jobs-by-status"]' },
];

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `/api/v1/jobs/123/logs?…` → `GET /api/v1/jobs/{id}/logs` */
function template(method, url) {
  const { pathname } = new URL(url);
  return `${method} ${pathname.replace(/\/\d+(?=\/|$)/g, "/{id}")}`;
}

async function startServer(dataDir) {
  const child = spawn(binary, ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PLUGBOARD_LOG: "warn" },
  });
  const link = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const match = /^console: (http:\/\/\S+)\/#\/sign-in/.exec(line);
      if (match) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`plugboard serve exited with ${code} before printing its console link`)));
  });
  const token = (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim();
  return { url: link, token, child };
}

async function stopServer(server) {
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  server.child.kill("SIGTERM");
  await exited;
}

async function measure(browser, server, page, middleId) {
  const route = page.route.replace("{middle}", String(middleId));
  const runs = [];
  for (let rep = 0; rep < REPS; rep++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript(
      ({ token, selector }) => {
        // Signed in as the console keeps it: the token in the tab's sessionStorage.
        try {
          sessionStorage.setItem("plugboard.token", token);
        } catch {
          // A frame without storage (about:blank): nothing to sign in.
        }
        // The moment the content is in the document, then the frame that paints it.
        const observer = new MutationObserver(() => {
          if (document.querySelector(selector)) {
            observer.disconnect();
            requestAnimationFrame(() => {
              window.__usefulPaint = performance.now();
            });
          }
        });
        document.addEventListener("DOMContentLoaded", () => observer.observe(document.body, { childList: true, subtree: true }));
      },
      { token: server.token, selector: page.ready },
    );
    const tab = await context.newPage();
    const calls = [];
    tab.on("response", (response) => {
      if (!new URL(response.url()).pathname.startsWith("/api/")) return;
      const timing = /app;dur=([\d.]+)/.exec(response.headers()["server-timing"] ?? "");
      calls.push({ call: template(response.request().method(), response.url()), serverMs: timing ? Number(timing[1]) : null });
    });
    await tab.goto(`${server.url}/#${route}`);
    await tab.waitForFunction(() => window.__usefulPaint !== undefined, null, { timeout: 30_000 }).catch((error) => {
      throw new Error(`${page.name} (#${route}) showed no ${page.ready} within 30 s: ${error.message}`);
    });
    const paintMs = await tab.evaluate(() => window.__usefulPaint);
    const rows = await tab.locator('[data-testid="job-row"]').count();
    runs.push({ paintMs, calls, rows });
    await context.close();
  }
  const byCall = new Map();
  for (const { calls } of runs) {
    for (const { call, serverMs } of calls) {
      if (serverMs === null) continue;
      if (!byCall.has(call)) byCall.set(call, []);
      byCall.get(call).push(serverMs);
    }
  }
  return {
    page: page.name,
    route,
    paintMsMedian: median(runs.map((r) => r.paintMs)),
    paintMsMax: Math.max(...runs.map((r) => r.paintMs)),
    rows: runs[0].rows,
    calls: [...byCall].map(([call, values]) => ({ call, serverMsMedian: median(values), count: values.length / REPS })),
  };
}

async function measureDatabase(browser, label, jobs) {
  const workDir = await mkdtemp(path.join(tmpdir(), "plugboard-bench-console-"));
  try {
    const dataDir = path.join(workDir, "data");
    const started = Date.now();
    await run(binary, ["bench", "seed", "--mix", "--jobs", String(jobs), "--data-dir", dataDir], { maxBuffer: 1 << 20 });
    const seedSeconds = (Date.now() - started) / 1000;
    console.error(`${label}: stored ${jobs} jobs in ${seedSeconds.toFixed(0)} s`);
    const server = await startServer(dataDir);
    try {
      const middleId = Math.floor(jobs / 2);
      const results = [];
      for (const page of PAGES) {
        const result = await measure(browser, server, page, middleId);
        console.error(`${label}: ${result.page}: ${result.paintMsMedian.toFixed(0)} ms (${result.rows} rows)`);
        results.push(result);
      }
      return { label, jobs, seedSeconds, results };
    } finally {
      await stopServer(server);
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
let report;
try {
  const floor = await measureDatabase(browser, `${FLOOR_JOBS} jobs`, FLOOR_JOBS);
  const full = await measureDatabase(browser, `${JOBS} jobs`, JOBS);
  report = { reps: REPS, chromium: browser.version(), floor, full };
} finally {
  await browser.close();
}
await mkdir(outDir, { recursive: true });
await writeFile(path.join(outDir, "console.json"), JSON.stringify(report, null, 2));

const lines = [];
lines.push(`First useful paint, median of ${REPS} fresh tabs (Chromium ${report.chromium}), SQLite, ${JOBS.toLocaleString("en")} jobs vs ${FLOOR_JOBS.toLocaleString("en")}:`);
lines.push("");
lines.push(`| page | ${FLOOR_JOBS.toLocaleString("en")} jobs | ${JOBS.toLocaleString("en")} jobs | ratio | rows | API calls: server time (median, ${JOBS.toLocaleString("en")} jobs) |`);
lines.push("| --- | ---: | ---: | ---: | ---: | --- |");
for (const [index, result] of report.full.results.entries()) {
  const base = report.floor.results[index];
  const calls = result.calls.map((c) => `${c.call} ${c.serverMsMedian.toFixed(1)} ms`).join("; ");
  lines.push(
    `| ${result.page} | ${base.paintMsMedian.toFixed(0)} ms | ${result.paintMsMedian.toFixed(0)} ms (max ${result.paintMsMax.toFixed(0)}) | ${(result.paintMsMedian / base.paintMsMedian).toFixed(2)} | ${result.page.startsWith("jobs") && result.rows > 0 ? result.rows : "–"} | ${calls} |`,
  );
}
const text = lines.join("\n");
await writeFile(path.join(outDir, "console.md"), text + "\n");
console.log(text);
