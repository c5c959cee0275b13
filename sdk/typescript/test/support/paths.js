// Where things are, for the tests: the SDK, the repository, the golden files and the binary.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** sdk/typescript */
export const SDK_DIR = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** The repository's root. */
export const REPO_ROOT = path.resolve(SDK_DIR, '..', '..');
/** The protocol's golden messages. */
export const GOLDEN_DIR = path.join(REPO_ROOT, 'crates', 'plugboard-protocol', 'tests', 'golden');
/** The test plugins. */
export const PLUGINS_DIR = path.join(SDK_DIR, 'test', 'plugins');
/** The compiled SDK the tests use (as a plugin would). */
export const DIST_DIR = path.join(SDK_DIR, 'dist');
