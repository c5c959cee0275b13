/**
 * What a plugin author writes: a definition (identity, metadata, handlers) made into a
 * {@link Plugin} by {@link definePlugin}.
 *
 * Owns: {@link PluginDefinition}, {@link definePlugin} (which checks the definition at once,
 * with messages that name the field) and {@link Plugin}: the checked definition, its wire
 * metadata, its route and tool tables, its own log, and `serve()`.
 *
 * Must not touch: the protocol loop, which lives in `server.ts`.
 *
 * @module
 */
import type { ConfigProblem, ConfigTestResult } from './config.js';
import type { Context, LogLevel, RunContext } from './context.js';
import { type Metadata, type Schedule, type UiPage } from './metadata.js';
import type { HttpRequest, HttpResponseInit, Route } from './routes.js';
import { type ServeOptions } from './server.js';
import type { Tool } from './tools.js';
/** What a plugin's `initialize` hook learns about the host, before the plugin is ready. */
export interface InitializeInfo {
    /** The host: `name` (`plugboard`) and `version`. */
    host: {
        name: string;
        version: string;
    };
    /** The plugin's own writable directory, kept across restarts. */
    dataDir: string;
    /** A line of the plugin's own log (not a job's). */
    log(level: LogLevel, message: string): void;
}
/** A value, or a promise of it: every handler may be `async`. */
export type MaybePromise<T> = T | Promise<T>;
/**
 * A plugin: identity, what it declares (config schema, events, schedule, routes, console pages,
 * tools) and its handlers. `TConfig` types a config's values, `TPayload` a run's payload.
 */
export interface PluginDefinition<TConfig = Record<string, unknown>, TPayload = unknown> {
    /** Must equal the manifest's `id`. */
    id: string;
    /** A display name; default: the id. */
    name?: string;
    /** Must equal the manifest's `version`. */
    version: string;
    /** JSON Schema of a config's values; absent: the plugin takes no config. */
    configSchema?: Record<string, unknown>;
    /** Event types it can react to: exact (`form.submitted`) or a prefix pattern (`uptime.*`). */
    events?: readonly string[];
    /** The schedule a new config gets unless it sets its own. */
    schedule?: Schedule;
    /** HTTP routes under `/plugins/{id}`; declare each with `route(...)`. */
    routes?: ReadonlyArray<Route<string, any>>;
    /** Pages of the admin console, each served by a public `GET` route. */
    ui?: readonly UiPage[];
    /** Tools for agents; declare each with `tool(...)`. */
    tools?: ReadonlyArray<Tool<never, unknown>>;
    /**
     * Runs once, at the handshake, before the plugin is ready (it must finish within the host's
     * start timeout, 10 s: do slow set-up later). It may log, but not call the host.
     */
    initialize?(info: InitializeInfo): MaybePromise<void>;
    /**
     * Runs one attempt of a job; what it returns (any JSON) is the job's result. Throw a
     * `PluginError` to choose the outcome (`NotRetryable` fails the job at once); anything else
     * thrown is retried.
     */
    run?(ctx: RunContext<TConfig, TPayload>): unknown;
    /**
     * Checks a config's values beyond the JSON Schema (quickly, without reaching out): returns
     * the problems, none when valid. Default: valid.
     */
    validateConfig?(values: TConfig, ctx: Context): MaybePromise<ConfigProblem[] | void>;
    /** Tries a config for real when a user asks (`{ ok, message, details }`). */
    testConfig?(values: TConfig, ctx: Context): MaybePromise<ConfigTestResult>;
    /** Answers requests to routes that have no handler of their own. */
    http?(request: HttpRequest, ctx: Context): MaybePromise<HttpResponseInit>;
}
/** Where a plugin's own log lines go: the host once serving, stderr before. */
export type PluginLogSink = (level: LogLevel, message: string) => void;
/** A checked plugin definition, ready to {@link Plugin.serve}. Made by {@link definePlugin}. */
export declare class Plugin<TConfig = Record<string, unknown>, TPayload = unknown> {
    /** The plugin's id. */
    readonly id: string;
    /** Its display name. */
    readonly name: string;
    /** Its version. */
    readonly version: string;
    /** The metadata it answers `initialize` with. */
    readonly metadata: Metadata;
    /** The definition, as given. */
    readonly definition: Readonly<PluginDefinition<TConfig, TPayload>>;
    /** The routes with their handlers, by `METHOD path` as declared. */
    readonly routes: ReadonlyMap<string, Route<string, any>>;
    /** The tools with their handlers, by name. */
    readonly tools: ReadonlyMap<string, Tool<never, unknown>>;
    private logSink;
    /** Use {@link definePlugin}, which checks the definition first. */
    constructor(definition: PluginDefinition<TConfig, TPayload>, metadata: Metadata);
    /**
     * A line of the plugin's own log (not a job's; use `ctx.log` in a handler): a `log`
     * notification without `requestId` once serving, a line on stderr before.
     */
    log(level: LogLevel, message: string): void;
    /** Called by the server when it starts serving this plugin (`undefined` when it stops). */
    attachLog(sink: PluginLogSink | undefined): void;
    /**
     * Speaks the protocol on stdin and stdout until the host sends `shutdown` or closes stdin,
     * then exits the process with status 0. Same as `serve(plugin)`.
     */
    serve(options?: ServeOptions): Promise<number>;
}
/**
 * Checks a plugin definition and makes it a {@link Plugin}. Throws a
 * {@link PluginDefinitionError} naming the field for anything the host would refuse (an id it
 * cannot load, a route it cannot mount, a console page without its route, a tool name agents
 * cannot call, a route without a handler).
 *
 * ```ts
 * const plugin = definePlugin<{ greeting?: string }>({
 *   id: 'hello', version: '1.0.0',
 *   async run(ctx) { return { greeted: ctx.tenant }; },
 * });
 * plugin.serve();
 * ```
 */
export declare function definePlugin<TConfig = Record<string, unknown>, TPayload = unknown>(definition: PluginDefinition<TConfig, TPayload>): Plugin<TConfig, TPayload>;
