#!/usr/bin/env node
// hello-node: a plugboard plugin written from docs/protocol.md alone, with no SDK and no npm
// packages (Node.js 18 or later).
//
// The host writes JSON-RPC 2.0 messages to our stdin, one per line; we write ours to stdout,
// one per line, and nothing else: every human-readable line goes to stderr, which the host
// keeps as the plugin's log. Requests go both ways and overlap, so each request is handled in
// its own async task and our own requests to the host (kv/get, kv/set) wait in `pending`.
'use strict';

const readline = require('node:readline');

const PROTOCOL_VERSION = 1;
const PLUGIN = { id: 'hello-node', name: 'Hello (Node.js)', version: '0.1.0' };

// Error codes of the protocol (docs/protocol.md, "Errors").
const INVALID_REQUEST = -32600;
const METHOD_NOT_FOUND = -32601;
const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;
const JOB_FAILED = -32000;
const NOT_RETRYABLE = -32001;
const CANCELLED = -32002;
const UNSUPPORTED_PROTOCOL_VERSION = -32003;

const CONFIG_SCHEMA = {
  type: 'object',
  properties: {
    greeting: { type: 'string', default: 'Hello', maxLength: 40, description: 'How to greet' },
  },
  additionalProperties: false,
};

const GREET_TOOL = {
  name: 'greet',
  description: 'Greets someone by name.',
  inputSchema: {
    type: 'object',
    properties: { name: { type: 'string', description: 'Who to greet' } },
    required: ['name'],
  },
};

/** An error answered to the host as a JSON-RPC error object. */
class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

// ---- Writing -------------------------------------------------------------------------------

function send(message) {
  // JSON.stringify never writes a raw newline, so one message is one line.
  process.stdout.write(JSON.stringify(message) + '\n');
}

function respond(id, result) {
  send({ jsonrpc: '2.0', id, result });
}

function respondError(id, error) {
  const body = { code: error.code, message: error.message };
  if (error.data !== undefined) body.data = error.data;
  send({ jsonrpc: '2.0', id, error: body });
}

function notify(method, params) {
  send({ jsonrpc: '2.0', method, params });
}

/** A line in the job's log when `requestId` names a run, else in the plugin's own log. */
function log(level, message, requestId) {
  const params = { level, message };
  if (requestId !== undefined) params.requestId = requestId;
  notify('log', params);
}

/** Writes to stderr: the plugin's own log, for things that are not about one request. */
function debug(message) {
  process.stderr.write(`hello-node: ${message}\n`);
}

// ---- Calling the host ----------------------------------------------------------------------

let nextId = 1;
const pending = new Map();

/** Sends a request to the host and resolves with its result (rejects with an RpcError). */
function callHost(method, params) {
  // Our ids only have to be unique among our own requests in flight; strings make them easy to
  // tell apart from the host's numbers in a trace.
  const id = `hello-${nextId++}`;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    send({ jsonrpc: '2.0', id, method, params });
  });
}

function onResponse(message) {
  const waiter = pending.get(message.id);
  if (!waiter) {
    debug(`an answer to ${JSON.stringify(message.id)}, which we did not ask`);
    return;
  }
  pending.delete(message.id);
  if (message.error) {
    const { code, message: text, data } = message.error;
    waiter.reject(new RpcError(code, text, data));
  } else {
    waiter.resolve(message.result);
  }
}

// ---- Cancellation --------------------------------------------------------------------------

// Requests in flight that can be cancelled, by the host's id.
const running = new Map();

function throwIfCancelled(signal) {
  if (signal.aborted) {
    throw new RpcError(CANCELLED, `cancelled: ${signal.reason || 'the host asked'}`);
  }
}

/** Waits `ms`, or until the request is cancelled. */
function wait(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      try {
        throwIfCancelled(signal);
        resolve();
      } catch (error) {
        reject(error);
      }
    }
  });
}

// ---- Methods -------------------------------------------------------------------------------

function greetingOf(values) {
  const greeting = values && typeof values.greeting === 'string' ? values.greeting.trim() : '';
  return greeting || 'Hello';
}

function initialize(params) {
  if (params.protocolVersion !== PROTOCOL_VERSION) {
    throw new RpcError(
      UNSUPPORTED_PROTOCOL_VERSION,
      `hello-node speaks protocol ${PROTOCOL_VERSION}; the host sent ${params.protocolVersion}`,
      { supported: [PROTOCOL_VERSION] },
    );
  }
  debug(`initialized by ${params.host.name} ${params.host.version}, data in ${params.dataDir}`);
  return {
    protocolVersion: PROTOCOL_VERSION,
    plugin: PLUGIN,
    metadata: { configSchema: CONFIG_SCHEMA, events: [], routes: [], ui: [], tools: [GREET_TOOL] },
  };
}

async function run(params, requestId, signal) {
  const { job, trigger, tenant, config } = params;
  const who = tenant || 'nobody';
  // kv is scoped to this plugin and the tenant; without a tenant, to the plugin alone.
  const scope = tenant === undefined ? {} : { tenant };
  log('info', `job ${job.id}, attempt ${job.attempt} of ${job.maxAttempts}, ${trigger.kind} run for ${who}`, requestId);
  notify('progress', { requestId, progress: 0, total: 2, message: 'reading the run count' });

  // Slow work on demand (the tests use it to cancel a run in flight).
  const waitMs = params.payload && Number(params.payload.waitMs);
  if (waitMs > 0) await wait(waitMs, signal);

  let stored;
  try {
    stored = await callHost('kv/get', { ...scope, key: 'runs' });
  } catch (error) {
    throw hostFailure('kv/get', error);
  }
  throwIfCancelled(signal);
  const runs = (typeof stored.value === 'number' ? stored.value : 0) + 1;
  notify('progress', { requestId, progress: 1, total: 2, message: 'counted the run' });
  try {
    await callHost('kv/set', { ...scope, key: 'runs', value: runs });
  } catch (error) {
    throw hostFailure('kv/set', error);
  }
  notify('progress', { requestId, progress: 2, total: 2 });
  log('info', `${greetingOf(config && config.values)}, ${who}: this is run ${runs}`, requestId);
  return { result: { runs } };
}

/** A failed call to the host becomes a failed run: final if the host says it is, else retried. */
function hostFailure(method, error) {
  const final = error.data && error.data.retryable === false;
  return new RpcError(final ? NOT_RETRYABLE : JOB_FAILED, `${method} failed: ${error.message}`, {
    retryable: !final,
  });
}

function configValidate(params) {
  const values = params.values || {};
  const errors = [];
  if ('greeting' in values) {
    if (typeof values.greeting !== 'string' || values.greeting.trim() === '') {
      errors.push({ path: '/greeting', message: 'the greeting must be some text, for example "Hi"' });
    }
  }
  return { valid: errors.length === 0, errors };
}

function toolsCall(params) {
  if (params.name !== GREET_TOOL.name) {
    throw new RpcError(INVALID_PARAMS, `there is no tool \`${params.name}\`; the tools are: greet`);
  }
  const name = params.arguments && params.arguments.name;
  if (typeof name !== 'string' || name.trim() === '') {
    // A tool's own failure is a result with isError, as in MCP, not a protocol error.
    return { content: [{ type: 'text', text: '`name` must be a non-empty string' }], isError: true };
  }
  return { content: [{ type: 'text', text: `Hello, ${name}!` }], isError: false };
}

let shuttingDown = false;

async function shutdown() {
  shuttingDown = true;
  // Finish what is in flight before answering.
  await Promise.allSettled([...running.values()].map((entry) => entry.done));
  return {};
}

const METHODS = {
  initialize: (params) => initialize(params),
  run: (params, id, signal) => run(params, id, signal),
  'config/validate': (params) => configValidate(params),
  'tools/call': (params) => toolsCall(params),
  ping: () => ({}),
  shutdown: () => shutdown(),
};

async function onRequest(message) {
  const { id, method } = message;
  const handler = METHODS[method];
  if (!handler) {
    respondError(id, new RpcError(METHOD_NOT_FOUND, `method \`${method}\` is not implemented by hello-node`));
    return;
  }
  if (shuttingDown && method !== 'shutdown' && method !== 'ping') {
    respondError(id, new RpcError(JOB_FAILED, 'hello-node is shutting down; try again'));
    return;
  }
  const controller = new AbortController();
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  if (method !== 'shutdown') running.set(id, { controller, done });
  try {
    const result = await handler(message.params || {}, id, controller.signal);
    respond(id, result);
  } catch (error) {
    if (error instanceof RpcError) {
      respondError(id, error);
    } else {
      debug(`${method} failed: ${error && error.stack}`);
      respondError(id, new RpcError(INTERNAL_ERROR, `hello-node failed: ${error}`));
    }
  } finally {
    running.delete(id);
    finish();
  }
}

function onNotification(message) {
  if (message.method === 'cancel') {
    const { requestId, reason } = message.params || {};
    const entry = running.get(requestId);
    // The request may have finished already: then there is nothing to stop.
    if (entry) entry.controller.abort(reason || 'the host asked');
    return;
  }
  debug(`ignoring the notification \`${message.method}\``);
}

// ---- Reading -------------------------------------------------------------------------------

function onLine(line) {
  if (line.trim() === '') return;
  let message;
  try {
    message = JSON.parse(line);
  } catch (error) {
    // Not JSON: there is no id to answer, so log it and go on.
    debug(`ignoring a line that is not JSON (${error.message}): ${line.slice(0, 120)}`);
    return;
  }
  if (message === null || typeof message !== 'object' || message.jsonrpc !== '2.0') {
    debug(`ignoring a line that is not a JSON-RPC 2.0 message: ${line.slice(0, 120)}`);
    return;
  }
  const hasId = typeof message.id === 'number' || typeof message.id === 'string';
  if (typeof message.method === 'string') {
    if (hasId) {
      onRequest(message);
    } else {
      onNotification(message);
    }
  } else if (hasId && ('result' in message || 'error' in message)) {
    onResponse(message);
  } else if (hasId) {
    respondError(message.id, new RpcError(INVALID_REQUEST, 'a request needs a string `method`'));
  } else {
    debug(`ignoring a message with neither a method nor an id: ${line.slice(0, 120)}`);
  }
}

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', onLine);
// The host closes our stdin after `shutdown` (or when it stops us): finish writing and exit.
input.on('close', () => {
  for (const { controller } of running.values()) controller.abort('stdin closed');
  // The callback runs once everything written before has been handed to the pipe.
  process.stdout.write('', () => process.exit(0));
});
process.on('SIGTERM', () => process.exit(0));
