// The shapes of /api/v1 as docs/api.md describes them. Only what the console reads is typed;
// everything else passes through as `unknown`.

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export const JOB_STATUSES: JobStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];

export interface Job {
  id: number;
  kind: string;
  queue: string;
  tenant: string | null;
  plugin: string | null;
  config: string | null;
  payload: unknown;
  status: JobStatus;
  priority: number;
  run_at: string;
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  cancel_requested: boolean;
  error: string | null;
  result: unknown;
  progress: unknown;
  unique_key: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  waiting_for?: string[];
}

export interface JobPage {
  jobs: Job[];
  next_cursor: string | null;
}

export interface LogLine {
  seq: number;
  time: string;
  level: "debug" | "info" | "warn" | "error" | string;
  message: string;
}

export interface LogPage {
  lines: LogLine[];
  next_after_seq: number;
  status: JobStatus;
}

export type CancelOutcome = "cancelled" | "requested" | "already_finished" | "not_found";
export type RetryOutcome = "retried" | "not_retryable" | "not_found";
export interface BulkResults<O extends string> {
  results: { id: number; outcome: O }[];
}

export type Access = "admin" | "write" | "read";

export interface Session {
  access: Access;
  tenant: string | null;
  token: { id: string; name: string; expires_at: string | null } | null;
}

export interface StatsBucket {
  at: string;
  succeeded: number;
  failed: number;
  retried: number;
  cancelled: number;
}

export interface Stats {
  window: "hour" | "day";
  bucket_seconds: number;
  buckets: StatsBucket[];
  /** Jobs queued and running now, over every queue. */
  now: { queued: number; running: number };
}

export interface Plugin {
  id: string;
  active_version: string | null;
  previous_version: string | null;
  state: "installing" | "enabled" | "disabled" | "failed" | string;
  error: string | null;
  source: string | null;
  changed_by: number | null;
  granted_permissions: Permissions | null;
  updated_at: string;
  /** Restarts since the current version was loaded, when the server reports them. */
  restarts?: number;
  /** Its console pages (`[{"id", "title", "path"}]`). */
  pages?: unknown;
  /** Console pages as older servers put them; else they are in the metadata. */
  ui?: unknown;
}

export interface Permissions {
  network?: boolean;
  read?: string[];
  write?: string[];
  env?: string[];
  unix_sockets?: boolean;
}

export interface PluginVersion {
  version: string;
  sha256: string;
  size: number;
  source: string | null;
  created_at: string;
}

export interface PluginMetadata {
  configSchema?: JsonSchema;
  events?: string[];
  schedule?: { cron?: string; intervalSeconds?: number };
  routes?: { method: string; path: string; auth: string; webhook?: boolean; summary?: string }[];
  ui?: unknown;
  tools?: { name: string; title?: string; description?: string; annotations?: Record<string, unknown> }[];
}

export interface PluginDetail extends Plugin {
  versions: PluginVersion[];
  metadata: {
    version: string;
    checksum: string;
    state: string;
    metadata: PluginMetadata | null;
    error: string | null;
    updated_at: string;
  } | null;
  busy_with_job: number | null;
}

export interface UiPage {
  id: string;
  title: string;
  path: string;
}

export interface Tenant {
  id: string;
  name: string;
  created_at: string;
}

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

export interface Config {
  id: string;
  tenant: string;
  plugin: string;
  name: string;
  values: Record<string, unknown>;
  enabled: boolean;
  schedule: Schedule | null;
  events: string[];
  invalid_reason: string | null;
  last_fire_at: string | null;
  next_fire_at: string | null;
  next_fires: string[];
  created_at: string;
  updated_at: string;
}

export interface ConfigTestAnswer {
  config: string;
  plugin: string;
  node: string | null;
  ok: boolean;
  message: string;
  details: unknown;
}

export interface EventRecord {
  id: number;
  tenant: string;
  type: string;
  payload: unknown;
  idempotency_key: string | null;
  source: string | null;
  created_at: string;
  delivered_at: string | null;
  deliveries: number | null;
}

export interface ApiToken {
  id: string;
  name: string;
  tenant: string | null;
  access: "read" | "write";
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface Limit {
  scope: "tenant" | "plugin";
  name: string;
  max_running: number | null;
  rate_per_second: number | null;
  burst: number | null;
}

export interface NodeInfo {
  id: string;
  status: "up" | "gone" | "stopped" | string;
  hostname: string;
  pid: number;
  version: string;
  listen: string;
  queues: { name: string; concurrency: number }[];
  plugins: string[];
  heartbeat_ms: number;
  started_at: string;
  last_seen_at: string;
  seen_ago_ms: number;
  stopped_at: string | null;
}

// A JSON Schema, as loosely as rjsf takes it.
export type JsonSchema = Record<string, unknown>;
