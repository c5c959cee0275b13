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
export class PluginDefinitionError extends Error {
  /** @param message `definePlugin(<id>): <field>: <what is wrong and what to write>`. */
  constructor(message: string) {
    super(message);
    this.name = 'PluginDefinitionError';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ROUTE_AUTH: readonly string[] = ['public', 'tenant', 'admin'];
const ROUTE_KEYS = ['method', 'path', 'auth', 'webhook', 'summary', 'requestSchema', 'responseSchema', 'handler'];
const TOOL_KEYS = ['name', 'description', 'title', 'inputSchema', 'outputSchema', 'annotations', 'handler'];
const HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'];
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const PAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const PARAM_NAME = /^[A-Za-z0-9_]+$/;

/** Checks `object` has only `known` keys; a snake_case spelling gets a hint. */
export function checkKeys(object: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const camel = key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
    const hint = camel !== key && known.includes(camel) ? `; did you mean \`${camel}\`?` : '';
    throw new Error(`${where} has an unknown field \`${key}\`${hint} (known: ${known.join(', ')})`);
  }
}

/**
 * The metadata for a definition, in the key order the host's own types serialise. Throws a
 * {@link PluginDefinitionError} for the first thing the host would refuse.
 */
export function buildMetadata(source: MetadataSource): Metadata {
  try {
    return build(source);
  } catch (error) {
    if (error instanceof PluginDefinitionError) throw error;
    throw new PluginDefinitionError(`definePlugin(${source.id}): ${(error as Error).message}`);
  }
}

function build(source: MetadataSource): Metadata {
  let configSchema: Record<string, unknown> | undefined;
  if (source.configSchema !== undefined) {
    if (!isPlainObject(source.configSchema)) throw new Error('configSchema must be a JSON Schema object');
    configSchema = source.configSchema;
  }
  const events = source.events ?? [];
  if (!Array.isArray(events) || !events.every((event) => typeof event === 'string' && event !== '')) {
    throw new Error('events must be a list of event types such as "form.submitted" or "uptime.*"');
  }
  const schedule = source.schedule === undefined ? undefined : checkSchedule(source.schedule);
  const routes = checkRoutes(source.routes ?? [], source.hasHttpHandler);
  // In the order the host's own type serialises its fields (the golden files' order).
  const metadata: Metadata = {
    ...(configSchema === undefined ? {} : { configSchema }),
    events: [...events],
    ...(schedule === undefined ? {} : { schedule }),
    routes,
    ui: checkPages(source.ui ?? [], routes),
    tools: checkTools(source.tools ?? [], source.id),
  };
  return metadata;
}

function checkSchedule(raw: unknown): Schedule {
  if (!isPlainObject(raw)) throw new Error('schedule must be { intervalSeconds: N } or { cron: "…" }');
  checkKeys(raw, ['cron', 'intervalSeconds'], 'schedule');
  const { cron, intervalSeconds } = raw;
  const wire: Schedule = {};
  if (cron !== undefined) {
    if (typeof cron !== 'string' || cron.trim() === '') throw new Error('schedule.cron must be a cron expression');
    wire.cron = cron;
  }
  if (intervalSeconds !== undefined) {
    if (typeof intervalSeconds !== 'number' || !Number.isInteger(intervalSeconds) || intervalSeconds < 1) {
      throw new Error('schedule.intervalSeconds must be a positive integer');
    }
    wire.intervalSeconds = intervalSeconds;
  }
  if (wire.cron === undefined && wire.intervalSeconds === undefined) {
    throw new Error('schedule needs intervalSeconds or cron');
  }
  return wire;
}

function optionalString(item: Record<string, unknown>, key: string, here: string): string | undefined {
  const value = item[key];
  if (value !== undefined && typeof value !== 'string') throw new Error(`${here}: ${key} must be a string`);
  return value;
}

function optionalSchema(item: Record<string, unknown>, key: string, here: string): Record<string, unknown> | undefined {
  const value = item[key];
  if (value !== undefined && !isPlainObject(value)) throw new Error(`${here}: ${key} must be a JSON Schema object`);
  return value;
}

function checkRoutes(routes: unknown, hasHttpHandler: boolean): RouteMetadata[] {
  if (!Array.isArray(routes)) throw new Error('routes must be a list of route(...) declarations');
  const seen = new Set<string>();
  let webhooks = 0;
  return routes.map((route: unknown, index) => {
    if (!isPlainObject(route)) throw new Error(`routes[${index}] must be an object; declare it with route(...)`);
    const { method, path, auth, webhook, handler } = route;
    const here = `routes[${index}] (${String(method)} ${String(path)})`;
    checkKeys(route, ROUTE_KEYS, here);
    if (typeof method !== 'string' || !/^[A-Z]+$/.test(method)) {
      throw new Error(`${here}: the method must be an HTTP method in upper case, like GET or POST`);
    }
    if (typeof path !== 'string' || !path.startsWith('/')) throw new Error(`${here}: the path must start with /`);
    const params = new Set<string>();
    if (path !== '/') {
      for (const segment of path.split('/').slice(1)) {
        if (segment === '' || segment === '.' || segment === '..') {
          throw new Error(`${here}: the path has an empty, \`.\` or \`..\` segment`);
        }
        if (segment.startsWith('{') && segment.endsWith('}')) {
          const name = segment.slice(1, -1);
          if (!PARAM_NAME.test(name)) throw new Error(`${here}: \`${segment}\` must name its parameter with letters, digits and _`);
          if (params.has(name)) throw new Error(`${here}: the parameter \`${name}\` appears twice`);
          params.add(name);
        } else if (/[{}%?#]/.test(segment)) {
          throw new Error(`${here}: \`${segment}\` may not contain {, }, %, ? or # (a parameter is a whole segment, \`{name}\`)`);
        }
      }
    }
    const shape = `${method} ${path.replace(/\{[^/]*\}/g, '{}')}`;
    if (seen.has(shape)) throw new Error(`${here}: another route has the same method and path`);
    seen.add(shape);
    if (typeof auth !== 'string' || !ROUTE_AUTH.includes(auth)) {
      throw new Error(`${here}: auth must be one of ${ROUTE_AUTH.join(', ')}`);
    }
    if (webhook !== undefined && typeof webhook !== 'boolean') throw new Error(`${here}: webhook must be true or false`);
    if (webhook === true) {
      webhooks += 1;
      if (webhooks > 1) throw new Error(`${here}: only one route may be the webhook route`);
      if (params.size > 0) throw new Error(`${here}: the webhook route cannot have {param} segments (its address is /hooks/{config}/{secret})`);
      if (auth !== 'public') throw new Error(`${here}: the webhook route must be \`public\` (the secret in its address is what admits a delivery)`);
    }
    if (handler !== undefined && typeof handler !== 'function') throw new Error(`${here}: the handler must be a function`);
    if (handler === undefined && !hasHttpHandler) {
      throw new Error(`${here} has no handler, and the plugin has no \`http\` handler to answer it`);
    }
    const summary = optionalString(route, 'summary', here);
    const requestSchema = optionalSchema(route, 'requestSchema', here);
    const responseSchema = optionalSchema(route, 'responseSchema', here);
    const wire: RouteMetadata = { method, path, auth: auth as RouteAuth };
    if (webhook === true) wire.webhook = true;
    if (summary !== undefined) wire.summary = summary;
    if (requestSchema !== undefined) wire.requestSchema = requestSchema;
    if (responseSchema !== undefined) wire.responseSchema = responseSchema;
    return wire;
  });
}

function checkPages(pages: unknown, routes: readonly RouteMetadata[]): UiPage[] {
  if (!Array.isArray(pages)) throw new Error('ui must be a list of { id, title, path } pages');
  const ids = new Set<string>();
  return pages.map((page: unknown, index) => {
    if (!isPlainObject(page)) throw new Error(`ui[${index}] must be an object { id, title, path }`);
    const { id, title, path } = page;
    const here = `ui[${index}] (${String(id)})`;
    checkKeys(page, ['id', 'title', 'path'], here);
    if (typeof id !== 'string' || !PAGE_ID.test(id)) throw new Error(`${here}: the id must be 1 to 64 letters, digits, - or _`);
    if (ids.has(id)) throw new Error(`${here}: another page has the same id`);
    ids.add(id);
    if (typeof title !== 'string' || title.trim() === '') throw new Error(`${here}: the title is empty`);
    const served = routes.find((route) => route.method === 'GET' && route.path === path);
    if (typeof path !== 'string' || served === undefined) {
      throw new Error(`${here}: the path ${String(path)} is not one of the plugin's GET routes; declare the route that serves the page`);
    }
    if (served.auth !== 'public') {
      throw new Error(`${here}: the route GET ${path} must be \`public\`: the console loads a page in a frame, which cannot send a token`);
    }
    if (path.includes('{')) throw new Error(`${here}: the page's route GET ${path} cannot have {name} segments`);
    return { id, title, path };
  });
}

function checkTools(tools: unknown, pluginId: string): ToolMetadata[] {
  if (!Array.isArray(tools)) throw new Error('tools must be a list of tool(...) declarations');
  const names = new Set<string>();
  return tools.map((tool: unknown, index) => {
    if (!isPlainObject(tool)) throw new Error(`tools[${index}] must be an object; declare it with tool(...)`);
    const { name, handler, annotations } = tool;
    const here = `tools[${index}] (${String(name)})`;
    checkKeys(tool, TOOL_KEYS, here);
    if (typeof name !== 'string' || !TOOL_NAME.test(name) || `${pluginId}.${name}`.length > 128) {
      throw new Error(`${here}: the name must be letters, digits, _, - or ., and \`${pluginId}.<name>\` at most 128 characters (MCP's rule)`);
    }
    if (names.has(name)) throw new Error(`${here}: another tool has the same name`);
    names.add(name);
    if (typeof handler !== 'function') throw new Error(`${here}: the handler must be a function`);
    const description = optionalString(tool, 'description', here);
    const title = optionalString(tool, 'title', here);
    const inputSchema = optionalSchema(tool, 'inputSchema', here);
    const outputSchema = optionalSchema(tool, 'outputSchema', here);
    const wire: ToolMetadata = { name, description: description ?? '', inputSchema: inputSchema ?? { type: 'object' } };
    if (title !== undefined) wire.title = title;
    if (outputSchema !== undefined) wire.outputSchema = outputSchema;
    if (annotations !== undefined) wire.annotations = checkAnnotations(annotations, here);
    return wire;
  });
}

function checkAnnotations(annotations: unknown, here: string): ToolAnnotations {
  if (!isPlainObject(annotations)) throw new Error(`${here}: annotations must be an object`);
  checkKeys(annotations, ['title', ...HINTS], `${here}.annotations`);
  for (const hint of HINTS) {
    const value = annotations[hint];
    if (value !== undefined && typeof value !== 'boolean') throw new Error(`${here}: annotations.${hint} must be true or false`);
  }
  optionalString(annotations, 'title', `${here}: annotations`);
  return { ...annotations } as ToolAnnotations;
}
