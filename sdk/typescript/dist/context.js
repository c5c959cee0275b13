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
import { Method } from './wire.js';
/** Every {@link LogLevel}, in order. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];
function checkKey(key) {
    if (typeof key !== 'string' || key.length === 0 || Buffer.byteLength(key, 'utf8') > 512) {
        throw new TypeError(`a kv key must be a string of 1 to 512 bytes, got ${JSON.stringify(key)}`);
    }
}
function unexpected(method, result) {
    return new HostError(method, {
        code: ErrorCode.INTERNAL_ERROR,
        message: `the host answered with an unexpected result ${JSON.stringify(result)}`,
    });
}
function isObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
/**
 * The plugin's durable key-value storage in the host's store. Keys are 1 to 512 bytes; values
 * any JSON up to 1 MiB encoded. Every call is scoped to the plugin and, by default, to the
 * request's tenant (see {@link TenantOption}). A failure of the host rejects with a
 * {@link HostError}.
 */
export class Kv {
    host;
    defaultTenant;
    /** Made by the SDK for each request. */
    constructor(host, defaultTenant) {
        this.host = host;
        this.defaultTenant = defaultTenant;
    }
    /** The value stored under `key`, or `null` when there is none. */
    async get(key, options = {}) {
        checkKey(key);
        const result = await this.host.call(Method.KV_GET, { ...this.scope(options), key });
        if (!isObject(result))
            throw unexpected(Method.KV_GET, result);
        return (result.value ?? null);
    }
    /**
     * Stores `value` (any JSON, up to 1 MiB encoded) under `key`, replacing what was there.
     * Storing `null` reads back as no value: use {@link Kv.delete}.
     */
    async set(key, value, options = {}) {
        checkKey(key);
        if (value === undefined) {
            throw new TypeError(`kv.set(${JSON.stringify(key)}) needs a value; use kv.delete to remove one`);
        }
        await this.host.call(Method.KV_SET, { ...this.scope(options), key, value });
    }
    /** Deletes `key`; resolves `true` when there was a value. */
    async delete(key, options = {}) {
        checkKey(key);
        const result = await this.host.call(Method.KV_DELETE, { ...this.scope(options), key });
        if (!isObject(result))
            throw unexpected(Method.KV_DELETE, result);
        return result.deleted === true;
    }
    /** One page of the values whose keys start with `prefix`, in key order. */
    async list(options = {}) {
        const params = { ...this.scope(options), prefix: options.prefix ?? '' };
        if (options.cursor !== undefined)
            params.cursor = options.cursor;
        if (options.limit !== undefined)
            params.limit = options.limit;
        const result = await this.host.call(Method.KV_LIST, params);
        if (!isObject(result) || !Array.isArray(result.items))
            throw unexpected(Method.KV_LIST, result);
        const items = result.items.map((item) => {
            if (!isObject(item) || typeof item.key !== 'string')
                throw unexpected(Method.KV_LIST, result);
            return { key: item.key, value: (item.value ?? null) };
        });
        const page = { items };
        if (typeof result.nextCursor === 'string')
            page.nextCursor = result.nextCursor;
        return page;
    }
    /**
     * Every value whose key starts with `prefix`, in key order, following the pages:
     * `for await (const { key, value } of ctx.kv.entries('seen/')) …`.
     */
    async *entries(prefix = '', options = {}) {
        let cursor;
        do {
            const listOptions = { prefix };
            if (options.tenant !== undefined)
                listOptions.tenant = options.tenant;
            if (cursor !== undefined)
                listOptions.cursor = cursor;
            if (options.pageSize !== undefined)
                listOptions.limit = options.pageSize;
            const page = await this.list(listOptions);
            yield* page.items;
            cursor = page.nextCursor;
        } while (cursor !== undefined);
    }
    scope(options) {
        const tenant = options.tenant === undefined ? this.defaultTenant : options.tenant;
        return tenant === null || tenant === undefined ? {} : { tenant };
    }
}
/**
 * The context of one request from the host; every handler gets one. It says whom the request
 * is for, carries its cancellation ({@link Context.signal}) and reaches the host's services.
 */
export class Context {
    /** The id of the host's request; `log` and `progress` carry it as `requestId`. */
    requestId;
    /** The request's method: `run`, `http`, `tools/call`, `config/validate`, `config/test`. */
    method;
    /** For whom: the run's, the caller's or the config's tenant; `undefined` for none. */
    tenant;
    /** The plugin's own writable directory (also `HOME` and `TMPDIR`), kept across restarts. */
    dataDir;
    /**
     * Aborted when the host cancels the request (a user cancelled the job, its deadline passed,
     * the host is stopping, an HTTP client went away). Its `reason` is a {@link Cancelled}
     * error, so `ctx.signal.throwIfAborted()` ends the handler with the right answer. Pass it on:
     * `fetch(url, { signal: ctx.signal })`, `setTimeout` of `node:timers/promises`, child
     * processes.
     */
    signal;
    /** Durable key-value storage, scoped to this plugin and by default to {@link tenant}. */
    kv;
    host;
    /** Made by the SDK for each request. */
    constructor(init) {
        this.host = init.host;
        this.requestId = init.requestId;
        this.method = init.method;
        this.tenant = init.tenant;
        this.dataDir = init.dataDir;
        this.signal = init.signal;
        this.kv = new Kv(init.host, init.tenant);
    }
    /** True once the host has cancelled the request. */
    get cancelled() {
        return this.signal.aborted;
    }
    /** Throws the {@link Cancelled} error if the host has cancelled the request. */
    throwIfCancelled() {
        this.signal.throwIfAborted();
    }
    /** Waits `ms` milliseconds; rejects with the {@link Cancelled} error if cancelled first. */
    sleep(ms) {
        const signal = this.signal;
        return new Promise((resolve, reject) => {
            if (signal.aborted) {
                reject(signal.reason);
                return;
            }
            const onAbort = () => {
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
    log(level, message) {
        if (!LOG_LEVELS.includes(level)) {
            throw new TypeError(`log level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
        }
        this.host.notify(Method.LOG, { level, message: String(message), requestId: this.requestId });
    }
    /** A `debug` line; see {@link Context.log}. */
    debug(message) {
        this.log('debug', message);
    }
    /** An `info` line; see {@link Context.log}. */
    info(message) {
        this.log('info', message);
    }
    /** A `warn` line; see {@link Context.log}. */
    warn(message) {
        this.log('warn', message);
    }
    /** An `error` line; see {@link Context.log}. */
    error(message) {
        this.log('error', message);
    }
    /**
     * Reports how far the request has got: `progress` of `total` (or a growing count without
     * it), with an optional message. The host keeps the latest on the job; send it when
     * something changes, not in a tight loop.
     */
    progress(progress, total, message) {
        if (typeof progress !== 'number' || !Number.isFinite(progress)) {
            throw new TypeError(`progress must be a finite number, got ${String(progress)}`);
        }
        const params = { requestId: this.requestId, progress };
        if (total !== undefined)
            params.total = total;
        if (message !== undefined)
            params.message = String(message);
        this.host.notify(Method.PROGRESS, params);
    }
    /**
     * Raises an event for a tenant (by default the request's), as if posted to
     * `POST /api/v1/events`: every config of that tenant subscribed to its type gets a run, this
     * plugin's included (beware of loops). Resolves with the stored event's id.
     */
    async emit(type, payload = null, options = {}) {
        const tenant = options.tenant ?? this.tenant;
        if (!tenant) {
            throw new TypeError(`emit(${JSON.stringify(type)}) needs a tenant, and this request has none; pass { tenant }`);
        }
        if (typeof type !== 'string' || type === '') {
            throw new TypeError(`emit needs an event type such as "uptime.down", got ${JSON.stringify(type)}`);
        }
        const params = { tenant, type, payload: payload === undefined ? null : payload };
        if (options.idempotencyKey !== undefined)
            params.idempotencyKey = options.idempotencyKey;
        const result = await this.host.call(Method.EMIT, params);
        if (!isObject(result) || typeof result.eventId !== 'string')
            throw unexpected(Method.EMIT, result);
        return result.eventId;
    }
}
/** The context of a `run`: a {@link Context} with the job, its trigger, config and payload. */
export class RunContext extends Context {
    /** The job this is one attempt of: `id`, `attempt`, `maxAttempts`, `deadline`. */
    job;
    /** Why it runs: `kind` (`schedule`, `event`, `manual`), `event`, `fireTime`. */
    trigger;
    /** The config it runs with (`id`, `name`, `values`); absent for a run without one. */
    config;
    /** The job's own payload, as enqueued (`null` when none). */
    payload;
    /** Made by the SDK for each `run`. */
    constructor(init, run) {
        super(init);
        this.job = run.job;
        this.trigger = run.trigger;
        this.config = run.config;
        this.payload = run.payload;
    }
}
