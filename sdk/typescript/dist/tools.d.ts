/**
 * Agent tools: how a plugin declares them, and what a tool's handler returns, in MCP's shape.
 *
 * Owns: {@link tool} and the {@link Tool} type (MCP's tool definition plus a handler),
 * {@link ToolResult} (text content blocks, `isError`, `structuredContent`), reading the
 * `tools/call` params and the wire form of an answer ({@link toolsCallResult}).
 *
 * Must not touch: I/O.
 *
 * @module
 */
import type { Context } from './context.js';
/** MCP's hints on what a tool does to the world (a read-only token sees only read-only tools). */
export interface ToolAnnotations {
    /** A name for people. */
    title?: string;
    /** True: the tool changes nothing (read-only tokens see only these). */
    readOnlyHint?: boolean;
    /** True: the tool may destroy or overwrite. */
    destructiveHint?: boolean;
    /** True: calling it twice with the same arguments does no more than once. */
    idempotentHint?: boolean;
    /** True: the tool reaches outside plugboard. */
    openWorldHint?: boolean;
}
/** A tool's declaration, as the metadata carries it (MCP's tool definition). */
export interface ToolSpec {
    /** Unique in the plugin; agents see it as `{plugin id}.{name}`. */
    name: string;
    /** What it does, for the agent. */
    description?: string;
    /** A name for people. */
    title?: string;
    /** JSON Schema of the arguments; default `{"type": "object"}`. The host checks calls against it. */
    inputSchema?: Record<string, unknown>;
    /** JSON Schema of the structured answer; with it, return a JSON object from the handler. */
    outputSchema?: Record<string, unknown>;
    /** MCP's hints. */
    annotations?: ToolAnnotations;
}
/** One MCP content block (the protocol carries text blocks). */
export interface TextContent {
    /** Always `text`. */
    type: 'text';
    /** The text. */
    text: string;
}
/**
 * A tool's answer: content blocks, whether the tool failed (the content then says why, for the
 * agent), and for tools with an `outputSchema` the structured answer.
 */
export declare class ToolResult {
    /** The answer as MCP content blocks. */
    readonly content: TextContent[];
    /** True when the tool ran and failed; the agent reads `content` and may try differently. */
    readonly isError: boolean;
    /** The answer as JSON, valid against the tool's `outputSchema`. */
    readonly structuredContent: Record<string, unknown> | undefined;
    /** A result from its parts; the static helpers are shorter. */
    constructor(content: TextContent[], isError?: boolean, structuredContent?: Record<string, unknown>);
    /** An answer of one text block. */
    static text(text: string): ToolResult;
    /** A tool that ran and failed: one text block saying why, `isError: true`. */
    static error(text: string): ToolResult;
    /**
     * A structured answer: `value` as `structuredContent` and, for agents that read only
     * content blocks, the same JSON as one text block (as MCP advises).
     */
    static json(value: Record<string, unknown>): ToolResult;
}
/**
 * What a tool's handler returns: a string (one text block), a {@link ToolResult}, or any other
 * JSON value: with an `outputSchema`, an object sent as structured content; without, JSON text.
 */
export type ToolReturn<Out> = string | ToolResult | Out;
/** A tool: its declaration and its handler. Make one with {@link tool}. */
export interface Tool<Args = Record<string, unknown>, Out = unknown> extends ToolSpec {
    /** Answers a call; `args` were checked by the host against `inputSchema`. */
    handler(args: Args, ctx: Context): ToolReturn<Out> | Promise<ToolReturn<Out>>;
}
/**
 * Declares a tool for agents. Type the arguments (and a structured answer) with the generics:
 *
 * ```ts
 * tool<{ name: string }>(
 *   { name: 'greet', description: 'Greets someone', inputSchema: { type: 'object',
 *     properties: { name: { type: 'string' } }, required: ['name'] } },
 *   (args) => `Hello, ${args.name}!`,
 * );
 * ```
 */
export declare function tool<Args = Record<string, unknown>, Out = unknown>(spec: ToolSpec, handler: (args: Args, ctx: Context) => ToolReturn<Out> | Promise<ToolReturn<Out>>): Tool<Args, Out>;
/** The params of `tools/call`. */
export interface ToolsCallParams {
    name: string;
    arguments: unknown;
    tenant: string | undefined;
}
/** Reads the params of `tools/call`; absent arguments read as `{}`. */
export declare function readToolsCallParams(params: unknown): ToolsCallParams;
/** The `tools/call` result for what `spec`'s handler returned; throws a `TypeError` for nothing. */
export declare function toolsCallResult(spec: ToolSpec, returned: unknown): Record<string, unknown>;
