// One real `plugboard serve` for one test: a temporary data directory, a port the OS picks,
// the sign-in link it prints and the admin token it writes. `stop()` ends it (SIGTERM, then
// SIGKILL after a few seconds), waits for it to exit and removes the temporary directory; a
// worker that exits with servers still running kills them on the way out.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

/**
 * The plugboard binary: `PLUGBOARD_BIN` when set, else `$CARGO_TARGET_DIR/debug/plugboard`,
 * with `CARGO_TARGET_DIR` defaulting to `~/.cache/plugboard-ci-target` as in `.ci/run`.
 */
export function plugboardBinary(): string {
  const fromEnv = process.env.PLUGBOARD_BIN;
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(process.env.HOME ?? "/root", ".cache", "plugboard-ci-target");
  const binary = fromEnv || path.join(targetDir, "debug", "plugboard");
  if (!existsSync(binary)) {
    throw new Error(
      `the plugboard binary ${binary} does not exist (${fromEnv ? "from PLUGBOARD_BIN" : "from CARGO_TARGET_DIR/debug, default ~/.cache/plugboard-ci-target/debug"}); ` +
        "build it with `cargo build -p plugboard` or set PLUGBOARD_BIN to a built binary",
    );
  }
  return binary;
}

export interface Server {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  /** The one-time sign-in link `serve` printed. */
  signInLink: string;
  adminToken: string;
  /** The temporary directory holding the data directory, packages and the server's log. */
  workDir: string;
  dataDir: string;
  /** What the server wrote on stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function startServer(): Promise<Server> {
  const binary = plugboardBinary();
  const workDir = await mkdtemp(path.join(tmpdir(), "plugboard-e2e-"));
  // Plugins run as a user of their own: they must be able to reach their packages in here.
  await chmod(workDir, 0o755);
  const dataDir = path.join(workDir, "data");
  // The server is configured by its flags alone: no PLUGBOARD_* setting of the caller's (an
  // admin token, a database, a listen address) reaches it, but two. PLUGBOARD_CONSOLE_DIR, when
  // set, serves the console from that folder instead of the copy compiled into the binary, and
  // PLUGBOARD_LOG sets what it logs.
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("PLUGBOARD_") || name === "PLUGBOARD_CONSOLE_DIR" || name === "PLUGBOARD_LOG") env[name] = value;
  }
  const child = spawn(binary, ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"], {
    cwd: workDir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  exited.then(() => running.delete(child));

  let output = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    output += chunk;
  });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(workDir, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    const link = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`plugboard serve printed no console link within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      const lines = createInterface({ input: child.stdout });
      lines.on("line", (line) => {
        output += line + "\n";
        const match = /^console: (http:\/\/\S+\/#\/sign-in\?code=\S+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`plugboard serve exited (${signal ?? `code ${code}`}) before printing its console link`));
      });
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    const url = new URL(link).origin;
    await waitReady(url);
    const adminToken = await readAdminToken(path.join(dataDir, "admin-token"));
    return { url, signInLink: link, adminToken, workDir, dataDir, output: () => output, stop };
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- server output ---\n${output}`);
  }
}

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const answer = await fetch(`${url}/readyz`);
      if (answer.ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${url}/readyz did not answer 200 within ${START_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function readAdminToken(file: string): Promise<string> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const token = await readFile(file, "utf8").then((text) => text.trim(), () => "");
    if (token) return token;
    if (Date.now() > deadline) throw new Error(`${file} holds no admin token ${START_TIMEOUT_MS / 1000} s after start`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
