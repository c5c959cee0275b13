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

/** Where the SDK's own diagnostics go: one line each, the plugin's log on stderr by default. */
export type DiagnosticSink = (line: string) => void;

/** Writes `plugboard: <message>` to stderr, which the host keeps as the plugin's log. */
export const logToStderr: DiagnosticSink = (message) => {
  try {
    process.stderr.write(`plugboard: ${message}\n`);
  } catch {
    // stderr is closed: there is nowhere left to report to.
  }
};

/** The first `max` characters of a line, for a diagnostic. */
export function preview(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** What {@link LineSplitter} reports. */
export interface LineHandlers {
  /** A line of UTF-8 text, without its `\n` (or `\r\n`). */
  onLine(line: string): void;
  /** A line that cannot be read: too long, or not UTF-8. */
  onBadLine(reason: string): void;
}

const NEWLINE = 0x0a;
const RETURN = 0x0d;

/** Cuts a byte stream into lines and hands each to its handlers. */
export class LineSplitter {
  private readonly handlers: LineHandlers;
  private readonly maxLineBytes: number;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes of an overlong line being dropped; 0 when not dropping. */
  private skipped = 0;

  /** @param maxLineBytes the longest line taken, without its `\n`; default 16 MiB. */
  constructor(handlers: LineHandlers, maxLineBytes = MAX_LINE_BYTES) {
    this.handlers = handlers;
    this.maxLineBytes = maxLineBytes;
  }

  /** Takes the next bytes of the stream. */
  feed(data: Buffer): void {
    let start = 0;
    for (;;) {
      const end = data.indexOf(NEWLINE, start);
      if (end < 0) break;
      const piece = data.subarray(start, end);
      if (this.skipped > 0) {
        this.overlong(this.skipped + piece.length);
        this.skipped = 0;
      } else if (this.size > 0) {
        this.chunks.push(piece);
        const line = Buffer.concat(this.chunks, this.size + piece.length);
        this.chunks = [];
        this.size = 0;
        this.emit(line);
      } else {
        this.emit(piece);
      }
      start = end + 1;
    }
    const rest = data.length - start;
    if (rest === 0) return;
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
  finish(): void {
    if (this.size > 0) {
      const line = Buffer.concat(this.chunks, this.size);
      this.chunks = [];
      this.size = 0;
      this.emit(line);
    } else if (this.skipped > 0) {
      this.overlong(this.skipped);
      this.skipped = 0;
    }
  }

  private overlong(size: number): void {
    this.handlers.onBadLine(
      `discarded a line of ${size} bytes: longer than the ${this.maxLineBytes} byte limit`,
    );
  }

  private emit(bytes: Buffer): void {
    let line = bytes;
    if (line.length > 0 && line[line.length - 1] === RETURN) line = line.subarray(0, line.length - 1);
    if (line.length > this.maxLineBytes) {
      this.overlong(line.length);
      return;
    }
    let text: string;
    try {
      text = this.decoder.decode(line);
    } catch {
      this.handlers.onBadLine(`ignored a line of ${line.length} bytes that is not UTF-8`);
      return;
    }
    if (text.trim() === '') return;
    this.handlers.onLine(text);
  }
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
export class LineWriter {
  private readonly sink: LineSink;
  private readonly diagnostics: DiagnosticSink;
  private pending = 0;
  private waiters: Array<() => void> = [];
  private broken = false;

  /** @param diagnostics where a broken pipe is reported. */
  constructor(sink: LineSink, diagnostics: DiagnosticSink) {
    this.sink = sink;
    this.diagnostics = diagnostics;
  }

  /** Writes one line, which ends with `\n`. */
  write(line: string): void {
    if (this.broken) return;
    this.pending += 1;
    try {
      this.sink.write(line, (error) => {
        if (error) this.fail(error);
        this.settle();
      });
    } catch (error) {
      this.fail(error as Error);
      this.settle();
    }
  }

  /** Resolves once every line written so far has been handed to the pipe (or dropped). */
  flush(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the pipe broken (the stream's `error` event lands here too). */
  fail(error: Error): void {
    if (this.broken) return;
    this.broken = true;
    const code = (error as NodeJS.ErrnoException).code;
    this.diagnostics(
      code === 'EPIPE'
        ? 'the host closed the protocol pipe; messages are dropped'
        : `writing to the host failed (${error.message}); messages are dropped`,
    );
  }

  private settle(): void {
    this.pending -= 1;
    if (this.pending === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    }
  }
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
export function takeStdio(): Stdio {
  const stdout = process.stdout;
  const protocolWrite = stdout.write.bind(stdout) as (
    chunk: string,
    callback: (error?: Error | null) => void,
  ) => boolean;
  const toStderr = (...args: unknown[]): boolean =>
    (process.stderr.write as (...rest: unknown[]) => boolean)(...args);
  stdout.write = toStderr as typeof stdout.write;
  return {
    input: process.stdin,
    output: { write: (chunk, callback) => protocolWrite(chunk, callback) },
    onOutputError: (handler) => {
      stdout.on('error', handler);
    },
  };
}
