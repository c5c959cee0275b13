// The pieces on their own: definition checks, the line splitter, errors, webhook signatures.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  Cancelled,
  definePlugin,
  ErrorCode,
  isRetryable,
  NotRetryable,
  PluginDefinitionError,
  PluginError,
  route,
  SignatureError,
  tool,
  verifyGithub,
  verifyStripe,
} from '../dist/index.js';
import { LineSplitter } from '../dist/transport.js';

describe('definePlugin', () => {
  const base = { id: 'p', version: '1.0.0' };
  const refuses = (definition, pattern) =>
    assert.throws(() => definePlugin({ ...base, ...definition }), (error) => {
      assert.ok(error instanceof PluginDefinitionError, `${error}`);
      assert.match(error.message, pattern);
      assert.ok(error.message.startsWith(`definePlugin(${definition.id ?? 'p'}): `), error.message);
      return true;
    });
  const handler = () => ({ status: 200 });

  it('builds the metadata with defaults, in the host order', () => {
    const plugin = definePlugin({
      ...base,
      schedule: { intervalSeconds: 60 },
      configSchema: { type: 'object' },
      tools: [tool({ name: 't', annotations: { readOnlyHint: true } }, () => 'x')],
    });
    assert.equal(plugin.name, 'p');
    assert.deepEqual(Object.keys(plugin.metadata), ['configSchema', 'events', 'schedule', 'routes', 'ui', 'tools']);
    assert.deepEqual(plugin.metadata.tools, [{ name: 't', description: '', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } }]);
  });

  it('refuses identities the host would refuse', () => {
    refuses({ id: 'Bad Id' }, /id must be 1 to 64 of a-z/);
    refuses({ version: '1.0' }, /version must be a semantic version/);
    refuses({ run: 'not a function' }, /run must be a function/);
    refuses({ config_schema: {} }, /unknown field `config_schema`; did you mean `configSchema`\?/);
    refuses({ schedule: { interval_seconds: 5 } }, /did you mean `intervalSeconds`/);
    refuses({ schedule: { intervalSeconds: 0 } }, /positive integer/);
    refuses({ events: ['ok', ''] }, /events must be a list/);
  });

  it('refuses routes the host cannot mount, naming the route', () => {
    refuses({ routes: [route('get', '/a', { auth: 'public' }, handler)] }, /routes\[0\] \(get \/a\): the method must be an HTTP method in upper case/);
    refuses({ routes: [route('GET', 'a', { auth: 'public' }, handler)] }, /must start with \//);
    refuses({ routes: [route('GET', '/a//b', { auth: 'public' }, handler)] }, /empty, `.` or `..` segment/);
    refuses({ routes: [route('GET', '/a/{x-y}', { auth: 'public' }, handler)] }, /name its parameter/);
    refuses({ routes: [route('GET', '/{id}/{id}', { auth: 'public' }, handler)] }, /appears twice/);
    refuses({ routes: [route('GET', '/a{id}', { auth: 'public' }, handler)] }, /whole segment/);
    refuses(
      { routes: [route('GET', '/a/{x}', { auth: 'public' }, handler), route('GET', '/a/{y}', { auth: 'public' }, handler)] },
      /routes\[1\].*same method and path/,
    );
    refuses({ routes: [route('POST', '/a/{x}', { auth: 'public', webhook: true }, handler)] }, /webhook route cannot have/);
    refuses({ routes: [route('POST', '/a', { auth: 'admin', webhook: true }, handler)] }, /webhook route must be `public`/);
    refuses({ routes: [route('GET', '/a', { auth: 'everyone' }, handler)] }, /auth must be one of public, tenant, admin/);
    refuses({ routes: [route('GET', '/a', { auth: 'public' })] }, /has no handler, and the plugin has no `http` handler/);
    assert.ok(definePlugin({ ...base, routes: [route('GET', '/a', { auth: 'public' })], http: handler }));
  });

  it('refuses console pages and tools the host would drop', () => {
    refuses({ ui: [{ id: 'x', title: 'X', path: '/ui' }] }, /ui\[0\] \(x\): the path \/ui is not one of the plugin's GET routes/);
    refuses(
      { routes: [route('GET', '/ui', { auth: 'admin' }, handler)], ui: [{ id: 'x', title: 'X', path: '/ui' }] },
      /must be `public`/,
    );
    refuses({ tools: [tool({ name: 'a b' }, () => 'x')] }, /tools\[0\] \(a b\): the name must be letters/);
    refuses({ tools: [tool({ name: 'a' }, () => 'x'), tool({ name: 'a' }, () => 'y')] }, /another tool has the same name/);
    refuses({ tools: [{ name: 'a' }] }, /handler must be a function/);
    refuses({ tools: [tool({ name: 'a', annotations: { readOnly: true } }, () => 'x')] }, /unknown field `readOnly`/);
  });
});

describe('LineSplitter', () => {
  function split(chunks, max = 16) {
    const lines = [];
    const bad = [];
    const splitter = new LineSplitter({ onLine: (line) => lines.push(line), onBadLine: (reason) => bad.push(reason) }, max);
    for (const chunk of chunks) splitter.feed(Buffer.from(chunk));
    splitter.finish();
    return { lines, bad };
  }

  it('joins lines across chunks, drops \\r and blank lines, keeps a last line without \\n', () => {
    assert.deepEqual(split(['ab', 'c\n\n  \nd\r\n', 'e', 'f']).lines, ['abc', 'd', 'ef']);
  });

  it('drops an overlong line whole, however it arrives, and reads the next', () => {
    const { lines, bad } = split(['0123456789', '0123456789', '01\nok\n', 'x'.repeat(40), '\nfine']);
    assert.deepEqual(lines, ['ok', 'fine']);
    assert.deepEqual(bad, [
      'discarded a line of 22 bytes: longer than the 16 byte limit',
      'discarded a line of 40 bytes: longer than the 16 byte limit',
    ]);
    assert.deepEqual(split(['x'.repeat(16) + '\n']).lines, ['x'.repeat(16)], 'exactly the limit is fine');
  });

  it('reports a line that is not UTF-8', () => {
    const bad = [];
    const lines = [];
    const splitter = new LineSplitter({ onLine: (line) => lines.push(line), onBadLine: (reason) => bad.push(reason) });
    splitter.feed(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a, 0x61, 0x0a]));
    assert.deepEqual(lines, ['a']);
    assert.deepEqual(bad, ['ignored a line of 4 bytes that is not UTF-8']);
  });
});

describe('errors', () => {
  it('isRetryable follows the host rule', () => {
    const cases = [
      [-32000, undefined, true],
      [-32603, undefined, true],
      [-32010, undefined, true],
      [-32001, undefined, false],
      [-32602, undefined, false],
      [-32601, undefined, false],
      [-32003, undefined, false],
      [-32011, undefined, false],
      [-32002, undefined, false],
      [-32000, { retryable: false }, false],
      [-32001, { retryable: true }, true],
    ];
    for (const [code, data, expected] of cases) {
      assert.equal(isRetryable({ code, message: 'x', data }), expected, `${code} ${JSON.stringify(data)}`);
    }
  });

  it('the error classes answer the codes the protocol names', () => {
    assert.deepEqual(new PluginError('x').toErrorObject(), { code: -32000, message: 'x' });
    assert.equal(new PluginError('x').retryable, true);
    assert.deepEqual(new NotRetryable('y').toErrorObject(), { code: -32001, message: 'y', data: { retryable: false } });
    assert.equal(new NotRetryable('y').retryable, false);
    assert.deepEqual(new Cancelled().toErrorObject(), { code: ErrorCode.CANCELLED, message: 'cancelled' });
    assert.deepEqual(new PluginError('z', { data: { a: 1 }, retryable: true }).toErrorObject(), {
      code: -32000,
      message: 'z',
      data: { a: 1, retryable: true },
    });
    assert.throws(() => new PluginError('z', { data: 'text', retryable: false }), TypeError);
  });
});

describe('webhook signatures', () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const hex = (key, payload) => createHmac('sha256', key).update(payload).digest('hex');

  it('verifyGithub accepts the right signature and names what is wrong otherwise', () => {
    verifyGithub('s3cret', body, `sha256=${hex('s3cret', body)}`);
    verifyGithub('s3cret', body, `sha256=${hex('s3cret', body).toUpperCase()}`);
    const fails = (header, pattern, secret = 's3cret') =>
      assert.throws(() => verifyGithub(secret, body, header), (error) => error instanceof SignatureError && pattern.test(error.message));
    fails(undefined, /no X-Hub-Signature-256/);
    fails('sha1=abc', /must read sha256=<hex>/);
    fails(`sha256=${hex('other', body)}`, /does not match/);
    fails(`sha256=${hex('', body)}`, /secret is empty/, '');
  });

  it('verifyStripe accepts any v1 within the tolerance, refuses replays', () => {
    const now = 1_800_000_000;
    const signed = (t, key = 'whsec') => hex(key, Buffer.concat([Buffer.from(`${t}.`), body]));
    verifyStripe('whsec', body, `t=${now},v1=${signed(now, 'old')},v1=${signed(now)}`, { now });
    const fails = (header, pattern) =>
      assert.throws(() => verifyStripe('whsec', body, header, { now }), (error) => error instanceof SignatureError && pattern.test(error.message));
    fails(`t=${now - 301},v1=${signed(now - 301)}`, /beyond the 300 s tolerance/);
    fails(`t=${now},v1=${signed(now, 'other')}`, /no signature matches/);
    fails(`v1=${signed(now)}`, /no t=<unix time>/);
    fails(`t=${now}`, /no v1=<hex>/);
  });
});
