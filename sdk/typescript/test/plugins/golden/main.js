// The hello-node plugin of docs/protocol.md, written with this SDK, for the golden tests.
//
// Driven with the host-side golden messages, it writes the plugin-side ones of
// crates/plugboard-protocol/tests/golden/: the same identity and metadata, the same log,
// progress, kv and emit calls in the same order (so its ids p-1 ... p-5 match too), the same
// results and errors, byte for byte. `main.js --minimal` serves it without config/test.
import { definePlugin, HttpResponse, NotRetryable, route, tool, ToolResult } from '../../../dist/index.js';

const minimal = process.argv.includes('--minimal');

const plugin = definePlugin({
  id: 'hello-node',
  name: 'Hello (Node.js)',
  version: '0.1.0',
  configSchema: {
    type: 'object',
    properties: { greeting: { type: 'string', default: 'Hello', maxLength: 40 } },
    additionalProperties: false,
  },
  events: ['form.submitted', 'uptime.*'],
  schedule: { intervalSeconds: 300 },
  // No handlers of their own: the catch-all `http` below answers them (and `/github`).
  routes: [
    route('GET', '/status', { auth: 'tenant' }),
    route('POST', '/hooks/{source}', { auth: 'public' }),
    route('GET', '/admin', { auth: 'admin' }),
    route('GET', '/ui', { auth: 'public' }),
  ],
  ui: [{ id: 'overview', title: 'Hello overview', path: '/ui' }],
  tools: [
    tool(
      {
        name: 'greet',
        description: 'Greets someone by name.',
        inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      },
      (args) => (args.name ? `Hi, ${args.name}!` : ToolResult.error('`name` must not be empty')),
    ),
  ],

  initialize({ log }) {
    log('warn', 'config cache is cold');
  },

  async run(ctx) {
    const payload = ctx.payload ?? {};
    if (payload.wait) await ctx.sleep(60_000);
    if (payload.fail) throw new Error('the mail server did not answer within 30 s');
    const greeting = ctx.config?.values.greeting ?? 'Hello';
    if (!greeting.trim()) throw new NotRetryable("the config's greeting is empty; set `greeting` in the config");
    if (ctx.trigger.kind === 'schedule') {
      // The rest of the host services, in the order of the golden ids p-3 to p-5.
      await ctx.kv.delete('runs');
      await ctx.kv.list({ prefix: 'seen/', cursor: 'seen/0002', limit: 2 });
      await ctx.emit('hello.greeted', { name: 'Ada' }, { idempotencyKey: 'job-7301' });
      return undefined;
    }
    ctx.info(`greeting ${ctx.tenant} with ${greeting}`);
    const runs = ((await ctx.kv.get('runs')) ?? 0) + 1;
    ctx.progress(1, 2, 'counted the run');
    await ctx.kv.set('runs', runs);
    return { runs };
  },

  validateConfig(values) {
    if (!(values.greeting ?? 'Hello').trim()) {
      return [{ path: '/greeting', message: 'the greeting must not be only spaces' }];
    }
    return [];
  },

  ...(minimal
    ? {}
    : {
        testConfig(values) {
          const rendered = `${values.greeting}, world`;
          return { ok: true, message: `the greeting renders as "${rendered}"`, details: { rendered } };
        },
      }),

  http() {
    return HttpResponse.json({ accepted: true }, { status: 202 });
  },
});

plugin.serve();
