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
import { LOG_LEVELS } from './context.js';
import { buildMetadata, checkKeys, PluginDefinitionError } from './metadata.js';
import { serve } from './server.js';
import { logToStderr } from './transport.js';
const DEFINITION_KEYS = [
    'id', 'name', 'version', 'configSchema', 'events', 'schedule', 'routes', 'ui', 'tools',
    'initialize', 'run', 'validateConfig', 'testConfig', 'http',
];
const HANDLERS = ['initialize', 'run', 'validateConfig', 'testConfig', 'http'];
const PLUGIN_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
/** A checked plugin definition, ready to {@link Plugin.serve}. Made by {@link definePlugin}. */
export class Plugin {
    /** The plugin's id. */
    id;
    /** Its display name. */
    name;
    /** Its version. */
    version;
    /** The metadata it answers `initialize` with. */
    metadata;
    /** The definition, as given. */
    definition;
    /** The routes with their handlers, by `METHOD path` as declared. */
    routes;
    /** The tools with their handlers, by name. */
    tools;
    logSink;
    /** Use {@link definePlugin}, which checks the definition first. */
    constructor(definition, metadata) {
        this.definition = definition;
        this.id = definition.id;
        this.name = definition.name ?? definition.id;
        this.version = definition.version;
        this.metadata = metadata;
        this.routes = new Map((definition.routes ?? []).map((route) => [`${route.method} ${route.path}`, route]));
        this.tools = new Map((definition.tools ?? []).map((declared) => [declared.name, declared]));
    }
    /**
     * A line of the plugin's own log (not a job's; use `ctx.log` in a handler): a `log`
     * notification without `requestId` once serving, a line on stderr before.
     */
    log(level, message) {
        if (!LOG_LEVELS.includes(level)) {
            throw new TypeError(`log level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
        }
        if (this.logSink === undefined)
            logToStderr(`${level}: ${message}`);
        else
            this.logSink(level, String(message));
    }
    /** Called by the server when it starts serving this plugin (`undefined` when it stops). */
    attachLog(sink) {
        this.logSink = sink;
    }
    /**
     * Speaks the protocol on stdin and stdout until the host sends `shutdown` or closes stdin,
     * then exits the process with status 0. Same as `serve(plugin)`.
     */
    serve(options = {}) {
        return serve(this, options);
    }
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
export function definePlugin(definition) {
    if (typeof definition !== 'object' || definition === null) {
        throw new PluginDefinitionError('definePlugin needs a definition object { id, version, ... }');
    }
    const id = String(definition.id);
    const fail = (message) => {
        throw new PluginDefinitionError(`definePlugin(${id}): ${message}`);
    };
    try {
        checkKeys(definition, DEFINITION_KEYS, 'the definition');
    }
    catch (error) {
        fail(error.message);
    }
    if (typeof definition.id !== 'string' || !PLUGIN_ID.test(definition.id) || definition.id.includes('..')) {
        fail('id must be 1 to 64 of a-z, 0-9, -, _ and ., starting with a letter or digit, and equal the manifest\'s id');
    }
    if (typeof definition.version !== 'string' || !SEMVER.test(definition.version)) {
        fail(`version must be a semantic version such as "1.0.0" equal to the manifest's, got ${JSON.stringify(definition.version)}`);
    }
    if (definition.name !== undefined && (typeof definition.name !== 'string' || definition.name.trim() === '')) {
        fail('name must be a non-empty string (or left out: the id is used)');
    }
    for (const handler of HANDLERS) {
        if (definition[handler] !== undefined && typeof definition[handler] !== 'function')
            fail(`${handler} must be a function`);
    }
    const metadata = buildMetadata({
        id,
        configSchema: definition.configSchema,
        events: definition.events,
        schedule: definition.schedule,
        routes: definition.routes,
        ui: definition.ui,
        tools: definition.tools,
        hasHttpHandler: definition.http !== undefined,
    });
    return new Plugin(definition, metadata);
}
