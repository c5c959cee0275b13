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
import type { ConfigInfo, JobInfo, Trigger } from './params.js';
import { type RequestId } from './wire.js';
/** The levels of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Every {@link LogLevel}, in order. */
export declare const LOG_LEVELS: readonly LogLevel[];
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
/**
 * The plugin's durable key-value storage in the host's store. Keys are 1 to 512 bytes; values
 * any JSON up to 1 MiB encoded. Every call is scoped to the plugin and, by default, to the
 * request's tenant (see {@link TenantOption}). A failure of the host rejects with a
 * {@link HostError}.
 */
export declare class Kv {
    private readonly host;
    private readonly defaultTenant;
    /** Made by the SDK for each request. */
    constructor(host: HostConnection, defaultTenant: string | undefined);
    /** The value stored under `key`, or `null` when there is none. */
    get<T = unknown>(key: string, options?: TenantOption): Promise<T | null>;
    /**
     * Stores `value` (any JSON, up to 1 MiB encoded) under `key`, replacing what was there.
     * Storing `null` reads back as no value: use {@link Kv.delete}.
     */
    set(key: string, value: unknown, options?: TenantOption): Promise<void>;
    /** Deletes `key`; resolves `true` when there was a value. */
    delete(key: string, options?: TenantOption): Promise<boolean>;
    /** One page of the values whose keys start with `prefix`, in key order. */
    list<T = unknown>(options?: KvListOptions): Promise<KvPage<T>>;
    /**
     * Every value whose key starts with `prefix`, in key order, following the pages:
     * `for await (const { key, value } of ctx.kv.entries('seen/')) …`.
     */
    entries<T = unknown>(prefix?: string, options?: TenantOption & {
        pageSize?: number;
    }): AsyncGenerator<KvItem<T>, void, undefined>;
    private scope;
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
export declare class Context {
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
    private readonly host;
    /** Made by the SDK for each request. */
    constructor(init: ContextInit);
    /** True once the host has cancelled the request. */
    get cancelled(): boolean;
    /** Throws the {@link Cancelled} error if the host has cancelled the request. */
    throwIfCancelled(): void;
    /** Waits `ms` milliseconds; rejects with the {@link Cancelled} error if cancelled first. */
    sleep(ms: number): Promise<void>;
    /**
     * Sends a log line tied to this request. For a `run` or a `tools/call` it is a line of the
     * job's log (stored, streamed, shown with the job); for other requests the host keeps it in
     * the plugin's own log.
     */
    log(level: LogLevel, message: string): void;
    /** A `debug` line; see {@link Context.log}. */
    debug(message: string): void;
    /** An `info` line; see {@link Context.log}. */
    info(message: string): void;
    /** A `warn` line; see {@link Context.log}. */
    warn(message: string): void;
    /** An `error` line; see {@link Context.log}. */
    error(message: string): void;
    /**
     * Reports how far the request has got: `progress` of `total` (or a growing count without
     * it), with an optional message. The host keeps the latest on the job; send it when
     * something changes, not in a tight loop.
     */
    progress(progress: number, total?: number, message?: string): void;
    /**
     * Raises an event for a tenant (by default the request's), as if posted to
     * `POST /api/v1/events`: every config of that tenant subscribed to its type gets a run, this
     * plugin's included (beware of loops). Resolves with the stored event's id.
     */
    emit(type: string, payload?: unknown, options?: EmitOptions): Promise<string>;
}
/** The context of a `run`: a {@link Context} with the job, its trigger, config and payload. */
export declare class RunContext<TConfig = Record<string, unknown>, TPayload = unknown> extends Context {
    /** The job this is one attempt of: `id`, `attempt`, `maxAttempts`, `deadline`. */
    readonly job: JobInfo;
    /** Why it runs: `kind` (`schedule`, `event`, `manual`), `event`, `fireTime`. */
    readonly trigger: Trigger;
    /** The config it runs with (`id`, `name`, `values`); absent for a run without one. */
    readonly config: ConfigInfo<TConfig> | undefined;
    /** The job's own payload, as enqueued (`null` when none). */
    readonly payload: TPayload;
    /** Made by the SDK for each `run`. */
    constructor(init: ContextInit, run: {
        job: JobInfo;
        trigger: Trigger;
        config: ConfigInfo<TConfig> | undefined;
        payload: TPayload;
    });
}
