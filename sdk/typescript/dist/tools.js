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
import { Fields } from './params.js';
/**
 * A tool's answer: content blocks, whether the tool failed (the content then says why, for the
 * agent), and for tools with an `outputSchema` the structured answer.
 */
export class ToolResult {
    /** The answer as MCP content blocks. */
    content;
    /** True when the tool ran and failed; the agent reads `content` and may try differently. */
    isError;
    /** The answer as JSON, valid against the tool's `outputSchema`. */
    structuredContent;
    /** A result from its parts; the static helpers are shorter. */
    constructor(content, isError = false, structuredContent) {
        this.content = content;
        this.isError = isError;
        this.structuredContent = structuredContent;
    }
    /** An answer of one text block. */
    static text(text) {
        return new ToolResult([{ type: 'text', text }]);
    }
    /** A tool that ran and failed: one text block saying why, `isError: true`. */
    static error(text) {
        return new ToolResult([{ type: 'text', text }], true);
    }
    /**
     * A structured answer: `value` as `structuredContent` and, for agents that read only
     * content blocks, the same JSON as one text block (as MCP advises).
     */
    static json(value) {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
            throw new TypeError('ToolResult.json needs a JSON object (structuredContent is an object)');
        }
        return new ToolResult([{ type: 'text', text: JSON.stringify(value) }], false, value);
    }
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
export function tool(spec, handler) {
    return { ...spec, handler };
}
/** Reads the params of `tools/call`; absent arguments read as `{}`. */
export function readToolsCallParams(params) {
    const fields = new Fields(params, 'tools/call: params');
    return {
        name: fields.string('name'),
        arguments: fields.raw('arguments') ?? {},
        tenant: fields.optionalString('tenant'),
    };
}
function isPlainObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
/** The `tools/call` result for what `spec`'s handler returned; throws a `TypeError` for nothing. */
export function toolsCallResult(spec, returned) {
    let result;
    if (returned instanceof ToolResult)
        result = returned;
    else if (typeof returned === 'string')
        result = ToolResult.text(returned);
    else if (returned === undefined) {
        throw new TypeError(`tool \`${spec.name}\` returned nothing; return a string, a ToolResult, or (with an outputSchema) a JSON object`);
    }
    else if (spec.outputSchema !== undefined) {
        if (!isPlainObject(returned)) {
            throw new TypeError(`tool \`${spec.name}\` has an outputSchema, so it must return a JSON object`);
        }
        result = ToolResult.json(returned);
    }
    else {
        result = ToolResult.text(JSON.stringify(returned));
    }
    const wire = { content: result.content, isError: result.isError };
    if (result.structuredContent !== undefined)
        wire.structuredContent = result.structuredContent;
    return wire;
}
