/**
 * `@plugboard/sdk`: write plugboard plugins in TypeScript or JavaScript.
 *
 * A plugin is a process the plugboard host starts; it speaks JSON-RPC 2.0 on stdin and
 * stdout, one message per line (protocol version 1, `docs/protocol.md`). This package is that
 * process's side, with no dependencies beyond Node.js 20:
 *
 * ```ts
 * import { definePlugin } from '@plugboard/sdk';
 *
 * definePlugin({
 *   id: 'hello',
 *   version: '1.0.0',
 *   async run(ctx) {
 *     ctx.info(`hello, ${ctx.tenant}`);
 *     return { greeted: ctx.tenant };
 *   },
 * }).serve();
 * ```
 *
 * Importing the package has no side effects: only `serve()` takes over stdin and stdout.
 *
 * @module
 */

export { definePlugin, Plugin } from './plugin.js';
export type { InitializeInfo, MaybePromise, PluginDefinition, PluginLogSink } from './plugin.js';
export { serve } from './server.js';
export type { ServeOptions } from './server.js';
export { Context, Kv, LOG_LEVELS, RunContext } from './context.js';
export type {
  ContextInit,
  EmitOptions,
  HostConnection,
  KvItem,
  KvListOptions,
  KvPage,
  LogLevel,
  TenantOption,
} from './context.js';
export { HttpError, HttpRequest, HttpResponse, route } from './routes.js';
export type {
  Access,
  HttpMethod,
  HttpResponseInit,
  PathParams,
  Route,
  RouteAuth,
  RouteHandler,
  RouteOptions,
  WebhookConfig,
} from './routes.js';
export { tool, ToolResult } from './tools.js';
export type { TextContent, Tool, ToolAnnotations, ToolReturn, ToolSpec } from './tools.js';
export type { ConfigProblem, ConfigTestResult } from './config.js';
export { Cancelled, ErrorCode, HostError, InvalidParams, isRetryable, NotRetryable, PluginError } from './errors.js';
export type { PluginErrorOptions } from './errors.js';
export { PluginDefinitionError } from './metadata.js';
export type { Metadata, RouteMetadata, Schedule, ToolMetadata, UiPage } from './metadata.js';
export type { ConfigInfo, JobInfo, Trigger, TriggerEvent } from './params.js';
export { SignatureError, verifyGithub, verifyStripe } from './webhooks.js';
export { MAX_LINE_BYTES, PROTOCOL_VERSION } from './wire.js';
export type { ErrorObject, JsonObject, JsonValue, RequestId } from './wire.js';
