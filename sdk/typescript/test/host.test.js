// The SDK against the REAL host: each test starts `plugboard serve` (PLUGBOARD_BIN, else
// target/debug/plugboard) in a temporary directory on an OS-chosen port, with the plugin of
// test/plugins/host/ packaged with the SDK vendored inside it, drives it through the REST API
// and MCP with the admin token, then stops the server, waits for it and removes the directory.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PLUGINS_DIR } from './support/paths.js';
import { McpClient, startHost } from './support/host.js';

const PLUGIN = 'sdk-test';
const PLUGIN_DIR = path.join(PLUGINS_DIR, 'host');
// Fast retries, so that a retried job's attempts take milliseconds.
const ARGS = ['--retry-base-ms', '20', '--retry-max-ms', '100'];

const start = (t) => startHost(t, PLUGIN_DIR, { args: ARGS });

/** Runs a job of the test plugin to its end. */
async function run(host, options) {
  const job = await host.enqueue(PLUGIN, options);
  return host.waitJob(job.id);
}

/**
 * Stops the server, which stops the plugin: `shutdown`, then stdin closed, then (after a 5 s
 * grace each) SIGTERM and SIGKILL. A plugin that answers `shutdown` and exits lets the server
 * stop in tens of milliseconds; one that does not costs it the grace. Also: the plugin never
 * crashed and never wrote anything but protocol lines on stdout.
 */
async function stoppedCleanly(t, host) {
  await host.stop();
  assert.ok(host.stopMs < 2_500, `the server took ${host.stopMs} ms to stop: the plugin did not answer shutdown and exit`);
  assert.doesNotMatch(host.log, /did not exit after shutdown|plugin process ended; restarting|not a JSON-RPC message/);
}

describe('the SDK in the real host', () => {
  it('runs a job: its result, log lines, progress; stdout stays clean; shutdown is clean', async (t) => {
    const host = await start(t);
    const job = await run(host, { tenant: 'acme', payload: { action: 'hello' } });
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.deepEqual(job.result, { tenant: 'acme', trigger: 'manual', event: null, config: null });
    assert.deepEqual(job.progress, { progress: 2, total: 2, message: 'all done' });
    assert.deepEqual(await host.logLines(job.id), ['info: hello acme, attempt 1 of 3', 'warn: a warning line']);
    // console.log went to stderr, which the host keeps in its own log, tagged with the plugin.
    assert.match(host.log, /a stray console\.log, which must not reach stdout plugin=sdk-test#0/);
    await stoppedCleanly(t, host);
  });

  it('stores, reads, lists and deletes kv values, scoped by tenant', async (t) => {
    const host = await start(t);
    const job = await run(host, { tenant: 'acme', payload: { action: 'kv', value: { kept: [1, 2] } } });
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.deepEqual(job.result, {
      missing: null,
      read: { n: 1, list: ['a', 'b'] },
      listed: [
        ['seen/1', 1],
        ['seen/2', 2],
        ['seen/3', 3],
      ],
      deleted: true,
      deletedAgain: false,
      firstPage: { items: [{ key: 'seen/1', value: 1 }], nextCursor: 'seen/1' },
      otherTenant: null,
    });
    // The values outlive the run: read back through an admin route of the plugin.
    const kv = async (key, tenant) =>
      (await host.request('GET', `/plugins/${PLUGIN}/kv/${key}${tenant ? `?tenant=${tenant}` : ''}`)).json;
    assert.deepEqual(await kv('persisted', 'acme'), { value: { kept: [1, 2] } });
    assert.deepEqual(await kv('persisted'), { value: null }, 'not in the tenant-less space');
    assert.deepEqual(await kv('shared'), { value: 'tenant-less' });
    assert.deepEqual(await kv('shared', 'acme'), { value: null });
    // Another tenant's run starts from nothing.
    const globex = await run(host, { tenant: 'globex', payload: { action: 'kv', value: 2 } });
    assert.equal(globex.result.missing, null);
    assert.deepEqual(await kv('persisted', 'acme'), { value: { kept: [1, 2] } });
    await stoppedCleanly(t, host);
  });

  it('emits an event once per idempotency key, and the event runs a subscribed config', async (t) => {
    const host = await start(t);
    await host.api('POST', '/api/v1/tenants', { id: 'acme', name: 'Acme' }, 201);
    const config = await host.api(
      'POST',
      '/api/v1/tenants/acme/configs',
      { plugin: PLUGIN, name: 'listener', values: { greeting: 'Hi' }, events: ['sdk.tested'] },
      201,
    );
    const job = await run(host, { tenant: 'acme', payload: { action: 'emit' } });
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.equal(job.result.first, job.result.second, 'the second emit with the same key is the same event');
    const events = await host.api('GET', '/api/v1/events?tenant=acme&type=sdk.tested');
    assert.equal(events.events.length, 1, JSON.stringify(events));
    assert.equal(String(events.events[0].id), job.result.first);
    assert.deepEqual(events.events[0].payload, { by: job.id });
    // The config subscribed to sdk.tested got a run for the event, with its config.
    const triggered = await waitForJobs(host, `plugin=${PLUGIN}&tenant=acme&status=succeeded`, 2);
    const eventRun = triggered.find((candidate) => candidate.id !== job.id);
    assert.deepEqual(eventRun.result, {
      tenant: 'acme',
      trigger: 'event',
      event: { type: 'sdk.tested', payload: { by: job.id } },
      config: { name: 'listener', greeting: 'Hi' },
    });
    assert.equal(eventRun.config, config.id);
    await stoppedCleanly(t, host);
  });

  it('retries a retryable error until max_attempts, and fails a permanent one at once', async (t) => {
    const host = await start(t);
    const retried = await run(host, { payload: { action: 'retryable' }, maxAttempts: 3 });
    assert.equal(retried.status, 'failed');
    assert.equal(retried.attempt, 3);
    assert.match(retried.error, /flaky on attempt 3/);
    // The plugin's lines, and the host's own line for each failed attempt.
    const lines = await host.logLines(retried.id);
    assert.deepEqual(lines.filter((line) => line.startsWith('info: ')), ['info: attempt 1', 'info: attempt 2', 'info: attempt 3']);
    const failures = lines.filter((line) => line.startsWith('error: '));
    assert.equal(failures.length, 3, lines.join('\n'));
    assert.match(failures[0], /^error: attempt 1 of 3 failed: flaky on attempt 1; retrying in /);
    assert.match(failures[2], /^error: attempt 3 of 3 failed: flaky on attempt 3 \(gave up after 3 attempts\)$/);

    const permanent = await run(host, { payload: { action: 'permanent' }, maxAttempts: 3 });
    assert.equal(permanent.status, 'failed');
    assert.equal(permanent.attempt, 1);
    assert.match(permanent.error, /the config is wrong; fix it/);
    const permanentLines = await host.logLines(permanent.id);
    assert.equal(permanentLines[0], 'info: attempt 1');
    assert.equal(permanentLines.length, 2, permanentLines.join('\n'));
    assert.doesNotMatch(permanentLines[1], /retrying/);

    // A bug (a TypeError) is an error answer, retried like any failure: the plugin lives on.
    const bug = await run(host, { payload: { action: 'bug' }, maxAttempts: 2 });
    assert.equal(bug.status, 'failed');
    assert.equal(bug.attempt, 2);
    assert.match(bug.error, /TypeError: Cannot read properties of undefined \(reading 'field'\)/);
    assert.doesNotMatch(host.log, /plugin process ended; restarting/);
    await stoppedCleanly(t, host);
  });

  it('runs other jobs while one waits, passes a cancel to ctx.signal, and the job ends cancelled', async (t) => {
    const host = await start(t);
    const job = await host.enqueue(PLUGIN, { payload: { action: 'wait' } });
    await waitForLogLine(host, job.id, 'info: waiting for a cancel');
    // The same process takes and finishes other work meanwhile.
    const meanwhile = await run(host, { tenant: 'acme', payload: { action: 'hello' } });
    assert.equal(meanwhile.status, 'succeeded');
    assert.equal((await host.api('GET', `/api/v1/jobs/${job.id}`)).status, 'running');
    const startedAt = Date.now();
    await host.api('POST', `/api/v1/jobs/${job.id}/cancel`, undefined, [200, 202]);
    const cancelled = await host.waitJob(job.id);
    assert.equal(cancelled.status, 'cancelled', JSON.stringify(cancelled));
    assert.ok(Date.now() - startedAt < 5_000, 'well before the SDK\'s own grace');
    const lines = await host.logLines(job.id);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[1], /^warn: stopped by AbortError: cancelled: /);
    // The process was not stopped to end the run: the next job runs in it at once.
    const next = await run(host, { payload: { action: 'hello' } });
    assert.equal(next.status, 'succeeded');
    assert.doesNotMatch(host.log, /plugin process replaced|plugin process ended/);
    assert.equal((host.log.match(/plugin ready plugin=sdk-test#0/g) ?? []).length, 1, 'one process all along');
    await stoppedCleanly(t, host);
  });

  it('answers plugin routes with status, headers and body', async (t) => {
    const host = await start(t);
    const echo = await host.request('GET', `/plugins/${PLUGIN}/echo/Ada%20L?q=1`, { headers: { 'x-test': 'yes' } });
    assert.equal(echo.status, 201);
    assert.equal(echo.headers.get('x-echo'), 'Ada L');
    assert.equal(echo.headers.get('content-type'), 'application/json');
    assert.deepEqual(echo.json, { name: 'Ada L', route: '/echo/{name}', query: '1', header: 'yes', access: 'public', tenant: null });
    const head = await host.request('HEAD', `/plugins/${PLUGIN}/echo/x`);
    assert.equal(head.status, 201);

    const bytes = Buffer.from([0, 1, 2, 250, 255, 10, 13]);
    const reversed = await host.request('POST', `/plugins/${PLUGIN}/reverse`, {
      body: bytes,
      raw: true,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(reversed.status, 200);
    assert.deepEqual([...reversed.body], [...bytes].reverse());

    const teapot = await host.request('GET', `/plugins/${PLUGIN}/teapot`);
    assert.equal(teapot.status, 418);
    assert.equal(teapot.body.toString(), "I'm a teapot");
    assert.equal(teapot.headers.get('content-type'), 'text/plain; charset=utf-8');

    const broken = await host.request('GET', `/plugins/${PLUGIN}/broken`);
    assert.equal(broken.status, 502);
    assert.match(broken.json.detail, /the route broke/);
    // Still serving after the failure.
    assert.equal((await host.request('GET', `/plugins/${PLUGIN}/echo/again`)).status, 201);
    await stoppedCleanly(t, host);
  });

  it('checks configs: validate rejections are 422 on create, config/test answers', async (t) => {
    const host = await start(t);
    await host.api('POST', '/api/v1/tenants', { id: 'acme', name: 'Acme' }, 201);
    const blank = await host.request('POST', '/api/v1/tenants/acme/configs', {
      body: { plugin: PLUGIN, name: 'blank', values: { greeting: '   ' } },
    });
    assert.equal(blank.status, 422, blank.body.toString());
    assert.deepEqual(blank.json.errors, [{ pointer: '/values/greeting', detail: 'the greeting must not be blank' }]);

    const config = await host.api('POST', '/api/v1/tenants/acme/configs', { plugin: PLUGIN, name: 'main', values: { greeting: 'Hi' } }, 201);
    const tested = await host.api('POST', `/api/v1/configs/${config.id}/test`);
    assert.equal(tested.ok, true);
    assert.equal(tested.message, 'tested "Hi" for acme');
    assert.deepEqual(tested.details, { length: 2 });

    const started = await host.api('POST', `/api/v1/configs/${config.id}/run`, undefined, 202);
    const job = await host.waitJob(started.id ?? started.job?.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.deepEqual(job.result.config, { name: 'main', greeting: 'Hi' });
    await stoppedCleanly(t, host);
  });

  it('serves its tool to agents over MCP, with structured output, as a job', async (t) => {
    const host = await start(t);
    const mcp = new McpClient(host);
    await mcp.connect();
    const listed = await mcp.call('tools/list', {});
    const add = listed.tools.find((candidate) => candidate.name === `${PLUGIN}.add`);
    assert.ok(add, JSON.stringify(listed.tools.map((candidate) => candidate.name)));
    assert.equal(add.description, 'Adds two numbers.');
    assert.deepEqual(add.annotations, { readOnlyHint: true });
    const result = await mcp.call('tools/call', { name: `${PLUGIN}.add`, arguments: { a: 2, b: 3 } });
    assert.equal(result.isError, false);
    assert.deepEqual(result.structuredContent, { sum: 5 });
    assert.deepEqual(result.content, [{ type: 'text', text: '{"sum":5}' }]);
    const jobs = await host.api('GET', '/api/v1/jobs?kind=plugin.tool');
    assert.equal(jobs.jobs.length, 1);
    assert.deepEqual(await host.logLines(jobs.jobs[0].id), ['info: adding 2 and 3']);
    await stoppedCleanly(t, host);
  });
});

/** Polls the job list until it holds `count` jobs; resolves with them. */
async function waitForJobs(host, query, count, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { jobs } = await host.api('GET', `/api/v1/jobs?${query}`);
    if (jobs.length >= count) return jobs;
    if (Date.now() > deadline) throw new Error(`only ${jobs.length} jobs for ${query}:\n${JSON.stringify(jobs)}\n${host.log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls a job's log until it has `line`. */
async function waitForLogLine(host, id, line, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await host.logLines(id)).includes(line)) return;
    if (Date.now() > deadline) throw new Error(`job ${id}'s log never had ${JSON.stringify(line)}\n${host.log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
