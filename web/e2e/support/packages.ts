// Plugin packages as an admin ships them: a Python plugin's folder with the SDK copied into it
// (as scripts/demo does), made in the test's own temporary directory, and packed as a .tar.gz
// when a test serves it over HTTP.

import { execFile } from "node:child_process";
import { chmod, cp, mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const REPO = path.resolve(__dirname, "..", "..", "..");
export const EXAMPLES = path.join(REPO, "examples", "plugins");
export const FIXTURES = path.resolve(__dirname, "..", "fixtures");
const SDK = path.join(REPO, "sdk", "python", "plugboard");

/**
 * Copies the Python plugin in `source` (a folder of examples/plugins or fixtures/) with the SDK
 * in `.deps/python/` (as `plugboard plugin pack` builds it) to `into/NAME`, readable by everyone (plugins run as another user), and
 * returns the new folder.
 */
export async function pythonPackage(source: string, into: string): Promise<string> {
  const folder = path.join(into, path.basename(source));
  await mkdir(into, { recursive: true, mode: 0o755 });
  await chmod(into, 0o755);
  await cp(source, folder, { recursive: true, filter: (file) => !file.includes("__pycache__") });
  // Where `plugboard plugin pack` puts what requirements.txt names; the host puts it on PYTHONPATH.
  await cp(SDK, path.join(folder, ".deps", "python", "plugboard"), { recursive: true, filter: (file) => !file.includes("__pycache__") });
  await openUp(folder);
  return folder;
}

/** Packs `folder` as `folder.tar.gz` (one top folder inside) and returns the archive's path. */
export async function tarGz(folder: string): Promise<string> {
  const archive = `${folder}.tar.gz`;
  await run("tar", ["-czf", archive, "-C", path.dirname(folder), path.basename(folder)]);
  await chmod(archive, 0o644);
  return archive;
}

async function openUp(target: string): Promise<void> {
  const info = await stat(target);
  if (info.isDirectory()) {
    await chmod(target, 0o755);
    for (const entry of await readdir(target)) await openUp(path.join(target, entry));
  } else {
    await chmod(target, info.mode & 0o111 ? 0o755 : 0o644);
  }
}
