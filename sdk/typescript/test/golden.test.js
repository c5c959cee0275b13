// The SDK against the protocol's golden files (crates/plugboard-protocol/tests/golden/).
//
// Every golden file decodes as the kind its name says; the host's requests read into the SDK's
// types; the host's answers to kv and emit come out of a Context as the right values or
// errors; and a twin of the doc's hello-node plugin, written with the SDK and spawned as the
// host spawns plugins, answers the host-side golden messages with the plugin-side ones BYTE FOR
// BYTE (compact JSON, keys in the golden order, ids included), and writes nothing else on stdout.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Context, HostError, RunContext } from '../dist/index.js';
import { readConfigParams, readRunParams } from '../dist/params.js';
import { readHttpParams } from '../dist/routes.js';
import { readToolsCallParams } from '../dist/tools.js';
import { decode } from '../dist/wire.js';
import { golden, goldenLine, goldenNames } from './support/golden.js';
import { PLUGINS_DIR } from './support/paths.js';
import { PluginProcess } from './support/peer.js';

const GOLDEN_PLUGIN = path.join(PLUGINS_DIR, 'golden');

describe('golden files', () => {
  it('are all there (this suite covers each one)', () => {
    assert.ok(goldenNames().length >= 44, `only ${goldenNames().length} golden files`);
  });

  it('each decodes as the kind its name says', () => {
    for (const name of goldenNames()) {
      const kind = name.split('.').at(-1);
      assert.equal(decode(goldenLine(name)).kind, kind, name);
    }
  });

  it('read into the SDK types', () => {
    const run = readRunParams(golden('run.request').params);
    assert.deepEqual(run.job, { id: 7301, attempt: 1, maxAttempts: 5, deadline: '2026-08-14T09:05:00Z' });
    assert.deepEqual(run.trigger, {
      kind: 'event',
      event: { id: 'evt_01J5Y8', type: 'form.submitted', payload: { form: 'contact', email: 'ada@example.com' } },
    });
    assert.equal(run.tenant, 'acme');
    assert.deepEqual(run.config, { id: 'cfg_01J5X2', name: 'default', values: { greeting: 'Hi' } });
    assert.deepEqual(run.payload, {});
    const scheduled = readRunParams(golden('run.schedule.request').params);
    assert.deepEqual(scheduled.trigger, { kind: 'schedule', fireTime: '2026-08-14T09:00:00Z' });
    assert.equal(scheduled.payload, null);
    assert.equal(scheduled.job.deadline, undefined);
    const manual = readRunParams(golden('run.manual.request').params);
    assert.deepEqual([manual.tenant, manual.config, manual.payload], [undefined, undefined, { dryRun: true }]);
    for (const [method, name] of [['config/validate', 'config-validate'], ['config/test', 'config-test']]) {
      assert.deepEqual(readConfigParams(method, golden(`${name}.request`).params), { tenant: 'acme', values: { greeting: 'Hi' } });
    }
    const http = readHttpParams(golden('http.request').params);
    assert.deepEqual(
      [http.method, http.path, http.query, http.tenant, http.route, http.access],
      ['POST', '/github', 'delivery=1', 'acme', '/github', 'webhook'],
    );
    assert.deepEqual(http.json(), { ref: 'refs/heads/main' });
    assert.equal(http.header('X-GitHub-Event'), 'push');
    assert.equal(http.searchParams.get('delivery'), '1');
    assert.deepEqual(http.config, { id: 'cfg_7d2c', name: 'main', values: { secret: 'whsec_4f2a9' } });
    assert.deepEqual(readToolsCallParams(golden('tools-call.request').params), {
      name: 'greet',
      arguments: { name: 'Ada' },
      tenant: 'acme',
    });
  });
});

/** A HostConnection that records what a Context sends and answers with one golden response. */
function scriptedHost(responseName) {
  const response = golden(responseName);
  const host = {
    calls: [],
    notify(method, params) {
      host.calls.push({ method, line: JSON.stringify(params) });
    },
    async call(method, params) {
      host.calls.push({ method, line: JSON.stringify(params) });
      if (response.error) throw new HostError(method, response.error);
      return response.result;
    },
  };
  return host;
}

function contextFor(host) {
  return new Context({ host, requestId: 2, method: 'run', tenant: 'acme', dataDir: '/data', signal: new AbortController().signal });
}

/** Calls `call(ctx)` against a host answering `responseName`: the value and the params line sent. */
async function ask(responseName, call) {
  const host = scriptedHost(responseName);
  const value = await call(contextFor(host));
  return { value, sent: host.calls[0].line };
}

const paramsLine = (name) => JSON.stringify(golden(name).params);

describe('the host answers to kv and emit', () => {
  it('come back as values, and the params sent are the golden ones byte for byte', async () => {
    let got = await ask('kv-get.response', (ctx) => ctx.kv.get('runs'));
    assert.deepEqual(got, { value: 1, sent: paramsLine('kv-get.request') });
    got = await ask('kv-get.missing.response', (ctx) => ctx.kv.get('runs'));
    assert.equal(got.value, null);
    got = await ask('kv-set.response', (ctx) => ctx.kv.set('runs', 2));
    assert.deepEqual(got, { value: undefined, sent: paramsLine('kv-set.request') });
    got = await ask('kv-delete.response', (ctx) => ctx.kv.delete('runs'));
    assert.deepEqual(got, { value: true, sent: paramsLine('kv-delete.request') });
    got = await ask('kv-list.response', (ctx) => ctx.kv.list({ prefix: 'seen/', cursor: 'seen/0002', limit: 2 }));
    assert.equal(got.sent, paramsLine('kv-list.request'));
    assert.deepEqual(got.value, {
      items: [
        { key: 'seen/0003', value: { at: '2026-08-14T09:00:00Z' } },
        { key: 'seen/0004', value: true },
      ],
      nextCursor: 'seen/0004',
    });
    got = await ask('emit.response', (ctx) => ctx.emit('hello.greeted', { name: 'Ada' }, { idempotencyKey: 'job-7301' }));
    assert.deepEqual(got, { value: 'evt_01J5YA', sent: paramsLine('emit.request') });
  });

  it('that are errors reject with a HostError carrying the code, the message and retryability', async () => {
    const cases = [
      ['kv-get.error-host.response', (ctx) => ctx.kv.get('runs'), -32010, true],
      ['kv-set.error-too-large.response', (ctx) => ctx.kv.set('runs', 2), -32602, false],
      ['emit.error-permission-denied.response', (ctx) => ctx.emit('hello.greeted', null, { tenant: 'globex' }), -32011, false],
    ];
    for (const [name, call, code, retryable] of cases) {
      await assert.rejects(ask(name, call), (error) => {
        assert.ok(error instanceof HostError, name);
        assert.equal(error.code, code);
        assert.equal(error.hostMessage, golden(name).error.message);
        assert.equal(error.retryable, retryable, name);
        return true;
      });
    }
  });

  it('log and progress notifications have the golden params', () => {
    const host = scriptedHost('kv-set.response');
    const ctx = new RunContext(
      { host, requestId: 2, method: 'run', tenant: 'acme', dataDir: '/data', signal: new AbortController().signal },
      readRunParams(golden('run.request').params),
    );
    ctx.info('greeting acme with Hi');
    ctx.progress(1, 2, 'counted the run');
    assert.deepEqual(
      host.calls.map((call) => [call.method, call.line]),
      [
        ['log', paramsLine('log.notification')],
        ['progress', paramsLine('progress.notification')],
      ],
    );
  });
});

describe('the golden twin of hello-node, spawned as the host spawns it', () => {
  function spawnTwin(t, ...args) {
    const plugin = new PluginProcess('main.js', args, { cwd: GOLDEN_PLUGIN });
    t.after(() => plugin.close());
    const answers = {
      'kv/get': 'kv-get.response',
      'kv/set': 'kv-set.response',
      'kv/delete': 'kv-delete.response',
      'kv/list': 'kv-list.response',
      emit: 'emit.response',
    };
    plugin.answerWith = (request) => golden(answers[request.method]);
    return plugin;
  }

  /** Sends golden request `name` (or `request`) and checks the answer's line is golden `expected`. */
  async function expectLine(plugin, request, expected) {
    plugin.send(typeof request === 'string' ? golden(request) : request);
    const id = typeof request === 'string' ? golden(request).id : request.id;
    const { raw } = await plugin.response(id);
    assert.equal(raw, goldenLine(expected));
  }

  it('writes the plugin-side golden messages byte for byte, and nothing else', async (t) => {
    const plugin = spawnTwin(t);
    await expectLine(plugin, 'initialize.request', 'initialize.response');
    // Logged by the initialize hook before the answer: the plugin's own log, no requestId.
    assert.equal(plugin.lines[0].raw, goldenLine('log.plugin.notification'));

    await expectLine(plugin, 'run.request', 'run.response');
    assert.deepEqual(
      plugin.notifications(2).map((line) => line.raw),
      [goldenLine('log.notification'), goldenLine('progress.notification')],
    );
    assert.deepEqual(
      plugin.pluginRequests().map((line) => line.raw),
      [goldenLine('kv-get.request'), goldenLine('kv-set.request')],
    );

    plugin.send(golden('run.schedule.request'));
    assert.equal((await plugin.response(3)).raw, '{"jsonrpc":"2.0","id":3,"result":{}}');
    assert.deepEqual(
      plugin.pluginRequests().slice(2).map((line) => line.raw),
      [goldenLine('kv-delete.request'), goldenLine('kv-list.request'), goldenLine('emit.request')],
    );

    await expectLine(plugin, 'config-validate.request', 'config-validate.response');
    const blank = golden('config-validate.request');
    blank.id = 51;
    blank.params.values.greeting = '   ';
    const invalid = golden('config-validate.invalid.response');
    invalid.id = 51;
    plugin.send(blank);
    assert.equal((await plugin.response(51)).raw, JSON.stringify(invalid));

    await expectLine(plugin, 'config-test.request', 'config-test.response');
    await expectLine(plugin, 'http.request', 'http.response');
    await expectLine(plugin, 'tools-call.request', 'tools-call.response');
    const nameless = golden('tools-call.request');
    nameless.id = 81;
    nameless.params.arguments.name = '';
    const toolError = golden('tools-call.error-tool.response');
    toolError.id = 81;
    plugin.send(nameless);
    assert.equal((await plugin.response(81)).raw, JSON.stringify(toolError));

    const emptyGreeting = golden('run.request');
    emptyGreeting.id = 21;
    emptyGreeting.params.config.values.greeting = ' ';
    const notRetryable = golden('run.error-not-retryable.response');
    notRetryable.id = 21;
    plugin.send(emptyGreeting);
    assert.equal((await plugin.response(21)).raw, JSON.stringify(notRetryable));

    const failing = golden('run.request');
    failing.id = 22;
    failing.params.payload = { fail: true };
    const retryable = golden('run.error-retryable.response');
    retryable.id = 22;
    plugin.send(failing);
    assert.equal((await plugin.response(22)).raw, JSON.stringify(retryable));

    // A run that waits, cancelled: answered -32002 with the host's reason, at once.
    const waiting = golden('run.request');
    waiting.params.payload = { wait: true };
    // The plugin reads lines in order: the run is waiting on ctx.signal before the cancel arrives.
    plugin.send(waiting);
    const sentAt = Date.now();
    plugin.send(golden('cancel.notification'));
    const cancelled = await plugin.waitFor((m) => m.id === 2 && m.error !== undefined, 'the cancelled answer');
    assert.equal(cancelled.raw, goldenLine('run.error-cancelled.response'));
    assert.ok(Date.now() - sentAt < 2_000, 'the cancel is answered at once, not after a grace');

    await expectLine(plugin, 'ping.request', 'ping.response');
    await expectLine(plugin, 'shutdown.request', 'shutdown.response');
    assert.equal(await plugin.exitCode(), 0);
    assert.deepEqual(plugin.badLines, [], 'every stdout line is a protocol message');
    // Every line is one of the above: a log, progress, kv/emit request or a response.
    assert.ok(plugin.lines.every((line) => line.raw === JSON.stringify(line.message)), 'all lines compact');
  });

  it('without testConfig answers config/test with the golden -32601', async (t) => {
    const plugin = spawnTwin(t, '--minimal');
    await plugin.exchange(golden('initialize.request'));
    await expectLine(plugin, 'config-test.request', 'config-test.error-method-not-found.response');
  });

  it('refuses another protocol version with the golden shape', async (t) => {
    const plugin = spawnTwin(t);
    const request = golden('initialize.request');
    request.params.protocolVersion = 2;
    plugin.send(request);
    const answer = (await plugin.response(1)).message;
    const expected = golden('initialize.error-unsupported-version.response');
    // The golden file is a plugin speaking 2 refusing a host speaking 1; this is the reverse.
    assert.equal(answer.error.code, expected.error.code);
    assert.equal(answer.error.message, 'this plugin speaks protocol 1; plugboard sent protocol 2');
    assert.deepEqual(answer.error.data, { supported: [1] });
    assert.deepEqual(Object.keys(answer.error), Object.keys(expected.error));
  });
});
