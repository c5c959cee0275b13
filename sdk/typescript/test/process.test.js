// A plugin process as the host runs one: stdout carries protocol lines only, whatever the
// plugin prints; it survives a floating rejection; it exits 0 at end of file.
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { PLUGINS_DIR } from './support/paths.js';
import { PluginProcess, runParams } from './support/peer.js';

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: 1, host: { name: 'plugboard', version: 'test' }, dataDir: '/tmp' },
};

it('keeps stdout for protocol lines: console and process.stdout.write go to stderr', async (t) => {
  const plugin = new PluginProcess('main.js', [], { cwd: path.join(PLUGINS_DIR, 'noisy') });
  t.after(() => plugin.close());
  await plugin.exchange(INITIALIZE);
  const answer = await plugin.exchange({ jsonrpc: '2.0', id: 2, method: 'run', params: runParams() });
  assert.deepEqual(answer.result, { result: { printed: true } });
  // Still alive after the floating rejection:
  assert.deepEqual((await plugin.exchange({ jsonrpc: '2.0', id: 3, method: 'ping', params: {} })).result, {});
  assert.deepEqual(plugin.badLines, ['printed before serve()'], 'only the print before serve() reached stdout');
  for (const text of ['console.log in a handler', 'console.info in a handler', 'process.stdout.write in a handler', 'nobody awaited me']) {
    assert.ok(plugin.stderr.includes(text), `stderr has: ${text}\n${plugin.stderr}`);
  }
  plugin.closeStdin();
  assert.equal(await plugin.exitCode(), 0, 'exits 0 at end of file');
});
