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
import type { Context } from './context.js';
/** An HTTP method in upper case. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | (string & {});
/**
 * Who may call a route: `public` (anyone), `tenant` (a token scoped to a tenant, passed to the
 * plugin as `tenant`; read tokens for `GET` and `HEAD` only) or `admin` (the admin token).
 */
export type RouteAuth = 'public' | 'tenant' | 'admin';
/** What the host checked before passing a request on. */
export type Access = 'public' | 'read' | 'write' | 'admin' | 'webhook' | (string & {});
type ParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}` ? Name | ParamNames<Rest> : never;
/**
 * The `{name}` segments of a path pattern as an object type:
 * `PathParams<'/items/{id}/parts/{part}'>` is `{ id: string; part: string }`.
 */
export type PathParams<P extends string> = string extends P ? Record<string, string> : {
    [K in ParamNames<P>]: string;
};
/** On webhook deliveries: the config whose address was called, its secret fields opened. */
export interface WebhookConfig<TConfig = Record<string, unknown>> {
    /** The config's id. */
    id: string;
    /** The config's name. */
    name: string;
    /** Its values, secret fields opened (to check the sender's signature). */
    values: TConfig;
}
/** A request to one of the plugin's routes; `path` is below `/plugins/{id}`. */
export declare class HttpRequest<Params = Record<string, string>, TConfig = Record<string, unknown>> {
    /** `GET`, `POST`, … (`HEAD` reaches a `GET` route). */
    readonly method: string;
    /** The path below `/plugins/{id}`, starting with `/`. */
    readonly path: string;
    /** The raw query string, without `?`. */
    readonly query: string;
    /** Request headers, names in lower case (never `Authorization` or `Cookie`). */
    readonly headers: Readonly<Record<string, string>>;
    /** The body's bytes. */
    readonly body: Buffer;
    /** The caller's tenant: on `tenant` routes, and the config's on webhook deliveries. */
    readonly tenant: string | undefined;
    /** The route's path as declared (`/items/{id}`): which route matched. */
    readonly route: string;
    /** The values of the route's `{name}` segments, percent-decoded. */
    readonly params: Params;
    /** What the host checked: `public`, `read`, `write`, `admin` or `webhook`. */
    readonly access: Access;
    /** On webhook deliveries: the config whose address was called, secrets opened. */
    readonly config: WebhookConfig<TConfig> | undefined;
    /** Made by the SDK from the `http` params. */
    constructor(init: {
        method: string;
        path: string;
        query?: string;
        headers?: Record<string, string>;
        body?: Buffer;
        tenant?: string | undefined;
        route?: string;
        params?: Params;
        access?: Access;
        config?: WebhookConfig<TConfig> | undefined;
    });
    /** A request header by name, in any case. */
    header(name: string): string | undefined;
    /** The query string parsed (`req.searchParams.get('page')`). */
    get searchParams(): URLSearchParams;
    /** The body as UTF-8 text. */
    text(): string;
    /** The body parsed as JSON; throws an {@link HttpError} 400 when it is not JSON. */
    json<T = unknown>(): T;
}
/** What a route handler answers: a plain object, or an {@link HttpResponse}. */
export interface HttpResponseInit {
    /** The status code; default 200. */
    status?: number;
    /** Response headers, name → value. */
    headers?: Record<string, string>;
    /** The body: text (sent as UTF-8) or bytes; default empty. */
    body?: string | Uint8Array;
}
/** An answer to an {@link HttpRequest}, with helpers for JSON and text. */
export declare class HttpResponse implements HttpResponseInit {
    /** The status code. */
    readonly status: number;
    /** Response headers. */
    readonly headers: Record<string, string>;
    /** The body. */
    readonly body: string | Uint8Array;
    /** A response; every field is optional (200, no headers, empty body). */
    constructor(init?: HttpResponseInit);
    /** A JSON answer (`content-type: application/json`). */
    static json(value: unknown, init?: {
        status?: number;
        headers?: Record<string, string>;
    }): HttpResponse;
    /** A text answer (`content-type: text/plain; charset=utf-8` unless `headers` say otherwise). */
    static text(text: string, init?: {
        status?: number;
        headers?: Record<string, string>;
    }): HttpResponse;
    /** An HTML page (`content-type: text/html; charset=utf-8`), as console pages serve. */
    static html(html: string, init?: {
        status?: number;
        headers?: Record<string, string>;
    }): HttpResponse;
}
/**
 * Thrown by a route handler to answer with an HTTP status and a text message (rather than fail
 * the request, which the host turns into a 502): `throw new HttpError(404, 'no such item')`.
 */
export declare class HttpError extends Error {
    /** The status code answered. */
    readonly status: number;
    /** Extra response headers. */
    readonly headers: Record<string, string>;
    /** @param status 400 to 599 in practice; @param message the body, for the caller. */
    constructor(status: number, message: string, options?: {
        headers?: Record<string, string>;
    });
    /** The answer this error stands for. */
    toResponse(): HttpResponse;
}
/** A route handler: gets the request and the request's context, answers a response. */
export type RouteHandler<Params = Record<string, string>, TConfig = Record<string, unknown>> = (request: HttpRequest<Params, TConfig>, ctx: Context) => HttpResponseInit | Promise<HttpResponseInit>;
/** A route's declaration, as the metadata carries it, besides method and path. */
export interface RouteOptions {
    /** Who may call it. */
    auth: RouteAuth;
    /** True for the one route (public, without `{name}`) that receives each config's webhook deliveries. */
    webhook?: boolean;
    /** One line on what it does, for the API's OpenAPI document. */
    summary?: string;
    /** JSON Schema of a JSON request body, for the OpenAPI document. */
    requestSchema?: Record<string, unknown>;
    /** JSON Schema of a JSON answer, for the OpenAPI document. */
    responseSchema?: Record<string, unknown>;
}
/** A route: its declaration and (usually) its handler. Make one with {@link route}. */
export interface Route<P extends string = string, TConfig = Record<string, unknown>> extends RouteOptions {
    /** The HTTP method, upper case. */
    method: HttpMethod;
    /** The path below `/plugins/{id}`; `{name}` is a whole segment that matches one segment. */
    path: P;
    /**
     * Answers the route's requests. Without it, the plugin's `http` handler does. (A method, so
     * that routes with different parameters fit in one list.)
     */
    handler?(request: HttpRequest<PathParams<P>, TConfig>, ctx: Context): HttpResponseInit | Promise<HttpResponseInit>;
}
/**
 * Declares a route and its handler, with the path's parameters typed:
 *
 * ```ts
 * route('GET', '/greeting/{name}', { auth: 'public' }, (req) =>
 *   HttpResponse.json({ greeting: `hello, ${req.params.name}` }));
 * ```
 */
export declare function route<P extends string, TConfig = Record<string, unknown>>(method: HttpMethod, path: P, options: RouteOptions, handler?: RouteHandler<PathParams<P>, TConfig>): Route<P, TConfig>;
/** Reads the params of `http` into an {@link HttpRequest}; a body that is not base64 is -32602. */
export declare function readHttpParams(params: unknown): HttpRequest;
/** The `http` result for what a handler answered; throws a `TypeError` naming what is wrong. */
export declare function httpResult(returned: unknown): {
    status: number;
    headers: Record<string, string>;
    body: string;
};
/**
 * Matches `path` against a route pattern; the `{name}` values (percent-decoded) on a match,
 * `undefined` otherwise. The host normally says which route matched; this serves requests
 * that do not (`route` absent).
 */
export declare function matchPath(pattern: string, path: string): Record<string, string> | undefined;
/** How many literal segments a pattern has: the more, the more specific. */
export declare function literalCount(pattern: string): number;
export {};
