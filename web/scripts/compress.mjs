// Writes `.gz` and `.br` beside every js, css, html, svg and json file over 1 KiB in the built
// console, for the server to send to clients that accept them. Reproducible: files are visited
// in sorted order, gzip's header carries no time (node's zlib writes MTIME 0) and both
// compressors run at fixed settings.

import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = fileURLToPath(new URL("../../crates/plugboard/console", import.meta.url));
const EXTENSIONS = /\.(js|css|html|svg|json)$/;
const MIN_SIZE = 1024;

function walk(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
}

let count = 0;
for (const path of walk(root)) {
  if (!EXTENSIONS.test(path)) continue;
  const data = readFileSync(path);
  if (data.length <= MIN_SIZE) continue;
  writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
  writeFileSync(
    `${path}.br`,
    brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        [constants.BROTLI_PARAM_MODE]: path.endsWith(".woff2") ? constants.BROTLI_MODE_FONT : constants.BROTLI_MODE_TEXT,
      },
    }),
  );
  count += 1;
}
console.log(`compress: wrote .gz and .br for ${count} files in ${relative(process.cwd(), root) || "."}`);
