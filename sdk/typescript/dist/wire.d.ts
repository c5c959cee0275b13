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
export declare const PROTOCOL_VERSION = 1;
/** The longest line either side must accept, without its `\n`; a longer one is discarded. */
export declare const MAX_LINE_BYTES: number;
/** The protocol's method names, host → plugin and plugin → host. */
export declare const Method: {
    readonly INITIALIZE: "initialize";
    readonly RUN: "run";
    readonly CANCEL: "cancel";
    readonly CONFIG_VALIDATE: "config/validate";
    readonly CONFIG_TEST: "config/test";
    readonly HTTP: "http";
    readonly TOOLS_CALL: "tools/call";
    readonly PING: "ping";
    readonly SHUTDOWN: "shutdown";
    readonly LOG: "log";
    readonly PROGRESS: "progress";
    readonly KV_GET: "kv/get";
    readonly KV_SET: "kv/set";
    readonly KV_DELETE: "kv/delete";
    readonly KV_LIST: "kv/list";
    readonly EMIT: "emit";
};
/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | {
    [key: string]: JsonValue;
};
/** A JSON object. */
export type JsonObject = {
    [key: string]: JsonValue;
};
/** A request id: an integer or a string. The host numbers its requests 1, 2, 3 … */
export type RequestId = number | string;
/** A JSON-RPC error object, as carried by an error response. */
export interface ErrorObject {
    /** The error code (`ErrorCode` lists the protocol's). */
    code: number;
    /** What went wrong, for a person. */
    message: string;
    /** Anything else; `{"retryable": false}` makes any error final for the host. */
    data?: unknown;
}
/** A call that expects a response with the same id. */
export interface RequestMessage {
    kind: 'request';
    id: RequestId;
    method: string;
    params: unknown;
}
/** A message that expects no response. */
export interface NotificationMessage {
    kind: 'notification';
    method: string;
    params: unknown;
}
/** The answer to a request: a result, or an error, never both. */
export interface ResponseMessage {
    kind: 'response';
    id: RequestId;
    result?: unknown;
    error?: ErrorObject;
}
/** One decoded line. */
export type Message = RequestMessage | NotificationMessage | ResponseMessage;
/**
 * A line that is not a valid message. `id` is set when the line was a request whose id could
 * be read, so that the receiver can answer it with `-32600`.
 */
export declare class DecodeError extends Error {
    /** The id of the request the line was, when it could be read. */
    readonly id: RequestId | undefined;
    /** @param reason what is wrong with the line; @param id the request's id, if readable. */
    constructor(reason: string, id?: RequestId);
}
/** True for a valid id: a string, or an integer (the host sends integers). */
export declare function isRequestId(value: unknown): value is RequestId;
/**
 * Reads one line (without its `\n`).
 *
 * Throws {@link DecodeError} for a line that is not JSON, not an object, lacks
 * `"jsonrpc": "2.0"`, or is neither a request, a notification nor a response. As in the Rust
 * decoder, a member whose value is `null` counts as absent, except `result`: a response with
 * `"result": null` is a successful answer.
 */
export declare function decode(line: string): Message;
/** One line carrying a request. */
export declare function encodeRequest(id: RequestId, method: string, params: object): string;
/** One line carrying a notification. */
export declare function encodeNotification(method: string, params: object): string;
/**
 * One line carrying a successful response (`undefined` is sent as `null`, so that the
 * response keeps its `result`). Throws a `TypeError` when `result` is not JSON.
 */
export declare function encodeResult(id: RequestId, result: unknown): string;
/** One line carrying an error response; `data` is left out when absent. */
export declare function encodeError(id: RequestId, error: ErrorObject): string;
