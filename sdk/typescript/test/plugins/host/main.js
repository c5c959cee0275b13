// The plugin of the end-to-end tests: one action per job payload, a route per HTTP feature, a
// tool with structured output, and config checks. Imports the SDK as a plugin would, from its
// own node_modules.
import { setTimeout as wait } from 'node:timers/promises';
import { definePlugin, HttpError, HttpResponse, NotRetryable, PluginError, route, tool } from '@plugboard/sdk';

const actions = {
  /** Logs, progress, a stray console.log, and what the run was for. */
  hello(ctx) {
    ctx.info(`hello ${ctx.tenant ?? 'nobody'}, attempt ${ctx.job.attempt} of ${ctx.job.maxAttempts}`);
    ctx.warn('a warning line');
    ctx.progress(1, 2, 'half way');
    console.log('a stray console.log, which must not reach stdout');
    ctx.progress(2, 2, 'all done');
    return {
      tenant: ctx.tenant ?? null,
      trigger: ctx.trigger.kind,
      event: ctx.trigger.event ? { type: ctx.trigger.event.type, payload: ctx.trigger.event.payload } : null,
      config: ctx.config ? { name: ctx.config.name, greeting: ctx.config.values.greeting ?? null } : null,
    };
  },

  /** Every kv call, in the request tenant's space, the tenant-less one and another tenant's. */
  async kv(ctx) {
    const missing = await ctx.kv.get('counter');
    await ctx.kv.set('counter', { n: 1, list: ['a', 'b'] });
    const read = await ctx.kv.get('counter');
    await ctx.kv.set('shared', 'tenant-less', { tenant: null });
    for (const n of [1, 2, 3]) await ctx.kv.set(`seen/${n}`, n);
    const listed = [];
    for await (const { key, value } of ctx.kv.entries('seen/', { pageSize: 2 })) listed.push([key, value]);
    const deleted = await ctx.kv.delete('seen/2');
    const deletedAgain = await ctx.kv.delete('seen/2');
    const page = await ctx.kv.list({ prefix: 'seen/', limit: 1 });
    const otherTenant = await ctx.kv.get('counter', { tenant: 'globex' });
    await ctx.kv.set('persisted', ctx.payload.value);
    return { missing, read, listed, deleted, deletedAgain, firstPage: page, otherTenant };
  },

  /** An event, twice with one idempotency key. */
  async emit(ctx) {
    const key = `job-${ctx.job.id}`;
    const first = await ctx.emit('sdk.tested', { by: ctx.job.id }, { idempotencyKey: key });
    const second = await ctx.emit('sdk.tested', { by: 'again' }, { idempotencyKey: key });
    return { first, second };
  },

  retryable(ctx) {
    ctx.info(`attempt ${ctx.job.attempt}`);
    throw new PluginError(`flaky on attempt ${ctx.job.attempt}`);
  },

  permanent(ctx) {
    ctx.info(`attempt ${ctx.job.attempt}`);
    throw new NotRetryable('the config is wrong; fix it');
  },

  bug(ctx) {
    ctx.info(`attempt ${ctx.job.attempt}`);
    return ctx.payload.missing.field;
  },

  /** Waits on ctx.signal with a standard API until the host cancels. */
  async wait(ctx) {
    ctx.info('waiting for a cancel');
    try {
      await wait(60_000, undefined, { signal: ctx.signal });
    } catch (error) {
      ctx.warn(`stopped by ${error.name}: ${ctx.signal.reason.message}`);
      throw error;
    }
    return 'never cancelled';
  },
};

definePlugin({
  id: 'sdk-test',
  name: 'SDK test',
  version: '1.0.0',
  configSchema: {
    type: 'object',
    properties: { greeting: { type: 'string', maxLength: 40 } },
    additionalProperties: false,
  },
  events: ['sdk.*'],
  routes: [
    route('GET', '/echo/{name}', { auth: 'public', summary: 'Echoes the request' }, (req, ctx) =>
      HttpResponse.json(
        {
          name: req.params.name,
          route: req.route,
          query: req.searchParams.get('q'),
          header: req.header('X-Test') ?? null,
          access: req.access,
          tenant: ctx.tenant ?? null,
        },
        { status: 201, headers: { 'x-echo': req.params.name } },
      )),
    route('POST', '/reverse', { auth: 'public' }, (req) => ({
      headers: { 'content-type': 'application/octet-stream' },
      body: Uint8Array.from(req.body).reverse(),
    })),
    route('GET', '/teapot', { auth: 'public' }, () => {
      throw new HttpError(418, "I'm a teapot");
    }),
    route('GET', '/broken', { auth: 'public' }, () => {
      throw new Error('the route broke');
    }),
    route('GET', '/kv/{key}', { auth: 'admin' }, async (req, ctx) =>
      HttpResponse.json({ value: await ctx.kv.get(req.params.key, { tenant: req.searchParams.get('tenant') }) })),
  ],
  tools: [
    tool(
      {
        name: 'add',
        description: 'Adds two numbers.',
        inputSchema: {
          type: 'object',
          properties: { a: { type: 'number' }, b: { type: 'number' } },
          required: ['a', 'b'],
        },
        outputSchema: { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] },
        annotations: { readOnlyHint: true },
      },
      (args, ctx) => {
        ctx.info(`adding ${args.a} and ${args.b}`);
        return { sum: args.a + args.b };
      },
    ),
  ],

  validateConfig(values) {
    if (values.greeting !== undefined && values.greeting.trim() === '') {
      return [{ path: '/greeting', message: 'the greeting must not be blank' }];
    }
    return [];
  },

  testConfig(values, ctx) {
    return {
      ok: values.greeting !== 'fail',
      message: `tested "${values.greeting}" for ${ctx.tenant}`,
      details: { length: (values.greeting ?? '').length },
    };
  },

  run(ctx) {
    const action = actions[ctx.payload?.action ?? 'hello'];
    if (action === undefined) throw new NotRetryable(`no action ${JSON.stringify(ctx.payload.action)}`);
    return action(ctx);
  },
}).serve();
