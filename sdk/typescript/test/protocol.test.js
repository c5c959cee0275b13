// The protocol as the SDK speaks it, request by request, on in-memory streams: the lifecycle
// (initialize, ping, shutdown, end of file), requests in flight at once, cancellation, what a
// thrown error answers, the host calls' ids and scoping, routes and tools. The golden tests
// check the exact bytes; these check the behaviour around them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  definePlugin,
  HostError,
  HttpError,
  HttpResponse,
  NotRetryable,
  PluginError,
  route,
  tool,
  ToolResult,
} from '../dist/index.js';
import { InProcess, runParams } from './support/peer.js';

/** A deferred value: a promise and its resolve. */
function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Starts `definition` (defaults filled in) on in-memory streams, initialized. */
async function start(t, definition = {}, options = {}) {
  const plugin = definePlugin({ id: 'test-plugin', version: '1.0.0', ...definition });
  const wire = new InProcess(plugin, options);
  t.after(() => wire.end());
  const answer = await wire.initialize();
  assert.ok(answer.result, JSON.stringify(answer));
  return wire;
}

describe('lifecycle', () => {
  it('answers ping at any time, and refuses work before initialize', async (t) => {
    const wire = new InProcess(definePlugin({ id: 'p', version: '1.0.0', run: () => 1 }));
    t.after(() => wire.end());
    assert.deepEqual((await wire.call('ping')).result, {});
    const early = await wire.call('run', runParams());
    assert.deepEqual(early.error, { code: -32600, message: 'run before initialize' });
    assert.equal((await wire.initialize()).result.protocolVersion, 1);
    assert.deepEqual((await wire.call('run', runParams())).result, { result: 1 });
    const again = await wire.initialize();
    assert.equal(again.error.code, -32600);
  });

  it('answers an unknown method -32601 and ignores unknown notifications', async (t) => {
    const wire = await start(t);
    wire.notify('something/new', {});
    const answer = await wire.call('resources/list');
    assert.deepEqual(answer.error, { code: -32601, message: 'method `resources/list` is not implemented by this plugin' });
    assert.deepEqual((await wire.call('run', runParams())).error.code, -32601, 'no run handler: -32601');
    assert.ok(wire.diagnostics.some((line) => line.includes('something/new')));
  });

  it('logs unreadable lines, answers -32600 when it can read the id, and goes on', async (t) => {
    const wire = await start(t, { run: () => 'ok' });
    wire.send('this is not json');
    wire.send('[{"jsonrpc":"2.0","id":5,"method":"ping"}]');
    wire.send('{"jsonrpc":"1.0","id":7,"method":"ping"}');
    wire.send('{"jsonrpc":"2.0","id":8,"method":"ping","params":3}');
    wire.send('{"jsonrpc":"2.0","id":"p-99","result":{}}');
    wire.send('');
    wire.write('{"jsonrpc":"2.0","id":9,"method":"ping","params":{}}\r\n');
    assert.deepEqual((await wire.response(7)).message.error, { code: -32600, message: 'the message lacks "jsonrpc": "2.0"' });
    assert.equal((await wire.response(8)).message.error.code, -32600);
    assert.deepEqual((await wire.response(9)).message.result, {}, 'a trailing \\r is tolerated');
    assert.deepEqual((await wire.call('run', runParams())).result, { result: 'ok' });
    assert.equal(wire.lines.filter((line) => line.message.id === 5).length, 0, 'a batch is not answered');
    assert.equal(wire.lines.filter((line) => line.message.id === null).length, 0, 'never "id": null');
    for (const what of ['this is not json', 'expected an object', 'p-99']) {
      assert.ok(wire.diagnostics.some((line) => line.includes(what)), `a diagnostic about ${what}`);
    }
  });

  it('shutdown lets requests in flight finish, refuses new work, answers {} and exits 0', async (t) => {
    const release = deferred();
    const wire = await start(t, {
      async run(ctx) {
        if (ctx.payload === 'slow') await release.promise;
        return ctx.payload;
      },
    });
    const slow = wire.request('run', runParams('slow'));
    const shutdown = wire.request('shutdown');
    const late = await wire.call('run', runParams('late'));
    assert.deepEqual(late.error, { code: -32000, message: 'the plugin is stopping (shutdown); try again' });
    assert.deepEqual((await wire.call('ping')).result, {}, 'ping still answered');
    assert.equal(wire.lines.some((line) => line.message.id === shutdown), false, 'shutdown waits for the run');
    release.resolve();
    assert.deepEqual((await wire.response(slow)).message.result, { result: 'slow' });
    assert.deepEqual((await wire.response(shutdown)).message.result, {});
    const order = wire.lines.map((line) => line.message.id);
    assert.ok(order.indexOf(slow) < order.indexOf(shutdown), 'the run is answered before shutdown');
    assert.equal(await wire.exited, 0);
  });

  it('shutdown cancels what is still running after its timeout, and answers for it', async (t) => {
    const seen = [];
    const wire = await start(
      t,
      {
        async run(ctx) {
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          seen.push(ctx.signal.reason.message);
          await new Promise(() => {}); // never settles: the SDK must answer for it
        },
      },
      { shutdownTimeoutMs: 50 },
    );
    const stuck = wire.request('run', runParams());
    const shutdown = wire.request('shutdown');
    assert.deepEqual((await wire.response(stuck)).message.error, { code: -32002, message: 'cancelled: the plugin is shutting down' });
    assert.deepEqual((await wire.response(shutdown)).message.result, {});
    assert.deepEqual(seen, ['cancelled: the plugin is shutting down']);
    assert.equal(await wire.exited, 0);
  });

  it('end of input cancels requests in flight, fails pending host calls, and exits 0', async (t) => {
    const outcomes = [];
    const wire = await start(t, {
      async run(ctx) {
        if (ctx.payload === 'kv') {
          try {
            await ctx.kv.get('k');
          } catch (error) {
            outcomes.push(`${error.name}: ${error.message}`);
          }
          return 'after';
        }
        await ctx.sleep(60_000);
      },
    });
    const waiting = wire.request('run', runParams('kv'));
    const sleeping = wire.request('run', runParams('sleep'));
    await wire.waitFor((m) => m.method === 'kv/get', 'the kv/get');
    wire.end();
    assert.equal(await wire.exited, 0);
    assert.deepEqual(outcomes, ['HostError: kv/get failed: the host closed the connection (code -32603)']);
    assert.deepEqual((await wire.response(sleeping)).message.error, { code: -32002, message: 'cancelled: the host closed the connection' });
    // The run that caught the failure and returned is answered too (the host may still read).
    assert.deepEqual((await wire.response(waiting)).message.result, { result: 'after' });
  });
});

describe('requests in flight at once', () => {
  it('answers each as it finishes and keeps reading while handlers wait on the host', async (t) => {
    const wire = await start(t, {
      async run(ctx) {
        return { [ctx.payload]: await ctx.kv.get(ctx.payload) };
      },
    });
    const first = wire.request('run', runParams('a', { tenant: 'acme' }));
    const second = wire.request('run', runParams('b', { tenant: 'acme' }));
    const [getA, getB] = await Promise.all([
      wire.waitFor((m) => m.method === 'kv/get' && m.params.key === 'a', 'kv/get a'),
      wire.waitFor((m) => m.method === 'kv/get' && m.params.key === 'b', 'kv/get b'),
    ]);
    assert.notEqual(getA.message.id, getB.message.id);
    assert.match(getA.message.id, /^p-\d+$/);
    assert.deepEqual((await wire.call('ping')).result, {}, 'ping while both wait');
    // Answer out of order: b first.
    wire.send({ jsonrpc: '2.0', id: getB.message.id, result: { value: 'B' } });
    assert.deepEqual((await wire.response(second)).message.result, { result: { b: 'B' } });
    assert.equal(wire.lines.some((line) => line.message.id === first), false);
    wire.send({ jsonrpc: '2.0', id: getA.message.id, result: { value: 'A' } });
    assert.deepEqual((await wire.response(first)).message.result, { result: { a: 'A' } });
  });

  it('refuses a second request with an id that is in flight', async (t) => {
    const release = deferred();
    const wire = await start(t, { run: () => release.promise });
    wire.send({ jsonrpc: '2.0', id: 40, method: 'run', params: runParams() });
    wire.send({ jsonrpc: '2.0', id: 40, method: 'run', params: runParams() });
    const refused = await wire.response(40);
    assert.deepEqual(refused.message.error, { code: -32600, message: 'request id 40 is already in flight' });
    release.resolve('done');
    await wire.waitFor((m) => m.id === 40 && m.result !== undefined, 'the first answer');
  });
});

describe('cancellation', () => {
  it('aborts ctx.signal with a Cancelled reason; whatever the handler throws then answers -32002', async (t) => {
    const reasons = [];
    const wire = await start(t, {
      async run(ctx) {
        try {
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('socket hang up'))));
        } finally {
          reasons.push([ctx.cancelled, ctx.signal.reason.name, ctx.signal.reason.message]);
        }
      },
    });
    const id = wire.request('run', runParams());
    wire.notify('cancel', { requestId: id, reason: 'the job was cancelled by an admin' });
    assert.deepEqual((await wire.response(id)).message.error, { code: -32002, message: 'cancelled: the job was cancelled by an admin' });
    assert.deepEqual(reasons, [[true, 'Cancelled', 'cancelled: the job was cancelled by an admin']]);
  });

  it('answers -32002 for a handler that ignores the cancel, after the grace, and drops its late result', async (t) => {
    const release = deferred();
    const wire = await start(t, { run: () => release.promise }, { cancelGraceMs: 50 });
    const id = wire.request('run', runParams());
    wire.notify('cancel', { requestId: id });
    assert.deepEqual((await wire.response(id)).message.error, { code: -32002, message: 'cancelled' });
    release.resolve('too late');
    await wire.call('ping');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(wire.lines.filter((line) => line.message.id === id).length, 1, 'answered exactly once');
    assert.ok(wire.diagnostics.some((line) => line.includes('did not stop within 50 ms')));
    assert.ok(wire.diagnostics.some((line) => line.includes('what it returned is dropped')));
  });

  it('ignores a cancel for a request it does not know or has answered', async (t) => {
    const wire = await start(t, { run: () => 'done' });
    const id = wire.request('run', runParams());
    await wire.response(id);
    wire.notify('cancel', { requestId: id });
    wire.notify('cancel', { requestId: 999 });
    wire.notify('cancel', { reason: 'no id' });
    assert.deepEqual((await wire.call('ping')).result, {});
    assert.equal(wire.lines.filter((line) => line.message.id === id).length, 1);
  });
});

describe('errors', () => {
  it('answers what a handler throws: PluginError as chosen, anything else -32000 with its message', async (t) => {
    const wire = await start(t, {
      run(ctx) {
        switch (ctx.payload) {
          case 'type':
            return undefined.nope;
          case 'string':
            throw 'plain text'; // eslint-disable-line no-throw-literal
          case 'coded':
            throw new PluginError('over quota', { code: -32050, data: { quota: 5 } });
          case 'final':
            throw new PluginError('will never work', { retryable: false });
          case 'retry-anyway':
            throw new PluginError('bad params, but try again', { code: -32602, retryable: true });
          case 'not-retryable':
            throw new NotRetryable('set `url` in the config');
          case 'bigint':
            return { count: 10n };
          default:
            return 'fine';
        }
      },
    });
    const error = async (payload) => (await wire.call('run', runParams(payload))).error;
    assert.deepEqual(await error('type'), { code: -32000, message: "TypeError: Cannot read properties of undefined (reading 'nope')" });
    assert.ok(wire.diagnostics.some((line) => line.includes('TypeError') && line.includes('at ')), 'the stack goes to stderr');
    assert.deepEqual(await error('string'), { code: -32000, message: 'plain text' });
    assert.deepEqual(await error('coded'), { code: -32050, message: 'over quota', data: { quota: 5 } });
    assert.deepEqual(await error('final'), { code: -32001, message: 'will never work', data: { retryable: false } });
    assert.deepEqual(await error('retry-anyway'), { code: -32602, message: 'bad params, but try again', data: { retryable: true } });
    assert.deepEqual(await error('not-retryable'), { code: -32001, message: 'set `url` in the config', data: { retryable: false } });
    assert.equal((await error('bigint')).code, -32603);
    assert.match((await error('bigint')).message, /not JSON.*BigInt/);
    assert.deepEqual((await wire.call('run', runParams('x'))).result, { result: 'fine' }, 'still serving');
  });

  it('refuses params that do not fit with -32602 naming the field', async (t) => {
    const wire = await start(t, { run: () => 1, tools: [tool({ name: 't' }, () => 'x')] });
    assert.deepEqual((await wire.call('run', { trigger: { kind: 'manual' } })).error, {
      code: -32602,
      message: 'run: params.job must be an object',
    });
    assert.deepEqual((await wire.call('run', runParams(null, { job: { id: 'x', attempt: 1, maxAttempts: 1 } }))).error, {
      code: -32602,
      message: 'run: params.job.id must be an integer',
    });
    assert.equal((await wire.call('tools/call', { arguments: {} })).error.message, 'tools/call: params.name must be a string');
    assert.deepEqual((await wire.call('config/validate', { tenant: 'a' })).error, {
      code: -32602,
      message: 'config/validate: params.values is missing',
    });
  });

  it('fails a run with the host error it did not catch: final when the host says so', async (t) => {
    const wire = await start(t, { run: (ctx) => ctx.kv.get('k') });
    const denied = wire.request('run', runParams(null, { tenant: 'globex' }));
    const call = await wire.waitFor((m) => m.method === 'kv/get', 'kv/get');
    wire.send({ jsonrpc: '2.0', id: call.message.id, error: { code: -32011, message: 'not your tenant' } });
    assert.deepEqual((await wire.response(denied)).message.error, {
      code: -32000,
      message: 'kv/get failed: not your tenant (code -32011)',
      data: { retryable: false },
    });
    const down = wire.request('run', runParams(null, { tenant: 'acme' }));
    const second = await wire.waitFor((m) => m.method === 'kv/get' && m.id !== call.message.id, 'second kv/get');
    wire.send({ jsonrpc: '2.0', id: second.message.id, error: { code: -32010, message: 'the store is unavailable; try again' } });
    assert.deepEqual((await wire.response(down)).message.error, {
      code: -32000,
      message: 'kv/get failed: the store is unavailable; try again (code -32010)',
    });
  });
});

describe('the context', () => {
  it('scopes kv to the request tenant by default, to none with tenant: null, or to another', async (t) => {
    const wire = await start(t, {
      async run(ctx) {
        await ctx.kv.set('a', 1);
        await ctx.kv.set('b', 2, { tenant: null });
        await ctx.kv.delete('c', { tenant: 'globex' });
        const keys = [];
        for await (const item of ctx.kv.entries('p/', { pageSize: 1 })) keys.push(item.key);
        return keys;
      },
    });
    wire.answerWith = (request) => {
      if (request.method !== 'kv/list') return { jsonrpc: '2.0', id: request.id, result: request.method === 'kv/delete' ? { deleted: false } : {} };
      const cursor = request.params.cursor;
      const page = cursor === undefined
        ? { items: [{ key: 'p/1', value: 1 }], nextCursor: 'p/1' }
        : { items: [{ key: 'p/2', value: 2 }] };
      return { jsonrpc: '2.0', id: request.id, result: page };
    };
    const answer = await wire.call('run', runParams(null, { tenant: 'acme' }));
    assert.deepEqual(answer.result, { result: ['p/1', 'p/2'] });
    assert.deepEqual(
      wire.pluginRequests().map((line) => [line.message.method, line.message.params]),
      [
        ['kv/set', { tenant: 'acme', key: 'a', value: 1 }],
        ['kv/set', { key: 'b', value: 2 }],
        ['kv/delete', { tenant: 'globex', key: 'c' }],
        ['kv/list', { tenant: 'acme', prefix: 'p/', limit: 1 }],
        ['kv/list', { tenant: 'acme', prefix: 'p/', cursor: 'p/1', limit: 1 }],
      ],
    );
  });

  it('checks keys and emit arguments before calling the host', async (t) => {
    const wire = await start(t, {
      async run(ctx) {
        const problems = [];
        for (const call of [() => ctx.kv.get(''), () => ctx.kv.get('x'.repeat(513)), () => ctx.kv.set('k'), () => ctx.emit('e.x')]) {
          await call().catch((error) => problems.push(error.message));
        }
        return problems;
      },
    });
    const answer = await wire.call('run', runParams());
    assert.deepEqual(answer.result.result.map((message) => message.split(',')[0].split(';')[0]), [
      'a kv key must be a string of 1 to 512 bytes',
      'a kv key must be a string of 1 to 512 bytes',
      'kv.set("k") needs a value',
      'emit("e.x") needs a tenant',
    ]);
    assert.equal(wire.pluginRequests().length, 0);
  });

  it('ties log and progress to the request', async (t) => {
    const wire = await start(t, {
      tools: [
        tool({ name: 'work' }, (args, ctx) => {
          ctx.warn('from the tool');
          ctx.progress(3);
          ctx.progress(1, 4, 'a quarter');
          assert.throws(() => ctx.log('loud', 'x'), /log level must be one of debug, info, warn, error/);
          return 'done';
        }),
      ],
    });
    const id = wire.request('tools/call', { name: 'work', arguments: {} });
    await wire.response(id);
    assert.deepEqual(
      wire.notifications(id).map((line) => line.raw),
      [
        `{"jsonrpc":"2.0","method":"log","params":{"level":"warn","message":"from the tool","requestId":${id}}}`,
        `{"jsonrpc":"2.0","method":"progress","params":{"requestId":${id},"progress":3}}`,
        `{"jsonrpc":"2.0","method":"progress","params":{"requestId":${id},"progress":1,"total":4,"message":"a quarter"}}`,
      ],
    );
  });

  it('sends a plugin log line without requestId while serving, and to stderr otherwise', async (t) => {
    const plugin = definePlugin({ id: 'p', version: '1.0.0', run: () => plugin.log('info', 'hello from the plugin') });
    const wire = new InProcess(plugin);
    t.after(() => wire.end());
    await wire.initialize();
    await wire.call('run', runParams());
    assert.deepEqual(wire.notifications().map((line) => line.message.params), [{ level: 'info', message: 'hello from the plugin' }]);
  });

  it('gives a run its job, trigger, config, payload and the data dir', async (t) => {
    let seen;
    const wire = await start(t, {
      run(ctx) {
        seen = [ctx.requestId, ctx.method, ctx.tenant, ctx.job.attempt, ctx.trigger.kind, ctx.config.values.greeting, ctx.payload, ctx.dataDir];
      },
    });
    const answer = await wire.call(
      'run',
      runParams({ n: 1 }, { tenant: 'acme', config: { id: 'cfg_1', name: 'main', values: { greeting: 'Hi' } } }),
    );
    assert.deepEqual(answer.result, {}, 'a run that returns nothing stores no result');
    assert.deepEqual(seen, [answer.id, 'run', 'acme', 1, 'manual', 'Hi', { n: 1 }, '/tmp/plugin-data']);
  });
});

describe('routes', () => {
  const body = (text) => Buffer.from(text).toString('base64');
  const decodeBody = (result) => Buffer.from(result.body, 'base64');

  async function routed(t) {
    return start(t, {
      routes: [
        route('GET', '/items/{id}', { auth: 'tenant' }, (req, ctx) =>
          HttpResponse.json({ id: req.params.id, tenant: ctx.tenant, access: req.access, page: req.searchParams.get('page') }, {
            status: 201,
            headers: { 'x-item': req.params.id },
          })),
        route('GET', '/items/new', { auth: 'public' }, () => ({ body: 'the form' })),
        route('POST', '/echo', { auth: 'public' }, (req) => ({
          status: 200,
          headers: { 'content-type': req.header('Content-Type') ?? 'none' },
          body: Uint8Array.from(req.body).reverse(),
        })),
        route('GET', '/teapot', { auth: 'public' }, () => {
          throw new HttpError(418, "I'm a teapot", { headers: { 'x-why': 'tea' } });
        }),
        route('GET', '/json', { auth: 'public' }, (req) => HttpResponse.json(req.json())),
        route('GET', '/broken', { auth: 'public' }, () => {
          throw new Error('the database is gone');
        }),
        route('GET', '/nothing', { auth: 'public' }, () => undefined),
      ],
    });
  }

  it('dispatches by the route the host matched, with its params, and encodes the answer', async (t) => {
    const wire = await routed(t);
    const answer = await wire.call('http', {
      method: 'GET',
      path: '/items/42',
      query: 'page=3',
      headers: {},
      tenant: 'acme',
      route: '/items/{id}',
      params: { id: '42' },
      access: 'read',
    });
    assert.equal(answer.result.status, 201);
    assert.deepEqual(answer.result.headers, { 'content-type': 'application/json', 'x-item': '42' });
    assert.deepEqual(JSON.parse(decodeBody(answer.result)), { id: '42', tenant: 'acme', access: 'read', page: '3' });
  });

  it('sends HEAD to the GET route, and matches the path itself when the host does not say', async (t) => {
    const wire = await routed(t);
    const head = await wire.call('http', { method: 'HEAD', path: '/items/7', route: '/items/{id}', params: { id: '7' } });
    assert.equal(head.result.status, 201);
    const literal = await wire.call('http', { method: 'GET', path: '/items/new' });
    assert.equal(decodeBody(literal.result).toString(), 'the form', 'the literal route beats {id}');
    const param = await wire.call('http', { method: 'GET', path: '/items/a%20b' });
    assert.equal(JSON.parse(decodeBody(param.result)).id, 'a b');
    const missing = await wire.call('http', { method: 'GET', path: '/nowhere' });
    assert.equal(missing.result.status, 404);
  });

  it('passes bodies as bytes both ways', async (t) => {
    const wire = await routed(t);
    const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
    const answer = await wire.call('http', {
      method: 'POST',
      path: '/echo',
      route: '/echo',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes.toString('base64'),
    });
    assert.deepEqual([...decodeBody(answer.result)], [...bytes].reverse());
    assert.equal(answer.result.headers['content-type'], 'application/octet-stream');
    const bad = await wire.call('http', { method: 'POST', path: '/echo', route: '/echo', body: 'not*base64' });
    assert.equal(bad.error.code, -32602);
  });

  it('answers HttpError with its status, a bad JSON body with 400, other errors as errors', async (t) => {
    const wire = await routed(t);
    const teapot = await wire.call('http', { method: 'GET', path: '/teapot', route: '/teapot' });
    assert.equal(teapot.result.status, 418);
    assert.equal(teapot.result.headers['x-why'], 'tea');
    assert.equal(decodeBody(teapot.result).toString(), "I'm a teapot");
    const json = await wire.call('http', { method: 'GET', path: '/json', route: '/json', body: body('{"a":') });
    assert.equal(json.result.status, 400);
    assert.match(decodeBody(json.result).toString(), /^the request body is not JSON/);
    const ok = await wire.call('http', { method: 'GET', path: '/json', route: '/json', body: body('{"a":1}') });
    assert.deepEqual(JSON.parse(decodeBody(ok.result)), { a: 1 });
    const broken = await wire.call('http', { method: 'GET', path: '/broken', route: '/broken' });
    assert.deepEqual(broken.error, { code: -32000, message: 'the database is gone' });
    const nothing = await wire.call('http', { method: 'GET', path: '/nothing', route: '/nothing' });
    assert.equal(nothing.error.code, -32603);
    assert.match(nothing.error.message, /must return a response/);
  });

  it('answers -32601 for http when the plugin has no routes', async (t) => {
    const wire = await start(t, { run: () => 1 });
    assert.equal((await wire.call('http', { method: 'GET', path: '/' })).error.code, -32601);
  });
});

describe('tools', () => {
  async function tooled(t) {
    return start(t, {
      tools: [
        tool({ name: 'text' }, (args) => `hello ${args.name}`),
        tool({ name: 'fails' }, () => ToolResult.error('the city is unknown')),
        tool({ name: 'sum', outputSchema: { type: 'object' } }, (args) => ({ sum: args.a + args.b })),
        tool({ name: 'list' }, () => [1, 2]),
        tool({ name: 'silent' }, () => undefined),
      ],
    });
  }

  it('answers strings, errors, structured and plain JSON in MCP shape', async (t) => {
    const wire = await tooled(t);
    const result = async (name, args) => (await wire.call('tools/call', { name, arguments: args })).result;
    assert.deepEqual(await result('text', { name: 'Ada' }), { content: [{ type: 'text', text: 'hello Ada' }], isError: false });
    assert.deepEqual(await result('fails', {}), { content: [{ type: 'text', text: 'the city is unknown' }], isError: true });
    assert.deepEqual(await result('sum', { a: 1, b: 2 }), {
      content: [{ type: 'text', text: '{"sum":3}' }],
      isError: false,
      structuredContent: { sum: 3 },
    });
    assert.deepEqual(await result('list', undefined), { content: [{ type: 'text', text: '[1,2]' }], isError: false });
  });

  it('refuses an unknown tool with -32602 and a tool that returns nothing with -32603', async (t) => {
    const wire = await tooled(t);
    assert.deepEqual((await wire.call('tools/call', { name: 'nope' })).error, {
      code: -32602,
      message: "there is no tool `nope`; this plugin's tools are: text, fails, sum, list, silent",
    });
    const silent = await wire.call('tools/call', { name: 'silent' });
    assert.equal(silent.error.code, -32603);
    assert.match(silent.error.message, /returned nothing/);
  });
});

describe('config checks', () => {
  it('validate: valid by default, problems as returned, a bad return is -32603', async (t) => {
    const plain = await start(t, { run: () => 1 });
    assert.deepEqual((await plain.call('config/validate', { values: {} })).result, { valid: true, errors: [] });
    const wire = await start(t, {
      validateConfig(values) {
        if (values.bad === 'shape') return 'nope';
        return values.url ? [] : [{ path: '/url', message: 'set url' }, { message: 'and something else' }];
      },
    });
    assert.deepEqual((await wire.call('config/validate', { tenant: 'a', values: {} })).result, {
      valid: false,
      errors: [
        { path: '/url', message: 'set url' },
        { path: '', message: 'and something else' },
      ],
    });
    assert.deepEqual((await wire.call('config/validate', { values: { url: 'x' } })).result, { valid: true, errors: [] });
    assert.equal((await wire.call('config/validate', { values: { bad: 'shape' } })).error.code, -32603);
  });

  it('test: the result as returned, with the tenant on the context', async (t) => {
    const wire = await start(t, {
      async testConfig(values, ctx) {
        return { ok: values.ok, message: `tested for ${ctx.tenant}` };
      },
    });
    assert.deepEqual((await wire.call('config/test', { tenant: 'acme', values: { ok: false } })).result, {
      ok: false,
      message: 'tested for acme',
    });
  });
});

describe('host errors', () => {
  it('HostError knows which host errors are worth retrying', () => {
    assert.equal(new HostError('kv/get', { code: -32010, message: 'down' }).retryable, true);
    assert.equal(new HostError('emit', { code: -32011, message: 'no' }).retryable, false);
    assert.equal(new HostError('emit', { code: -32010, message: 'x', data: { retryable: false } }).retryable, false);
  });
});
