#!/usr/bin/env node
// Checks that the committed dist/ is exactly what `npm run build` makes of src/, and that the
// typed API works as documented (test/types/*.ts, which import the package by its name and mark
// the mistakes the compiler must refuse with @ts-expect-error): one `tsc` run compiles src/ and
// test/types/ into a temporary directory, then dist/ is compared with it file by file, byte for
// byte. Exits 1 with the differences (and how to fix them) when they differ.
//
//   node scripts/check-dist.mjs          (npm run check-dist)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SDK_DIR = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

function files(dir, prefix = '') {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(path.join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  ).sort();
}

/** Compiles and compares; resolves with the list of problems (empty when dist/ is current). */
export function checkDist() {
  const tsc = path.join(SDK_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) return [`no TypeScript compiler at ${tsc}: run \`npm ci\` in ${SDK_DIR}`];
  const out = mkdtempSync(path.join(os.tmpdir(), 'plugboard-sdk-dist-'));
  try {
    try {
      execFileSync(
        process.execPath,
        // tsconfig.check.json: tsconfig.json's options, over src/ and test/types/.
        [tsc, '-p', 'tsconfig.check.json', '--outDir', out],
        { cwd: SDK_DIR, stdio: 'pipe' },
      );
    } catch (error) {
      return [`tsc failed:\n${error.stdout}${error.stderr}`];
    }
    const built = path.join(out, 'src');
    const dist = path.join(SDK_DIR, 'dist');
    const problems = [];
    const want = files(built);
    const have = files(dist);
    for (const name of want) {
      if (!have.includes(name)) problems.push(`dist/${name} is missing`);
      else if (!readFileSync(path.join(built, name)).equals(readFileSync(path.join(dist, name)))) {
        problems.push(`dist/${name} differs from what src/ compiles to`);
      }
    }
    for (const name of have) if (!want.includes(name)) problems.push(`dist/${name} has no source in src/`);
    return problems;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkDist();
  if (problems.length > 0) {
    console.error(`dist/ is not what src/ compiles to:\n  ${problems.join('\n  ')}\nRun \`npm run build\` in sdk/typescript and commit dist/.`);
    process.exit(1);
  }
  console.log('dist/ matches src/, and the type tests compile');
}
