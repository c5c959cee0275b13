// The committed dist/ is what src/ compiles to (so a plugin can vendor it without Node build
// tools, and the build is reproducible), and the typed API accepts and refuses what
// test/types/usage.ts says it does (one tsc run does both: scripts/check-dist.mjs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { checkDist } from '../scripts/check-dist.mjs';
import { SDK_DIR } from './support/paths.js';

it('dist/ matches a fresh compile of src/, and the type tests compile', () => {
  assert.deepEqual(checkDist(), []);
});

it('the package has no runtime dependencies and points its exports at dist/', () => {
  const manifest = JSON.parse(readFileSync(path.join(SDK_DIR, 'package.json'), 'utf8'));
  assert.equal(manifest.name, '@plugboard/sdk');
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.dependencies, undefined);
  assert.deepEqual(manifest.exports['.'], { types: './dist/index.d.ts', default: './dist/index.js' });
});
