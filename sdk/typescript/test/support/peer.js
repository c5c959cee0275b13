// The host's side of the wire, for protocol-level tests: either a plugin process spawned as the
// host spawns it (PluginProcess: stdin and stdout pipes, a cleared environment), or a plugin
// served in this process on in-memory streams (InProcess). Both record every line the plugin
// writes, raw and parsed, and let a test wait for one with a deadline.
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { serve } from '../../dist/index.js';

/** How long any wait lasts before the test fails: generous, nothing waits for it on success. */
export const DEADLINE_MS = 10_000;

class Recorder {
  constructor() {
    /** Every line the plugin wrote on stdout: { raw, message } (message undefined if not JSON). */
    this.lines = [];
    /** Lines that are not JSON-RPC 2.0 messages. */
    this.badLines = [];
    /** Answers the plugin's own requests: (request) => a whole response message, or undefined. */
    this.answerWith = undefined;
    this.buffer = '';
    this.waiters = [];
  }

  feed(chunk) {
    this.buffer += chunk.toString('utf8');
    let end;
    while ((end = this.buffer.indexOf('\n')) >= 0) {
      const raw = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 1);
      this.record(raw);
    }
  }

  record(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      message = undefined;
    }
    if (message === undefined || message === null || message.jsonrpc !== '2.0') this.badLines.push(raw);
    const line = { raw, message };
    this.lines.push(line);
    if (message && typeof message.method === 'string' && message.id !== undefined && this.answerWith) {
      const answer = this.answerWith(message);
      if (answer !== undefined) this.send(answer);
    }
    for (const waiter of [...this.waiters]) waiter.check();
  }

  /** Resolves with the first recorded line for which `predicate(message, raw)` holds. */
  waitFor(predicate, what, timeoutMs = DEADLINE_MS) {
    const found = this.lines.find((line) => line.message !== undefined && predicate(line.message, line.raw));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const hit = this.lines.find((line) => line.message !== undefined && predicate(line.message, line.raw));
          if (hit) {
            clearTimeout(timer);
            this.waiters.splice(this.waiters.indexOf(waiter), 1);
            resolve(hit);
          }
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no ${what} within ${timeoutMs} ms; the plugin wrote:\n${this.lines.map((l) => l.raw).join('\n')}${this.extra()}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** The plugin's response to request `id` (its whole line record). */
  response(id, timeoutMs) {
    return this.waitFor((m) => m.id === id && m.method === undefined, `response to ${JSON.stringify(id)}`, timeoutMs);
  }

  /** The plugin's notifications, optionally only those for host request `requestId`. */
  notifications(requestId) {
    return this.lines
      .filter((l) => l.message && l.message.id === undefined && typeof l.message.method === 'string')
      .filter((l) => requestId === undefined || l.message.params?.requestId === requestId);
  }

  /** The plugin's own requests to the host. */
  pluginRequests() {
    return this.lines.filter((l) => l.message && l.message.id !== undefined && typeof l.message.method === 'string');
  }

  /** Sends a message (an object, encoded compact) or a raw line (a string). */
  send(message) {
    this.write(typeof message === 'string' ? `${message}\n` : `${JSON.stringify(message)}\n`);
  }

  /** Sends a request and resolves with the plugin's response message. */
  async exchange(request, timeoutMs) {
    this.send(request);
    return (await this.response(request.id, timeoutMs)).message;
  }

  extra() {
    return '';
  }
}

/** A plugin process, started the way the host starts one: its folder as cwd, no environment. */
export class PluginProcess extends Recorder {
  constructor(script, args = [], { cwd } = {}) {
    super();
    this.stderr = '';
    this.child = spawn(process.execPath, [script, ...args], { cwd, env: {}, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk) => this.feed(chunk));
    this.child.stderr.on('data', (chunk) => {
      this.stderr += chunk.toString('utf8');
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(signal ?? code)));
  }

  write(text) {
    this.child.stdin.write(text);
  }

  extra() {
    return `\nand on stderr:\n${this.stderr}`;
  }

  /** Resolves with the exit code (or the signal's name), failing after the deadline. */
  async exitCode(timeoutMs = DEADLINE_MS) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the plugin did not exit within ${timeoutMs} ms${this.extra()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the plugin's stdin (end of file). */
  closeStdin() {
    this.child.stdin.end();
  }

  /** Kills the plugin if it still runs and waits for it. */
  async close() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** A plugin served in this process on in-memory streams (`serve` with `input` and `output`). */
export class InProcess extends Recorder {
  constructor(plugin, options = {}) {
    super();
    this.input = new PassThrough();
    this.output = new PassThrough();
    /** The SDK's diagnostics (what it would write to stderr). */
    this.diagnostics = [];
    this.output.on('data', (chunk) => this.feed(chunk));
    this.exited = serve(plugin, {
      input: this.input,
      output: this.output,
      diagnostics: (line) => this.diagnostics.push(line),
      ...options,
    });
    this.nextId = 1;
  }

  write(text) {
    this.input.write(text);
  }

  extra() {
    return `\nand diagnostics:\n${this.diagnostics.join('\n')}`;
  }

  /** Sends `initialize` and returns the answer. */
  initialize(protocolVersion = 1) {
    return this.call('initialize', {
      protocolVersion,
      host: { name: 'plugboard', version: 'test' },
      dataDir: '/tmp/plugin-data',
    });
  }

  /** Sends a request with the next id; returns the id (await `response(id)` for the answer). */
  request(method, params = {}) {
    const id = this.nextId;
    this.nextId += 1;
    this.send({ jsonrpc: '2.0', id, method, params });
    return id;
  }

  /** Sends a request and resolves with the response message. */
  async call(method, params = {}, timeoutMs) {
    const id = this.request(method, params);
    return (await this.response(id, timeoutMs)).message;
  }

  /** Sends a notification. */
  notify(method, params) {
    this.send({ jsonrpc: '2.0', method, params });
  }

  /** Ends the input (the host closed the pipe). */
  end() {
    this.input.end();
  }
}

/** The params of a `run`, for a manual run of job `id` with `payload`. */
export function runParams(payload = null, extra = {}) {
  return { job: { id: 1, attempt: 1, maxAttempts: 3 }, trigger: { kind: 'manual' }, payload, ...extra };
}
