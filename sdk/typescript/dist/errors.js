/**
 * Error codes and the errors a plugin throws or receives.
 *
 * Owns: the protocol's error codes (mirroring `crates/plugboard-protocol/src/error.rs`), the
 * host's rule for which errors are retried ({@link isRetryable}), the error classes a handler
 * throws to choose its answer ({@link PluginError} and its subclasses), {@link HostError} for
 * the host's answers to the plugin's own calls, and {@link toErrorObject}, which turns anything
 * a handler throws into the error object it answers with.
 *
 * Must not touch: I/O. These are plain classes and functions.
 *
 * @module
 */
/** The protocol's error codes (`docs/protocol.md`, "Errors and retries"). */
export const ErrorCode = {
    /** The line was not JSON (never sent: such a line has no id to answer). */
    PARSE_ERROR: -32700,
    /** The JSON was not a valid request. */
    INVALID_REQUEST: -32600,
    /** The receiver does not implement the method. */
    METHOD_NOT_FOUND: -32601,
    /** The params do not fit the method. */
    INVALID_PARAMS: -32602,
    /** The receiver failed in a way that is its own fault (a bug). */
    INTERNAL_ERROR: -32603,
    /** The work failed; another attempt may succeed. */
    JOB_FAILED: -32000,
    /** The work failed and will fail again: the host fails the job without retrying. */
    NOT_RETRYABLE: -32001,
    /** The work stopped because it was cancelled. */
    CANCELLED: -32002,
    /** The plugin does not speak the host's protocol version. */
    UNSUPPORTED_PROTOCOL_VERSION: -32003,
    /** A host service failed (the store could not be read or written); try again later. */
    HOST_ERROR: -32010,
    /** The plugin asked for something its manifest or the host does not permit. */
    PERMISSION_DENIED: -32011,
};
/** Codes the host treats as final when `data.retryable` does not say otherwise. */
const FINAL_CODES = new Set([
    ErrorCode.NOT_RETRYABLE,
    ErrorCode.INVALID_PARAMS,
    ErrorCode.METHOD_NOT_FOUND,
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
    ErrorCode.PERMISSION_DENIED,
    ErrorCode.CANCELLED,
]);
function isPlainObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
/**
 * Whether the host retries a `run` that failed with this error (the Rust
 * `ErrorObject::is_retryable`): `data.retryable` decides when it is a boolean; otherwise every
 * code is retryable except -32001, -32602, -32601, -32003, -32011 and -32002.
 */
export function isRetryable(error) {
    if (isPlainObject(error.data) && typeof error.data.retryable === 'boolean') {
        return error.data.retryable;
    }
    return !FINAL_CODES.has(error.code);
}
/**
 * An error a handler throws to answer with a chosen code and data.
 *
 * ```ts
 * throw new PluginError('the mail server did not answer within 30 s');          // retried
 * throw new PluginError('quota exhausted until tomorrow', { retryable: false }); // final
 * ```
 *
 * Any other error a handler throws answers -32000 (retried) with its message.
 */
export class PluginError extends Error {
    /** The JSON-RPC error code the request is answered with. */
    code;
    /** The error object's `data`, if any. */
    data;
    /** @param message what failed and what to do, for a person (the job's error for a run). */
    constructor(message, options = {}) {
        super(message, options.cause === undefined ? undefined : { cause: options.cause });
        this.name = 'PluginError';
        this.code =
            options.code ?? (options.retryable === false ? ErrorCode.NOT_RETRYABLE : ErrorCode.JOB_FAILED);
        let data = options.data;
        if (options.retryable !== undefined) {
            if (data !== undefined && !isPlainObject(data)) {
                throw new TypeError('PluginError: `data` must be an object when `retryable` is given');
            }
            data = { ...(data ?? {}), retryable: options.retryable };
        }
        this.data = data;
    }
    /** Whether the host will retry a run that fails with this error. */
    get retryable() {
        return isRetryable(this.toErrorObject());
    }
    /** The JSON-RPC error object this error answers with. */
    toErrorObject() {
        const error = { code: this.code, message: this.message };
        if (this.data !== undefined)
            error.data = this.data;
        return error;
    }
}
/**
 * The work failed and will fail again (bad config, a permanent refusal): the host fails the
 * job at once, without another attempt. Answers -32001 with `data: {"retryable": false}`.
 */
export class NotRetryable extends PluginError {
    /** @param message what failed and what to change, for a person. */
    constructor(message, options = {}) {
        super(message, { code: ErrorCode.NOT_RETRYABLE, retryable: false, cause: options.cause });
        this.name = 'NotRetryable';
    }
}
/**
 * The work stopped because the host cancelled it. Answers -32002; the host then marks a
 * cancelled job `cancelled`. `ctx.signal.reason` is one of these once the host cancels, so
 * `ctx.signal.throwIfAborted()` throws it.
 */
export class Cancelled extends PluginError {
    /** @param message default `cancelled`; the SDK writes `cancelled: <the host's reason>`. */
    constructor(message = 'cancelled') {
        super(message, { code: ErrorCode.CANCELLED });
        this.name = 'Cancelled';
    }
}
/** The params of a request do not fit its method. Answers -32602, naming the field. */
export class InvalidParams extends PluginError {
    /** @param message names the field, for example `run: params.job.id must be an integer`. */
    constructor(message) {
        super(message, { code: ErrorCode.INVALID_PARAMS });
        this.name = 'InvalidParams';
    }
}
/**
 * The host answered one of the plugin's calls (`kv/*`, `emit`) with an error.
 *
 * Uncaught in a handler, it fails the request with -32000 and this message; when the host's
 * code is final (-32011 permission denied, -32602 a key or value out of bounds) with
 * `data.retryable: false` too, so a run is not retried in vain.
 */
export class HostError extends Error {
    /** The method the plugin called, such as `kv/get`. */
    method;
    /** The host's code, for example -32010 (the store failed) or -32011 (not permitted). */
    code;
    /** The host's message, as it sent it. */
    hostMessage;
    /** The host's error data, if any. */
    data;
    /** Made by the SDK from the host's error answer to `method`. */
    constructor(method, error) {
        super(`${method} failed: ${error.message} (code ${error.code})`);
        this.name = 'HostError';
        this.method = method;
        this.code = error.code;
        this.hostMessage = error.message;
        this.data = error.data;
    }
    /** Whether trying again may help (the host's store was down), by the host's own rule. */
    get retryable() {
        const error = { code: this.code, message: this.hostMessage };
        if (this.data !== undefined)
            error.data = this.data;
        return isRetryable(error);
    }
}
/** The error for a method the plugin does not implement (-32601), in the golden wording. */
export function notImplemented(method) {
    return new PluginError(`method \`${method}\` is not implemented by this plugin`, {
        code: ErrorCode.METHOD_NOT_FOUND,
    });
}
/** A readable one-line description of anything thrown. */
export function describe(thrown) {
    if (thrown instanceof Error) {
        const message = thrown.message || thrown.name;
        return thrown.name && thrown.name !== 'Error' && !message.startsWith(thrown.name)
            ? `${thrown.name}: ${message}`
            : message;
    }
    if (typeof thrown === 'string')
        return thrown;
    try {
        return `a thrown ${typeof thrown}: ${JSON.stringify(thrown)}`;
    }
    catch {
        return `a thrown ${typeof thrown}`;
    }
}
/**
 * The error object a request answers with for what its handler threw: a {@link PluginError}'s
 * own; a {@link HostError} as -32000 (final when the host's code is); anything else as -32000
 * with its message. Once the request was cancelled, anything but a `PluginError` (an
 * `AbortError` from `fetch`, say) answers as cancelled, with `cancelMessage`.
 */
export function toErrorObject(thrown, cancelMessage) {
    if (thrown instanceof PluginError)
        return thrown.toErrorObject();
    if (cancelMessage !== undefined)
        return { code: ErrorCode.CANCELLED, message: cancelMessage };
    if (thrown instanceof HostError) {
        const error = { code: ErrorCode.JOB_FAILED, message: thrown.message };
        if (!thrown.retryable)
            error.data = { retryable: false };
        return error;
    }
    return { code: ErrorCode.JOB_FAILED, message: describe(thrown) };
}
