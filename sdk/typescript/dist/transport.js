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
import { MAX_LINE_BYTES } from './wire.js';
/** Writes `plugboard: <message>` to stderr, which the host keeps as the plugin's log. */
export const logToStderr = (message) => {
    try {
        process.stderr.write(`plugboard: ${message}\n`);
    }
    catch {
        // stderr is closed: there is nowhere left to report to.
    }
};
/** The first `max` characters of a line, for a diagnostic. */
export function preview(text, max = 200) {
    return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}
const NEWLINE = 0x0a;
const RETURN = 0x0d;
/** Cuts a byte stream into lines and hands each to its handlers. */
export class LineSplitter {
    handlers;
    maxLineBytes;
    decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    chunks = [];
    size = 0;
    /** Bytes of an overlong line being dropped; 0 when not dropping. */
    skipped = 0;
    /** @param maxLineBytes the longest line taken, without its `\n`; default 16 MiB. */
    constructor(handlers, maxLineBytes = MAX_LINE_BYTES) {
        this.handlers = handlers;
        this.maxLineBytes = maxLineBytes;
    }
    /** Takes the next bytes of the stream. */
    feed(data) {
        let start = 0;
        for (;;) {
            const end = data.indexOf(NEWLINE, start);
            if (end < 0)
                break;
            const piece = data.subarray(start, end);
            if (this.skipped > 0) {
                this.overlong(this.skipped + piece.length);
                this.skipped = 0;
            }
            else if (this.size > 0) {
                this.chunks.push(piece);
                const line = Buffer.concat(this.chunks, this.size + piece.length);
                this.chunks = [];
                this.size = 0;
                this.emit(line);
            }
            else {
                this.emit(piece);
            }
            start = end + 1;
        }
        const rest = data.length - start;
        if (rest === 0)
            return;
        if (this.skipped > 0) {
            this.skipped += rest;
            return;
        }
        this.chunks.push(data.subarray(start));
        this.size += rest;
        if (this.size > this.maxLineBytes + 1) {
            // Not a line we will take, whatever follows: stop holding it (+1: a `\r` may come).
            this.skipped = this.size;
            this.chunks = [];
            this.size = 0;
        }
    }
    /** End of the stream: a last line without its `\n` still counts. */
    finish() {
        if (this.size > 0) {
            const line = Buffer.concat(this.chunks, this.size);
            this.chunks = [];
            this.size = 0;
            this.emit(line);
        }
        else if (this.skipped > 0) {
            this.overlong(this.skipped);
            this.skipped = 0;
        }
    }
    overlong(size) {
        this.handlers.onBadLine(`discarded a line of ${size} bytes: longer than the ${this.maxLineBytes} byte limit`);
    }
    emit(bytes) {
        let line = bytes;
        if (line.length > 0 && line[line.length - 1] === RETURN)
            line = line.subarray(0, line.length - 1);
        if (line.length > this.maxLineBytes) {
            this.overlong(line.length);
            return;
        }
        let text;
        try {
            text = this.decoder.decode(line);
        }
        catch {
            this.handlers.onBadLine(`ignored a line of ${line.length} bytes that is not UTF-8`);
            return;
        }
        if (text.trim() === '')
            return;
        this.handlers.onLine(text);
    }
}
/**
 * Writes whole lines, in order, each with one write call (Node runs JavaScript on one thread,
 * so writes from concurrent handlers never interleave). After a failed write (the host closed
 * the pipe) further lines are dropped, and reported once.
 */
export class LineWriter {
    sink;
    diagnostics;
    pending = 0;
    waiters = [];
    broken = false;
    /** @param diagnostics where a broken pipe is reported. */
    constructor(sink, diagnostics) {
        this.sink = sink;
        this.diagnostics = diagnostics;
    }
    /** Writes one line, which ends with `\n`. */
    write(line) {
        if (this.broken)
            return;
        this.pending += 1;
        try {
            this.sink.write(line, (error) => {
                if (error)
                    this.fail(error);
                this.settle();
            });
        }
        catch (error) {
            this.fail(error);
            this.settle();
        }
    }
    /** Resolves once every line written so far has been handed to the pipe (or dropped). */
    flush() {
        if (this.pending === 0)
            return Promise.resolve();
        return new Promise((resolve) => this.waiters.push(resolve));
    }
    /** Marks the pipe broken (the stream's `error` event lands here too). */
    fail(error) {
        if (this.broken)
            return;
        this.broken = true;
        const code = error.code;
        this.diagnostics(code === 'EPIPE'
            ? 'the host closed the protocol pipe; messages are dropped'
            : `writing to the host failed (${error.message}); messages are dropped`);
    }
    settle() {
        this.pending -= 1;
        if (this.pending === 0) {
            const waiters = this.waiters;
            this.waiters = [];
            for (const resolve of waiters)
                resolve();
        }
    }
}
/**
 * Takes the process's stdin and stdout for the protocol. From then on `process.stdout.write`,
 * and with it `console.log`, `console.info` and `console.debug`, writes to stderr: only
 * protocol messages reach the real stdout. Child processes must not inherit stdout (spawn them
 * with `stdio: ['ignore', 'pipe', 'inherit']` or similar); the host counts any other line there
 * as garbage.
 */
export function takeStdio() {
    const stdout = process.stdout;
    const protocolWrite = stdout.write.bind(stdout);
    const toStderr = (...args) => process.stderr.write(...args);
    stdout.write = toStderr;
    return {
        input: process.stdin,
        output: { write: (chunk, callback) => protocolWrite(chunk, callback) },
        onOutputError: (handler) => {
            stdout.on('error', handler);
        },
    };
}
