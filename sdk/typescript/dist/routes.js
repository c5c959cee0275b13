/**
 * HTTP routes: how a plugin declares them, the request its handler gets and what it answers.
 *
 * Owns: {@link route} and the {@link Route} type (method, path pattern such as `/echo/{name}`
 * with typed {@link PathParams}, auth, handler), {@link HttpRequest} (read from the `http`
 * params: the body decoded from base64), {@link HttpResponse} and {@link HttpError}, the wire
 * form of an answer ({@link httpResult}), and matching a path against the declared patterns
 * when the host does not say which route matched.
 *
 * Must not touch: sockets. The host does the HTTP; this is one request and one answer as data.
 *
 * @module
 */
import { InvalidParams } from './errors.js';
import { Fields } from './params.js';
/** A request to one of the plugin's routes; `path` is below `/plugins/{id}`. */
export class HttpRequest {
    /** `GET`, `POST`, … (`HEAD` reaches a `GET` route). */
    method;
    /** The path below `/plugins/{id}`, starting with `/`. */
    path;
    /** The raw query string, without `?`. */
    query;
    /** Request headers, names in lower case (never `Authorization` or `Cookie`). */
    headers;
    /** The body's bytes. */
    body;
    /** The caller's tenant: on `tenant` routes, and the config's on webhook deliveries. */
    tenant;
    /** The route's path as declared (`/items/{id}`): which route matched. */
    route;
    /** The values of the route's `{name}` segments, percent-decoded. */
    params;
    /** What the host checked: `public`, `read`, `write`, `admin` or `webhook`. */
    access;
    /** On webhook deliveries: the config whose address was called, secrets opened. */
    config;
    /** Made by the SDK from the `http` params. */
    constructor(init) {
        this.method = init.method;
        this.path = init.path;
        this.query = init.query ?? '';
        this.headers = init.headers ?? {};
        this.body = init.body ?? Buffer.alloc(0);
        this.tenant = init.tenant;
        this.route = init.route ?? '';
        this.params = init.params ?? {};
        this.access = init.access ?? 'public';
        this.config = init.config;
    }
    /** A request header by name, in any case. */
    header(name) {
        return this.headers[name.toLowerCase()];
    }
    /** The query string parsed (`req.searchParams.get('page')`). */
    get searchParams() {
        return new URLSearchParams(this.query);
    }
    /** The body as UTF-8 text. */
    text() {
        return this.body.toString('utf8');
    }
    /** The body parsed as JSON; throws an {@link HttpError} 400 when it is not JSON. */
    json() {
        try {
            return JSON.parse(this.text());
        }
        catch (error) {
            throw new HttpError(400, `the request body is not JSON: ${error.message}`);
        }
    }
}
/** An answer to an {@link HttpRequest}, with helpers for JSON and text. */
export class HttpResponse {
    /** The status code. */
    status;
    /** Response headers. */
    headers;
    /** The body. */
    body;
    /** A response; every field is optional (200, no headers, empty body). */
    constructor(init = {}) {
        this.status = init.status ?? 200;
        this.headers = { ...(init.headers ?? {}) };
        this.body = init.body ?? '';
    }
    /** A JSON answer (`content-type: application/json`). */
    static json(value, init = {}) {
        const body = JSON.stringify(value);
        if (body === undefined)
            throw new TypeError('HttpResponse.json needs a JSON value, got undefined');
        return new HttpResponse({
            status: init.status ?? 200,
            headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
            body,
        });
    }
    /** A text answer (`content-type: text/plain; charset=utf-8` unless `headers` say otherwise). */
    static text(text, init = {}) {
        return new HttpResponse({
            status: init.status ?? 200,
            headers: { 'content-type': 'text/plain; charset=utf-8', ...(init.headers ?? {}) },
            body: text,
        });
    }
    /** An HTML page (`content-type: text/html; charset=utf-8`), as console pages serve. */
    static html(html, init = {}) {
        return HttpResponse.text(html, {
            status: init.status ?? 200,
            headers: { 'content-type': 'text/html; charset=utf-8', ...(init.headers ?? {}) },
        });
    }
}
/**
 * Thrown by a route handler to answer with an HTTP status and a text message (rather than fail
 * the request, which the host turns into a 502): `throw new HttpError(404, 'no such item')`.
 */
export class HttpError extends Error {
    /** The status code answered. */
    status;
    /** Extra response headers. */
    headers;
    /** @param status 400 to 599 in practice; @param message the body, for the caller. */
    constructor(status, message, options = {}) {
        super(message);
        this.name = 'HttpError';
        this.status = status;
        this.headers = options.headers ?? {};
    }
    /** The answer this error stands for. */
    toResponse() {
        return HttpResponse.text(this.message, { status: this.status, headers: this.headers });
    }
}
/**
 * Declares a route and its handler, with the path's parameters typed:
 *
 * ```ts
 * route('GET', '/greeting/{name}', { auth: 'public' }, (req) =>
 *   HttpResponse.json({ greeting: `hello, ${req.params.name}` }));
 * ```
 */
export function route(method, path, options, handler) {
    const declared = { ...options, method, path };
    if (handler !== undefined)
        declared.handler = handler;
    return declared;
}
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Reads the params of `http` into an {@link HttpRequest}; a body that is not base64 is -32602. */
export function readHttpParams(params) {
    const fields = new Fields(params, 'http: params');
    const encoded = fields.optionalString('body') ?? '';
    if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) {
        throw new InvalidParams('http: params.body is not base64 (standard alphabet, with padding)');
    }
    const config = fields.optionalFields('config');
    return new HttpRequest({
        method: fields.string('method'),
        path: fields.string('path'),
        query: fields.optionalString('query') ?? '',
        headers: fields.stringMap('headers'),
        body: Buffer.from(encoded, 'base64'),
        tenant: fields.optionalString('tenant'),
        route: fields.optionalString('route') ?? '',
        params: fields.stringMap('params'),
        access: fields.optionalString('access') ?? 'public',
        config: config === undefined
            ? undefined
            : { id: config.string('id'), name: config.string('name'), values: (config.raw('values') ?? {}) },
    });
}
/** The `http` result for what a handler answered; throws a `TypeError` naming what is wrong. */
export function httpResult(returned) {
    if (typeof returned !== 'object' || returned === null) {
        throw new TypeError(`a route handler must return a response such as { status: 200, body: 'hi' } or HttpResponse.json(value), got ${String(returned)}`);
    }
    const response = returned;
    const status = response.status ?? 200;
    if (!Number.isInteger(status) || status < 100 || status > 999) {
        throw new TypeError(`a route handler returned status ${String(status)}; use 100 to 999`);
    }
    const headers = {};
    for (const [name, value] of Object.entries(response.headers ?? {})) {
        if (typeof value !== 'string') {
            throw new TypeError(`a route handler returned header ${name} as ${typeof value}; header values are strings`);
        }
        headers[name] = value;
    }
    const body = response.body ?? '';
    let bytes;
    if (typeof body === 'string')
        bytes = Buffer.from(body, 'utf8');
    else if (body instanceof Uint8Array)
        bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    else
        throw new TypeError('a route handler returned a body that is neither a string nor a Uint8Array');
    return { status, headers, body: bytes.toString('base64') };
}
/** The `{name}` segments of a pattern, or its literal segments; `/` has none. */
function segments(path) {
    return path.split('/').filter((segment) => segment !== '');
}
function paramName(segment) {
    return segment.startsWith('{') && segment.endsWith('}') ? segment.slice(1, -1) : undefined;
}
/**
 * Matches `path` against a route pattern; the `{name}` values (percent-decoded) on a match,
 * `undefined` otherwise. The host normally says which route matched; this serves requests
 * that do not (`route` absent).
 */
export function matchPath(pattern, path) {
    const want = segments(pattern);
    const have = segments(path);
    if (want.length !== have.length)
        return undefined;
    const params = {};
    for (let index = 0; index < want.length; index += 1) {
        const expected = want[index];
        let actual;
        try {
            actual = decodeURIComponent(have[index]);
        }
        catch {
            return undefined;
        }
        const name = paramName(expected);
        if (name !== undefined)
            params[name] = actual;
        else if (expected !== actual)
            return undefined;
    }
    return params;
}
/** How many literal segments a pattern has: the more, the more specific. */
export function literalCount(pattern) {
    return segments(pattern).filter((segment) => paramName(segment) === undefined).length;
}
