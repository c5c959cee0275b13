// The real plugboard host, for the end-to-end tests: `plugboard serve` in a temporary data
// directory on an OS-chosen port, with one plugin package made from a test plugin folder and
// the SDK's compiled dist/ vendored inside it (node_modules/@plugboard/sdk), as a plugin author
// ships it: the host's sandbox lets a plugin read only its own package, its interpreter and
// the system. Tests drive it over the REST API (and MCP) with the admin token.
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIST_DIR, REPO_ROOT, SDK_DIR } from './paths.js';

/** The binary under test: PLUGBOARD_BIN, else target/debug/plugboard of the repository. */
export const PLUGBOARD_BIN = process.env.PLUGBOARD_BIN
  ? path.resolve(process.env.PLUGBOARD_BIN)
  : path.join(process.env.CARGO_TARGET_DIR ? path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : path.join(REPO_ROOT, 'target'), 'debug', 'plugboard');

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

/** Copies the SDK into `packageDir` the way a plugin vendors it. */
export function vendorSdk(packageDir) {
  const target = path.join(packageDir, 'node_modules', '@plugboard', 'sdk');
  mkdirSync(target, { recursive: true });
  cpSync(path.join(SDK_DIR, 'package.json'), path.join(target, 'package.json'));
  cpSync(DIST_DIR, path.join(target, 'dist'), { recursive: true });
}

/**
 * Makes a folder readable by everyone, as a package must be: when plugboard runs as root, the
 * plugin runs as a user of its own (and `mkdtemp` makes folders only their owner can open).
 */
function makeReadable(dir) {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const target = path.join(dir, entry.name);
    if (entry.isDirectory()) makeReadable(target);
    else chmodSync(target, statSync(target).mode | 0o444);
  }
}

/**
 * Starts `plugboard serve` with the plugin in `pluginDir` (copied into a temporary package
 * with the SDK vendored) and waits until the plugin is ready. The server is stopped, waited
 * for and its directory removed when test `t` ends.
 */
export async function startHost(t, pluginDir, { pluginId, args = [] } = {}) {
  if (!existsSync(PLUGBOARD_BIN)) {
    throw new Error(`no plugboard binary at ${PLUGBOARD_BIN}: build it with \`cargo build -p plugboard\`, or set PLUGBOARD_BIN`);
  }
  const root = mkdtempSync(path.join(os.tmpdir(), 'plugboard-sdk-ts-'));
  // The plugin runs as a user of its own when plugboard is root: it must reach its package.
  chmodSync(root, 0o755);
  const packageDir = path.join(root, 'package');
  cpSync(pluginDir, packageDir, { recursive: true });
  vendorSdk(packageDir);
  makeReadable(packageDir);
  const host = new Host(root, path.join(root, 'data'));
  t.after(() => host.stop());
  host.start(packageDir, args);
  await host.waitForLog(/plugboard is running.*address=(\S+)/, 'the server to run').then((match) => {
    host.url = `http://${match[1]}`;
  });
  host.token = readFileSync(path.join(host.dataDir, 'admin-token'), 'utf8').trim();
  const id = pluginId ?? /id = "([^"]+)"/.exec(readFileSync(path.join(packageDir, 'plugin.toml'), 'utf8'))[1];
  const label = `plugin=${id.replace(/[.]/g, '\\.')}#0`;
  await host.waitForLog(new RegExp(`plugin ready ${label}`), `plugin ${id} to be ready`, {
    failOn: new RegExp(`plugin process ended; restarting ${label}`),
  });
  return host;
}

/** One running `plugboard serve`. */
export class Host {
  constructor(root, dataDir) {
    this.root = root;
    this.dataDir = dataDir;
    /** Everything the server wrote (its log is on stderr). */
    this.log = '';
    this.url = '';
    this.token = '';
    this.child = undefined;
    this.exited = undefined;
    /** How long the last stop took, in ms (the host stops its plugins first). */
    this.stopMs = undefined;
  }

  start(packageDir, args) {
    this.child = spawn(
      PLUGBOARD_BIN,
      ['serve', '--data-dir', this.dataDir, '--listen', '127.0.0.1:0', '--plugin', packageDir, ...args],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.root, LANG: 'C.UTF-8', PLUGBOARD_LOG: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const append = (chunk) => {
      this.log += chunk.toString('utf8');
    };
    this.child.stdout.on('data', append);
    this.child.stderr.on('data', append);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(signal ?? code)));
  }

  /** Resolves with the match of `pattern` in the server's log, polling until the deadline. */
  async waitForLog(pattern, what, { timeoutMs = START_TIMEOUT_MS, failOn } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.log);
      if (match) return match;
      if (failOn?.test(this.log)) throw new Error(`failed waiting for ${what}; the server's log:\n${this.log}`);
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`plugboard exited before ${what}; its log:\n${this.log}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the server's log:\n${this.log}`);
      await sleep(25);
    }
  }

  /** Stops the server (SIGTERM, then SIGKILL), waits for it and removes its directory. */
  async stop() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      const began = Date.now();
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
      this.stopMs = Date.now() - began;
    }
    rmSync(this.root, { recursive: true, force: true });
  }

  /** A request with the admin token; resolves with `{ status, headers, body, json }`. */
  async request(method, urlPath, { body, headers = {}, raw = false } = {}) {
    const init = { method, headers: { authorization: `Bearer ${this.token}`, ...headers } };
    if (body !== undefined) {
      if (raw) init.body = body;
      else {
        init.body = JSON.stringify(body);
        init.headers['content-type'] = 'application/json';
      }
    }
    const response = await fetch(`${this.url}${urlPath}`, init);
    const bytes = Buffer.from(await response.arrayBuffer());
    let json;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, body: bytes, json };
  }

  /** A JSON API call that must answer `expected`; resolves with the parsed body. */
  async api(method, urlPath, body, expected = [200, 201, 202]) {
    const response = await this.request(method, urlPath, { body });
    const wanted = Array.isArray(expected) ? expected : [expected];
    if (!wanted.includes(response.status)) {
      throw new Error(`${method} ${urlPath} answered ${response.status}: ${response.body.toString('utf8')}`);
    }
    return response.json;
  }

  /** Enqueues a `plugin.run` job of `plugin` and resolves with the job. */
  enqueue(plugin, { tenant, payload, maxAttempts } = {}) {
    const job = { kind: 'plugin.run', payload: { plugin } };
    if (tenant !== undefined) job.payload.tenant = tenant;
    if (payload !== undefined) job.payload.payload = payload;
    if (maxAttempts !== undefined) job.max_attempts = maxAttempts;
    return this.api('POST', '/api/v1/jobs', job, 201);
  }

  /** Polls job `id` until `until(job)` holds (default: it has finished); resolves with it. */
  async waitJob(id, until = (job) => FINISHED.has(job.status), timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.api('GET', `/api/v1/jobs/${id}`);
      if (until(job)) return job;
      if (Date.now() > deadline) {
        throw new Error(`job ${id} did not get there within ${timeoutMs} ms: ${JSON.stringify(job)}\nthe server's log:\n${this.log}`);
      }
      await sleep(50);
    }
  }

  /** The messages of job `id`'s log, as `level: message`. */
  async logLines(id) {
    const page = await this.api('GET', `/api/v1/jobs/${id}/logs?after_seq=0&limit=500`);
    return page.lines.map((line) => `${line.level}: ${line.message}`);
  }
}

/** A minimal MCP client (Streamable HTTP, the 2025-11-25 session flow) on fetch. */
export class McpClient {
  constructor(host) {
    this.host = host;
    this.session = undefined;
    this.nextId = 1;
  }

  async post(message) {
    const headers = {
      authorization: `Bearer ${this.host.token}`,
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (this.session) {
      headers['mcp-session-id'] = this.session;
      headers['mcp-protocol-version'] = '2025-11-25';
    }
    const response = await fetch(`${this.host.url}/mcp`, { method: 'POST', headers, body: JSON.stringify(message) });
    const text = await response.text();
    if (!response.ok) throw new Error(`MCP ${message.method} answered ${response.status}: ${text}`);
    return { response, json: text ? JSON.parse(text) : undefined };
  }

  /** Starts a session. */
  async connect() {
    const { response } = await this.post({
      jsonrpc: '2.0',
      id: this.nextId++,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'sdk-typescript-tests', version: '1' } },
    });
    this.session = response.headers.get('mcp-session-id');
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  /** A request; resolves with its result, throws on an error. */
  async call(method, params) {
    const { json } = await this.post({ jsonrpc: '2.0', id: this.nextId++, method, params });
    if (json.error) throw new Error(`MCP ${method} failed: ${JSON.stringify(json.error)}`);
    return json.result;
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
