// Type-level tests: a typed plugin as an author writes it, importing the package by its name
// (so the package's `exports` and `types` are checked too). Compiled, not run, by
// scripts/check-dist.mjs (test/dist.test.js); each @ts-expect-error marks a mistake the
// compiler must refuse, and the build fails if it does not.
import {
  definePlugin,
  HttpResponse,
  NotRetryable,
  PluginError,
  route,
  tool,
  ToolResult,
  type Context,
  type RunContext,
} from '@plugboard/sdk';

interface Config {
  url: string;
  greeting?: string;
}

interface Payload {
  text: string;
}

/** A helper that takes the run's context, typed. */
function describeRun(ctx: RunContext<Config, Payload>): string {
  return `${ctx.job.id}/${ctx.job.attempt}: ${ctx.payload.text} for ${ctx.tenant ?? 'nobody'}`;
}

export const plugin = definePlugin<Config, Payload>({
  id: 'typed',
  version: '1.0.0',
  configSchema: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
  events: ['typed.*'],
  schedule: { intervalSeconds: 60 },

  async run(ctx) {
    const text: string = ctx.payload.text;
    const url: string | undefined = ctx.config?.values.url;
    // @ts-expect-error: not a field of Config
    void ctx.config?.values.nope;
    const count = await ctx.kv.get<number>('count');
    // @ts-expect-error: kv.get may find nothing (null)
    const sure: number = count;
    void sure;
    await ctx.kv.set('count', (count ?? 0) + 1, { tenant: null });
    // @ts-expect-error: the log levels are debug, info, warn and error
    ctx.log('loud', 'x');
    ctx.progress(1, 2, 'half');
    const eventId: string = await ctx.emit('typed.done', { text }, { idempotencyKey: `job-${ctx.job.id}` });
    ctx.signal.throwIfAborted();
    if (!url) throw new NotRetryable('set url');
    if (ctx.trigger.kind === 'event') throw new PluginError('later', { retryable: true });
    return { text, url, eventId, described: describeRun(ctx) };
  },

  validateConfig(values) {
    const url: string = values.url;
    return url.startsWith('https://') ? [] : [{ path: '/url', message: 'use https' }];
  },

  async testConfig(values, ctx: Context) {
    return { ok: true, message: `${values.url} for ${ctx.tenant}` };
  },

  routes: [
    route('GET', '/items/{id}/parts/{part}', { auth: 'public' }, (req) => {
      const id: string = req.params.id;
      const part: string = req.params.part;
      // @ts-expect-error: not a parameter of this path
      void req.params.other;
      return HttpResponse.json({ id, part, page: req.searchParams.get('page') });
    }),
    route<'/hook', Config>('POST', '/hook', { auth: 'public', webhook: true }, (req) => ({
      status: 204,
      body: req.config?.values.url ?? '',
    })),
  ],

  tools: [
    tool<{ a: number; b: number }, { sum: number }>(
      { name: 'add', outputSchema: { type: 'object' } },
      (args) => ({ sum: args.a + args.b }),
    ),
    tool<{ name: string }>({ name: 'greet' }, (args) => ToolResult.text(`hi ${args.name}`)),
  ],
});

// @ts-expect-error: a route needs its auth
route('GET', '/x', {}, () => ({}));
// @ts-expect-error: a route handler answers a response, not a string
route('GET', '/y', { auth: 'public' }, () => 'text');
// @ts-expect-error: a structured tool answers its declared shape
tool<{ a: number }, { sum: number }>({ name: 'bad' }, (args) => ({ total: args.a }));

definePlugin({
  id: 'typed-two',
  version: '1.0.0',
  // @ts-expect-error: the wire names are camelCase
  config_schema: {},
});

// serve() resolves with the exit code (and exits the process when serving stdio).
const serve: () => Promise<number> = () => plugin.serve();
void serve;
