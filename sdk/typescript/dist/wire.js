/**
 * JSON-RPC 2.0 envelopes on the wire: one message per line, decoded and encoded.
 *
 * Owns: the protocol version, the method names, {@link MAX_LINE_BYTES}, the three message kinds
 * and {@link decode} (the rules of the Rust `Message::decode`: it never throws anything but
 * {@link DecodeError}), and the encoders, which make one `\n`-terminated line of compact JSON.
 *
 * Must not touch: streams, timers or handlers; the transport moves the lines this module makes.
 *
 * @module
 */
/** The plugin protocol version this SDK speaks (`docs/protocol.md`, "Versioning"). */
export const PROTOCOL_VERSION = 1;
/** The longest line either side must accept, without its `\n`; a longer one is discarded. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** The protocol's method names, host → plugin and plugin → host. */
export const Method = {
    INITIALIZE: 'initialize',
    RUN: 'run',
    CANCEL: 'cancel',
    CONFIG_VALIDATE: 'config/validate',
    CONFIG_TEST: 'config/test',
    HTTP: 'http',
    TOOLS_CALL: 'tools/call',
    PING: 'ping',
    SHUTDOWN: 'shutdown',
    LOG: 'log',
    PROGRESS: 'progress',
    KV_GET: 'kv/get',
    KV_SET: 'kv/set',
    KV_DELETE: 'kv/delete',
    KV_LIST: 'kv/list',
    EMIT: 'emit',
};
/**
 * A line that is not a valid message. `id` is set when the line was a request whose id could
 * be read, so that the receiver can answer it with `-32600`.
 */
export class DecodeError extends Error {
    /** The id of the request the line was, when it could be read. */
    id;
    /** @param reason what is wrong with the line; @param id the request's id, if readable. */
    constructor(reason, id) {
        super(reason);
        this.name = 'DecodeError';
        this.id = id;
    }
}
/** True for a valid id: a string, or an integer (the host sends integers). */
export function isRequestId(value) {
    return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));
}
function isObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
/**
 * Reads one line (without its `\n`).
 *
 * Throws {@link DecodeError} for a line that is not JSON, not an object, lacks
 * `"jsonrpc": "2.0"`, or is neither a request, a notification nor a response. As in the Rust
 * decoder, a member whose value is `null` counts as absent, except `result`: a response with
 * `"result": null` is a successful answer.
 */
export function decode(line) {
    let raw;
    try {
        raw = JSON.parse(line);
    }
    catch (error) {
        throw new DecodeError(`not a JSON-RPC message: ${error.message}`);
    }
    if (!isObject(raw)) {
        const what = Array.isArray(raw) ? 'an array (batches are not used)' : typeof raw;
        throw new DecodeError(`not a JSON-RPC message: expected an object, got ${what}`);
    }
    const id = raw.id ?? undefined;
    if (id !== undefined && !isRequestId(id)) {
        throw new DecodeError('the id must be an integer or a string');
    }
    const method = raw.method ?? undefined;
    // Only a request's id is worth answering with an error; a broken response is only logged.
    const requestId = method !== undefined ? id : undefined;
    if (raw.jsonrpc !== '2.0') {
        throw new DecodeError('the message lacks "jsonrpc": "2.0"', requestId);
    }
    const params = raw.params ?? undefined;
    if (params !== undefined && typeof params !== 'object') {
        throw new DecodeError('params must be an object', requestId);
    }
    const hasResult = 'result' in raw;
    const error = raw.error ?? undefined;
    if (method !== undefined) {
        if (typeof method !== 'string') {
            throw new DecodeError('the method must be a string', requestId);
        }
        if (hasResult || error !== undefined) {
            throw new DecodeError('a request cannot carry a result or an error', requestId);
        }
        return id === undefined
            ? { kind: 'notification', method, params }
            : { kind: 'request', id, method, params };
    }
    if (id === undefined) {
        throw new DecodeError('a message needs a method (request) or an id (response)');
    }
    if (hasResult && error !== undefined) {
        throw new DecodeError('a response cannot carry both a result and an error');
    }
    if (error !== undefined) {
        return { kind: 'response', id, error: checkErrorObject(error) };
    }
    if (!hasResult) {
        throw new DecodeError('a response needs a result or an error');
    }
    return { kind: 'response', id, result: raw.result };
}
function checkErrorObject(error) {
    if (!isObject(error)) {
        throw new DecodeError('malformed error object: expected an object');
    }
    if (typeof error.code !== 'number' || !Number.isInteger(error.code)) {
        throw new DecodeError('malformed error object: `code` must be an integer');
    }
    if (typeof error.message !== 'string') {
        throw new DecodeError('malformed error object: `message` must be a string');
    }
    const object = { code: error.code, message: error.message };
    if (error.data !== undefined && error.data !== null)
        object.data = error.data;
    return object;
}
/**
 * One line of compact JSON with its `\n`. Members whose value is `undefined` are left out, as
 * the protocol asks for absent optional fields. Throws a `TypeError` for a value that is not
 * JSON (a `BigInt`, a cycle).
 */
function line(message) {
    // JSON.stringify escapes newlines inside strings, so the result is a single line.
    return `${JSON.stringify(message)}\n`;
}
/** One line carrying a request. */
export function encodeRequest(id, method, params) {
    return line({ jsonrpc: '2.0', id, method, params });
}
/** One line carrying a notification. */
export function encodeNotification(method, params) {
    return line({ jsonrpc: '2.0', method, params });
}
/**
 * One line carrying a successful response (`undefined` is sent as `null`, so that the
 * response keeps its `result`). Throws a `TypeError` when `result` is not JSON.
 */
export function encodeResult(id, result) {
    return line({ jsonrpc: '2.0', id, result: result === undefined ? null : result });
}
/** One line carrying an error response; `data` is left out when absent. */
export function encodeError(id, error) {
    const object = { code: error.code, message: error.message };
    if (error.data !== undefined)
        object.data = error.data;
    return line({ jsonrpc: '2.0', id, error: object });
}
