// The protocol's golden messages (crates/plugboard-protocol/tests/golden/): each file is one
// message, pretty-printed; on the wire it is the same JSON compact, keys in the same order.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GOLDEN_DIR } from './paths.js';

/** The names of the golden files, without `.json`, sorted. */
export function goldenNames() {
  return readdirSync(GOLDEN_DIR)
    .filter((name) => name.endsWith('.json'))
    .map((name) => name.slice(0, -'.json'.length))
    .sort();
}

/** One golden message, parsed (a fresh copy each call, free to change). */
export function golden(name) {
  return JSON.parse(readFileSync(path.join(GOLDEN_DIR, `${name}.json`), 'utf8'));
}

/** One golden message as its wire line, without the `\n`: compact, keys in the file's order. */
export function goldenLine(name) {
  return JSON.stringify(golden(name));
}
