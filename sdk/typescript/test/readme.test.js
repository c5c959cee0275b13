// The README's example plugin, taken from README.md as written (the blocks marked
// `<!-- file: NAME -->`), packaged with the SDK as the README says, and run in the real host.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { McpClient, startHost } from './support/host.js';
import { SDK_DIR } from './support/paths.js';

/** The files the README shows: name → content. */
function readmeFiles() {
  const readme = readFileSync(path.join(SDK_DIR, 'README.md'), 'utf8');
  const files = {};
  for (const match of readme.matchAll(/<!-- file: (\S+) -->\n```\w*\n([\s\S]*?)```\n/g)) files[match[1]] = match[2];
  return files;
}

it('the README example works as written', async (t) => {
  const files = readmeFiles();
  assert.deepEqual(Object.keys(files).sort(), ['main.js', 'package.json', 'plugin.toml']);
  const source = mkdtempSync(path.join(os.tmpdir(), 'plugboard-sdk-readme-'));
  t.after(() => rmSync(source, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(source, name), content);

  const host = await startHost(t, source);
  const first = await host.enqueue('word-count', { tenant: 'acme', payload: { text: 'one two  three' } });
  assert.deepEqual((await host.waitJob(first.id)).result, { words: 3, total: 3 });
  assert.deepEqual(await host.logLines(first.id), ['info: counted 3 words']);
  const second = await host.enqueue('word-count', { tenant: 'acme', payload: { text: 'four five' } });
  assert.deepEqual((await host.waitJob(second.id)).result, { words: 2, total: 5 });
  const refused = await host.waitJob((await host.enqueue('word-count', { payload: {} })).id);
  assert.equal(refused.status, 'failed');
  assert.equal(refused.attempt, 1);
  assert.match(refused.error, /the payload needs a "text" string/);

  const counted = await host.request('GET', '/plugins/word-count/count/a%20b%20c');
  assert.equal(counted.status, 200);
  assert.deepEqual(counted.json, { words: 3 });

  const mcp = new McpClient(host);
  await mcp.connect();
  const result = await mcp.call('tools/call', { name: 'word-count.count', arguments: { text: 'x y' } });
  assert.deepEqual(result.content, [{ type: 'text', text: '2 words' }]);
});
