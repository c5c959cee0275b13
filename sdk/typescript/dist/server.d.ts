/**
 * The protocol loop: reads the host's messages, runs handlers concurrently, answers each
 * request exactly once, calls the host, and keeps the lifecycle (initialize, cancel, shutdown,
 * end of file).
 *
 * Owns: {@link serve} and its {@link ServeOptions}; the table of requests in flight (so that
 * `cancel` reaches the right `AbortSignal`), the table of the plugin's own calls waiting for
 * the host's answers (ids `p-1`, `p-2`, …), and the dispatch of each method to its handler.
 *
 * Must not touch: the shapes of params and results (`params.ts`, `routes.ts`, `tools.ts`,
 * `config.ts`) or the bytes on the pipes (`transport.ts`).
 *
 * @module
 */
import type { Plugin } from './plugin.js';
import { type DiagnosticSink, type LineSink } from './transport.js';
/** How {@link serve} runs. Every field is optional. */
export interface ServeOptions {
    /**
     * Speak on these streams instead of the process's stdin and stdout (for tests and
     * embedding). Then `serve` leaves `console` and the process alone and resolves with the exit
     * code instead of exiting.
     */
    input?: NodeJS.ReadableStream;
    /** The stream the protocol's lines go to, with `input`. */
    output?: LineSink & {
        on?(event: 'error', listener: (error: Error) => void): unknown;
    };
    /** Where the SDK's own diagnostics go, one line each; default: stderr, `plugboard: …`. */
    diagnostics?: DiagnosticSink;
    /** How long `shutdown` waits for requests in flight before cancelling them; default 10 s. */
    shutdownTimeoutMs?: number;
    /**
     * How long a cancelled handler may take to settle before the SDK answers `-32002` for it
     * (and drops what it settles with later); default 5 s, within the host's 10 s grace.
     */
    cancelGraceMs?: number;
}
/**
 * Serves `plugin`: speaks the protocol on stdin and stdout until the host sends `shutdown` (in
 * flight requests finish first, then the answer, then exit status 0) or closes stdin (requests
 * in flight are cancelled, then exit 0).
 *
 * From the call on, `console.log` and `process.stdout.write` go to stderr: stdout carries only
 * protocol messages. Do not read `process.stdin` yourself.
 *
 * With `options.input` and `options.output` it speaks on those streams instead and resolves
 * with the exit code, leaving the process alone.
 */
export declare function serve(plugin: Plugin<any, any>, options?: ServeOptions): Promise<number>;
