/**
 * The context of one request: what it is for, its cancellation, and the host's services.
 *
 * Owns: {@link Context} (every handler gets one), {@link RunContext} (a `run`'s: job, trigger,
 * config, payload), {@link Kv} (`kv/get`, `kv/set`, `kv/delete`, `kv/list`, scoped by default to
 * the request's tenant) and `emit`. Logs and progress are notifications tied to the request by
 * its id (`requestId`): the host puts a `run`'s or a `tools/call`'s lines in its job's log.
 *
 * Must not touch: the pipes. A context reaches the host only through its {@link HostConnection}.
 *
 * @module
 */

import { HostError, ErrorCode } from './errors.js';
import type { ConfigInfo, JobInfo, Trigger } from './params.js';
import { Method, type RequestId } from './wire.js';

/** The levels of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Every {@link LogLevel}, in order. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** What a context needs from the connection to the host. */
export interface HostConnection {
  /** Sends a notification (`log`, `progress`). */
  notify(method: string, params: object): void;
  /** Sends a request and resolves with its result; rejects with a {@link HostError}. */
  call(method: string, params: object): Promise<unknown>;
}

/** Chooses whose values a kv call or an event is for. */
export interface TenantOption {
  /**
   * Default (`undefined`): the tenant of the request being handled. A string: that tenant.
   * `null`: the plugin's own, tenant-less values (kv only; an event always has a tenant).
   */
  tenant?: string | null;
}

/** Options of {@link Kv.list}. */
export interface KvListOptions extends TenantOption {
  /** Only keys that start with this (default `""`: all). */
  prefix?: string;
  /** Only keys after this one: the `nextCursor` of the previous page. */
  cursor?: string;
  /** At most this many items (1 to 1000; the host's default is 1000). */
  limit?: number;
}

/** One stored value. */
export interface KvItem<T = unknown> {
  /** The key. */
  key: string;
  /** The value stored under it. */
  value: T;
}

/** One page of {@link Kv.list}, in key order. */
export interface KvPage<T = unknown> {
  /** The values of this page, in key order. */
  items: Array<KvItem<T>>;
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

/** Options of {@link Context.emit}. */
export interface EmitOptions {
  /** The tenant the event is for; default: the request's tenant. */
  tenant?: string;
  /** A second event with the same key (for the same tenant) does nothing. Use the job id. */
  idempotencyKey?: string;
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || Buffer.byteLength(key, 'utf8') > 512) {
    throw new TypeError(`a kv key must be a string of 1 to 512 bytes, got ${JSON.stringify(key)}`);
  }
}

function unexpected(method: string, result: unknown): HostError {
  return new HostError(method, {
    code: ErrorCode.INTERNAL_ERROR,
    message: `the host answered with an unexpected result ${JSON.stringify(result)}`,
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The plugin's durable key-value storage in the host's store. Keys are 1 to 512 bytes; values
 * any JSON up to 1 MiB encoded. Every call is scoped to the plugin and, by default, to the
 * request's tenant (see {@link TenantOption}). A failure of the host rejects with a
 * {@link HostError}.
 */
export class Kv {
  private readonly host: HostConnection;
  private readonly defaultTenant: string | undefined;

  /** Made by the SDK for each request. */
  constructor(host: HostConnection, defaultTenant: string | undefined) {
    this.host = host;
    this.defaultTenant = defaultTenant;
  }

  /** The value stored under `key`, or `null` when there is none. */
  async get<T = unknown>(key: string, options: TenantOption = {}): Promise<T | null> {
    checkKey(key);
    const result = await this.host.call(Method.KV_GET, { ...this.scope(options), key });
    if (!isObject(result)) throw unexpected(Method.KV_GET, result);
    return (result.value ?? null) as T | null;
  }

  /**
   * Stores `value` (any JSON, up to 1 MiB encoded) under `key`, replacing what was there.
   * Storing `null` reads back as no value: use {@link Kv.delete}.
   */
  async set(key: string, value: unknown, options: TenantOption = {}): Promise<void> {
    checkKey(key);
    if (value === undefined) {
      throw new TypeError(`kv.set(${JSON.stringify(key)}) needs a value; use kv.delete to remove one`);
    }
    await this.host.call(Method.KV_SET, { ...this.scope(options), key, value });
  }

  /** Deletes `key`; resolves `true` when there was a value. */
  async delete(key: string, options: TenantOption = {}): Promise<boolean> {
    checkKey(key);
    const result = await this.host.call(Method.KV_DELETE, { ...this.scope(options), key });
    if (!isObject(result)) throw unexpected(Method.KV_DELETE, result);
    return result.deleted === true;
  }

  /** One page of the values whose keys start with `prefix`, in key order. */
  async list<T = unknown>(options: KvListOptions = {}): Promise<KvPage<T>> {
    const params: Record<string, unknown> = { ...this.scope(options), prefix: options.prefix ?? '' };
    if (options.cursor !== undefined) params.cursor = options.cursor;
    if (options.limit !== undefined) params.limit = options.limit;
    const result = await this.host.call(Method.KV_LIST, params);
    if (!isObject(result) || !Array.isArray(result.items)) throw unexpected(Method.KV_LIST, result);
    const items = result.items.map((item: unknown) => {
      if (!isObject(item) || typeof item.key !== 'string') throw unexpected(Method.KV_LIST, result);
      return { key: item.key, value: (item.value ?? null) as T };
    });
    const page: KvPage<T> = { items };
    if (typeof result.nextCursor === 'string') page.nextCursor = result.nextCursor;
    return page;
  }

  /**
   * Every value whose key starts with `prefix`, in key order, following the pages:
   * `for await (const { key, value } of ctx.kv.entries('seen/')) …`.
   */
  async *entries<T = unknown>(
    prefix = '',
    options: TenantOption & { pageSize?: number } = {},
  ): AsyncGenerator<KvItem<T>, void, undefined> {
    let cursor: string | undefined;
    do {
      const listOptions: KvListOptions = { prefix };
      if (options.tenant !== undefined) listOptions.tenant = options.tenant;
      if (cursor !== undefined) listOptions.cursor = cursor;
      if (options.pageSize !== undefined) listOptions.limit = options.pageSize;
      const page = await this.list<T>(listOptions);
      yield* page.items;
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  private scope(options: TenantOption): { tenant?: string } {
    const tenant = options.tenant === undefined ? this.defaultTenant : options.tenant;
    return tenant === null || tenant === undefined ? {} : { tenant };
  }
}

/**
 * What a {@link Context} is made from. The SDK makes contexts; construct one yourself to unit
 * test a handler with a {@link HostConnection} of your own.
 */
export interface ContextInit {
  /** The connection to the host (or a stand-in). */
  host: HostConnection;
  /** The host's request id. */
  requestId: RequestId;
  /** The request's method. */
  method: string;
  /** The request's tenant, if any. */
  tenant: string | undefined;
  /** The plugin's data directory. */
  dataDir: string;
  /** Aborted when the request is cancelled. */
  signal: AbortSignal;
}

/**
 * The context of one request from the host; every handler gets one. It says whom the request
 * is for, carries its cancellation ({@link Context.signal}) and reaches the host's services.
 */
export class Context {
  /** The id of the host's request; `log` and `progress` carry it as `requestId`. */
  readonly requestId: RequestId;
  /** The request's method: `run`, `http`, `tools/call`, `config/validate`, `config/test`. */
  readonly method: string;
  /** For whom: the run's, the caller's or the config's tenant; `undefined` for none. */
  readonly tenant: string | undefined;
  /** The plugin's own writable directory (also `HOME` and `TMPDIR`), kept across restarts. */
  readonly dataDir: string;
  /**
   * Aborted when the host cancels the request (a user cancelled the job, its deadline passed,
   * the host is stopping, an HTTP client went away). Its `reason` is a {@link Cancelled}
   * error, so `ctx.signal.throwIfAborted()` ends the handler with the right answer. Pass it on:
   * `fetch(url, { signal: ctx.signal })`, `setTimeout` of `node:timers/promises`, child
   * processes.
   */
  readonly signal: AbortSignal;
  /** Durable key-value storage, scoped to this plugin and by default to {@link tenant}. */
  readonly kv: Kv;
  private readonly host: HostConnection;

  /** Made by the SDK for each request. */
  constructor(init: ContextInit) {
    this.host = init.host;
    this.requestId = init.requestId;
    this.method = init.method;
    this.tenant = init.tenant;
    this.dataDir = init.dataDir;
    this.signal = init.signal;
    this.kv = new Kv(init.host, init.tenant);
  }

  /** True once the host has cancelled the request. */
  get cancelled(): boolean {
    return this.signal.aborted;
  }

  /** Throws the {@link Cancelled} error if the host has cancelled the request. */
  throwIfCancelled(): void {
    this.signal.throwIfAborted();
  }

  /** Waits `ms` milliseconds; rejects with the {@link Cancelled} error if cancelled first. */
  sleep(ms: number): Promise<void> {
    const signal = this.signal;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Sends a log line tied to this request. For a `run` or a `tools/call` it is a line of the
   * job's log (stored, streamed, shown with the job); for other requests the host keeps it in
   * the plugin's own log.
   */
  log(level: LogLevel, message: string): void {
    if (!LOG_LEVELS.includes(level)) {
      throw new TypeError(`log level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
    }
    this.host.notify(Method.LOG, { level, message: String(message), requestId: this.requestId });
  }

  /** A `debug` line; see {@link Context.log}. */
  debug(message: string): void {
    this.log('debug', message);
  }

  /** An `info` line; see {@link Context.log}. */
  info(message: string): void {
    this.log('info', message);
  }

  /** A `warn` line; see {@link Context.log}. */
  warn(message: string): void {
    this.log('warn', message);
  }

  /** An `error` line; see {@link Context.log}. */
  error(message: string): void {
    this.log('error', message);
  }

  /**
   * Reports how far the request has got: `progress` of `total` (or a growing count without
   * it), with an optional message. The host keeps the latest on the job; send it when
   * something changes, not in a tight loop.
   */
  progress(progress: number, total?: number, message?: string): void {
    if (typeof progress !== 'number' || !Number.isFinite(progress)) {
      throw new TypeError(`progress must be a finite number, got ${String(progress)}`);
    }
    const params: Record<string, unknown> = { requestId: this.requestId, progress };
    if (total !== undefined) params.total = total;
    if (message !== undefined) params.message = String(message);
    this.host.notify(Method.PROGRESS, params);
  }

  /**
   * Raises an event for a tenant (by default the request's), as if posted to
   * `POST /api/v1/events`: every config of that tenant subscribed to its type gets a run, this
   * plugin's included (beware of loops). Resolves with the stored event's id.
   */
  async emit(type: string, payload: unknown = null, options: EmitOptions = {}): Promise<string> {
    const tenant = options.tenant ?? this.tenant;
    if (!tenant) {
      throw new TypeError(`emit(${JSON.stringify(type)}) needs a tenant, and this request has none; pass { tenant }`);
    }
    if (typeof type !== 'string' || type === '') {
      throw new TypeError(`emit needs an event type such as "uptime.down", got ${JSON.stringify(type)}`);
    }
    const params: Record<string, unknown> = { tenant, type, payload: payload === undefined ? null : payload };
    if (options.idempotencyKey !== undefined) params.idempotencyKey = options.idempotencyKey;
    const result = await this.host.call(Method.EMIT, params);
    if (!isObject(result) || typeof result.eventId !== 'string') throw unexpected(Method.EMIT, result);
    return result.eventId;
  }
}

/** The context of a `run`: a {@link Context} with the job, its trigger, config and payload. */
export class RunContext<TConfig = Record<string, unknown>, TPayload = unknown> extends Context {
  /** The job this is one attempt of: `id`, `attempt`, `maxAttempts`, `deadline`. */
  readonly job: JobInfo;
  /** Why it runs: `kind` (`schedule`, `event`, `manual`), `event`, `fireTime`. */
  readonly trigger: Trigger;
  /** The config it runs with (`id`, `name`, `values`); absent for a run without one. */
  readonly config: ConfigInfo<TConfig> | undefined;
  /** The job's own payload, as enqueued (`null` when none). */
  readonly payload: TPayload;

  /** Made by the SDK for each `run`. */
  constructor(
    init: ContextInit,
    run: { job: JobInfo; trigger: Trigger; config: ConfigInfo<TConfig> | undefined; payload: TPayload },
  ) {
    super(init);
    this.job = run.job;
    this.trigger = run.trigger;
    this.config = run.config;
    this.payload = run.payload;
  }
}
