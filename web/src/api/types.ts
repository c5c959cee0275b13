// The shapes of /api/v1, generated from docs/openapi.json into schema.d.ts (`cd web/schema &&
// npm ci && npm run generate`; CI fails when the two differ). Only what the document cannot say
// is written here: the plugin metadata and schedules that pass through the API as JSON.

import type { components } from "./schema";

type Schemas = components["schemas"];

export type Job = Schemas["JobView"];
export type JobStatus = Job["status"];
export const JOB_STATUSES: JobStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];
export type JobPage = Schemas["JobPage"];
export type LogLine = Schemas["LogLineView"];
export type LogPage = Schemas["LogPage"];

export type CancelOutcome = Schemas["CancelResult"]["outcome"] | "not_found";
export type RetryOutcome = "retried" | "not_retryable" | "not_found";
export interface BulkResults<O extends string> {
  results: (Omit<Schemas["BulkOutcome"], "outcome"> & { outcome: O })[];
}

export type Session = Schemas["SessionView"];
export type Access = Session["access"];

export type Stats = Schemas["Stats"];
export type StatsBucket = Schemas["StatsBucket"];

export type Permissions = Schemas["PermissionsView"];
export type PluginVersion = Schemas["VersionView"];
export type UiPage = Schemas["PageView"];
export type Plugin = Schemas["PluginListItem"];

/** What a plugin declares at its handshake (docs/protocol.md), kept by the host as JSON. */
export interface PluginMetadata {
  configSchema?: JsonSchema;
  events?: string[];
  schedule?: { cron?: string; intervalSeconds?: number };
  routes?: { method: string; path: string; auth: string; webhook?: boolean; summary?: string }[];
  ui?: unknown;
  tools?: { name: string; title?: string; description?: string; annotations?: Record<string, unknown> }[];
}

export type PluginDetail = Omit<Schemas["PluginDetail"], "metadata"> & {
  metadata: (Omit<Schemas["MetadataView"], "metadata"> & { metadata: PluginMetadata | null }) | null;
};

export type Tenant = Schemas["TenantView"];

/** A config's schedule (docs/tenants-and-schedules.md), which the API passes through as JSON. */
export interface Schedule {
  cron?: string;
  timezone?: string;
  interval_seconds?: number;
  jitter_seconds?: number;
  start?: string;
  end?: string;
  paused?: boolean;
  misfire?: string;
  overlap?: string;
}

export type Config = Omit<Schemas["ConfigBody"], "schedule" | "values"> & {
  schedule: Schedule | null;
  values: Record<string, unknown>;
};
export type ConfigTestAnswer = Schemas["ConfigTestAnswer"];
export type EventRecord = Schemas["EventView"];
export type ApiToken = Schemas["TokenView"];
export type Limit = Schemas["LimitView"];
export type NodeInfo = Schemas["NodeView"];

// A JSON Schema, as loosely as rjsf takes it.
export type JsonSchema = Record<string, unknown>;
