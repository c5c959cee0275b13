// Prints the built console's sizes: what the first visit loads (the entry script, its
// preloaded chunks and the CSS that index.html names), gzipped, against its budget of
// 250 kB, and every chunk, for docs/benchmarks.md. Exits 1 when the first load is over budget.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = fileURLToPath(new URL("../../crates/plugboard/console", import.meta.url));
const BUDGET = 250 * 1000;

const gz = (path) => gzipSync(readFileSync(path), { level: 9 }).length;
const kb = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;

const html = readFileSync(join(root, "index.html"), "utf8");
const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((match) => match[1]).sort();
let initialRaw = 0;
let initialGz = 0;
console.log("first load (index.html and what it names):");
for (const file of ["index.html", ...initial]) {
  const raw = readFileSync(join(root, file)).length;
  const zipped = gz(join(root, file));
  initialRaw += raw;
  initialGz += zipped;
  console.log(`  ${file.padEnd(48)} ${kb(raw).padStart(10)} ${kb(zipped).padStart(10)} gzip`);
}
console.log(`  ${"total".padEnd(48)} ${kb(initialRaw).padStart(10)} ${kb(initialGz).padStart(10)} gzip (budget ${kb(BUDGET)})`);

console.log("chunks loaded on demand:");
const assets = readdirSync(join(root, "assets"))
  .filter((name) => /\.(js|css)$/.test(name) && !initial.includes(`assets/${name}`))
  .sort();
let lazyGz = 0;
for (const name of assets) {
  const path = join(root, "assets", name);
  const zipped = gz(path);
  lazyGz += zipped;
  console.log(`  ${`assets/${name}`.padEnd(48)} ${kb(readFileSync(path).length).padStart(10)} ${kb(zipped).padStart(10)} gzip`);
}
console.log(`  ${"total".padEnd(48)} ${"".padStart(10)} ${kb(lazyGz).padStart(10)} gzip`);

if (initialGz > BUDGET) {
  console.error(`size: the first load is ${kb(initialGz)} gzipped, over the budget of ${kb(BUDGET)}`);
  process.exit(1);
}
