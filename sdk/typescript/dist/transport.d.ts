/**
 * Stdio transport: protocol lines in on stdin, out on stdout, and nothing else on stdout.
 *
 * Owns:
 * - {@link LineSplitter}: bytes cut into lines (`\n`, a trailing `\r` tolerated, blank lines
 *   skipped, strict UTF-8); a line over {@link MAX_LINE_BYTES} is dropped whole and reported;
 * - {@link LineWriter}: each message written whole with one write call, in order, and a
 *   `flush()` that resolves once everything written has been handed to the pipe;
 * - {@link takeStdio}: keeps the real stdout for the protocol and points `process.stdout.write`
 *   (and so `console.log`) at stderr, so that a stray print cannot corrupt the protocol.
 *
 * Must not touch: JSON. Lines are text here.
 *
 * @module
 */
/** Where the SDK's own diagnostics go: one line each, the plugin's log on stderr by default. */
export type DiagnosticSink = (line: string) => void;
/** Writes `plugboard: <message>` to stderr, which the host keeps as the plugin's log. */
export declare const logToStderr: DiagnosticSink;
/** The first `max` characters of a line, for a diagnostic. */
export declare function preview(text: string, max?: number): string;
/** What {@link LineSplitter} reports. */
export interface LineHandlers {
    /** A line of UTF-8 text, without its `\n` (or `\r\n`). */
    onLine(line: string): void;
    /** A line that cannot be read: too long, or not UTF-8. */
    onBadLine(reason: string): void;
}
/** Cuts a byte stream into lines and hands each to its handlers. */
export declare class LineSplitter {
    private readonly handlers;
    private readonly maxLineBytes;
    private readonly decoder;
    private chunks;
    private size;
    /** Bytes of an overlong line being dropped; 0 when not dropping. */
    private skipped;
    /** @param maxLineBytes the longest line taken, without its `\n`; default 16 MiB. */
    constructor(handlers: LineHandlers, maxLineBytes?: number);
    /** Takes the next bytes of the stream. */
    feed(data: Buffer): void;
    /** End of the stream: a last line without its `\n` still counts. */
    finish(): void;
    private overlong;
    private emit;
}
/** The part of a writable stream the writer needs (`process.stdout`, a pipe, a socket). */
export interface LineSink {
    /** Writes `chunk`; calls `callback` once it has been handed on (with an error if not). */
    write(chunk: string, callback: (error?: Error | null) => void): unknown;
}
/**
 * Writes whole lines, in order, each with one write call (Node runs JavaScript on one thread,
 * so writes from concurrent handlers never interleave). After a failed write (the host closed
 * the pipe) further lines are dropped, and reported once.
 */
export declare class LineWriter {
    private readonly sink;
    private readonly diagnostics;
    private pending;
    private waiters;
    private broken;
    /** @param diagnostics where a broken pipe is reported. */
    constructor(sink: LineSink, diagnostics: DiagnosticSink);
    /** Writes one line, which ends with `\n`. */
    write(line: string): void;
    /** Resolves once every line written so far has been handed to the pipe (or dropped). */
    flush(): Promise<void>;
    /** Marks the pipe broken (the stream's `error` event lands here too). */
    fail(error: Error): void;
    private settle;
}
/** The protocol's ends of the process's standard streams, once {@link takeStdio} ran. */
export interface Stdio {
    /** The host's messages (the process's stdin). */
    input: NodeJS.ReadableStream;
    /** The real stdout, for protocol lines only. */
    output: LineSink;
    /** Registers the handler of a failed stdout (EPIPE once the host has gone). */
    onOutputError(handler: (error: Error) => void): void;
}
/**
 * Takes the process's stdin and stdout for the protocol. From then on `process.stdout.write`,
 * and with it `console.log`, `console.info` and `console.debug`, writes to stderr: only
 * protocol messages reach the real stdout. Child processes must not inherit stdout (spawn them
 * with `stdio: ['ignore', 'pipe', 'inherit']` or similar); the host counts any other line there
 * as garbage.
 */
export declare function takeStdio(): Stdio;
