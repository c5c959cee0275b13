/**
 * Runtime metadata: what a plugin declares when it answers `initialize`, built from its
 * definition and checked against the host's rules before the host ever sees it.
 *
 * Owns: the {@link Metadata} wire shape (as `crates/plugboard-protocol/src/metadata.rs`
 * serialises it, key order included) and {@link buildMetadata}, which checks a definition the
 * way the host checks metadata (`Metadata::check_routes`, `check_pages`) so that a mistake fails
 * in `definePlugin` with a {@link PluginDefinitionError} naming the field, not at the handshake.
 *
 * Must not touch: handlers or I/O.
 *
 * @module
 */
import type { RouteAuth } from './routes.js';
import type { ToolAnnotations } from './tools.js';
/** When a config runs by default: a cron expression with seconds, or an interval. */
export interface Schedule {
    /** Cron with seconds: `0 0 9 * * MON-FRI` (09:00 on weekdays). */
    cron?: string;
    /** A fixed interval in seconds. */
    intervalSeconds?: number;
}
/** A page of the admin console, served by one of the plugin's public `GET` routes. */
export interface UiPage {
    /** 1 to 64 letters, digits, `-`, `_`; unique in the plugin. */
    id: string;
    /** The menu text. */
    title: string;
    /** The path of a `public` `GET` route without `{name}` segments. */
    path: string;
}
/** A route as the metadata carries it. */
export interface RouteMetadata {
    method: string;
    path: string;
    auth: RouteAuth;
    webhook?: boolean;
    summary?: string;
    requestSchema?: Record<string, unknown>;
    responseSchema?: Record<string, unknown>;
}
/** A tool as the metadata carries it (MCP's tool definition). */
export interface ToolMetadata {
    name: string;
    description: string;
    inputSchema: Record<string, unknown>;
    title?: string;
    outputSchema?: Record<string, unknown>;
    annotations?: ToolAnnotations;
}
/** The `metadata` of the `initialize` result. */
export interface Metadata {
    configSchema?: Record<string, unknown>;
    events: string[];
    schedule?: Schedule;
    routes: RouteMetadata[];
    ui: UiPage[];
    tools: ToolMetadata[];
}
/** What {@link buildMetadata} reads: the declarative part of a plugin definition. */
export interface MetadataSource {
    id: string;
    configSchema?: Record<string, unknown> | undefined;
    events?: readonly string[] | undefined;
    schedule?: Schedule | undefined;
    routes?: unknown;
    ui?: unknown;
    tools?: unknown;
    /** Whether the plugin has a catch-all `http` handler (routes may then omit theirs). */
    hasHttpHandler: boolean;
}
/** A plugin definition breaks a rule of the protocol or the host; the message names the field. */
export declare class PluginDefinitionError extends Error {
    /** @param message `definePlugin(<id>): <field>: <what is wrong and what to write>`. */
    constructor(message: string);
}
/** Checks `object` has only `known` keys; a snake_case spelling gets a hint. */
export declare function checkKeys(object: Record<string, unknown>, known: readonly string[], where: string): void;
/**
 * The metadata for a definition, in the key order the host's own types serialise. Throws a
 * {@link PluginDefinitionError} for the first thing the host would refuse.
 */
export declare function buildMetadata(source: MetadataSource): Metadata;
