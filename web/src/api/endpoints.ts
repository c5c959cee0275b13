// One function per endpoint the console calls, named after what it does.

import { api, enc, query } from "./client";
import type {
  ApiToken, BulkResults, CancelOutcome, Config, ConfigTestAnswer, EventRecord, Job, JobPage, Limit,
  LogPage, NodeInfo, Permissions, Plugin, PluginDetail, RetryOutcome, Schedule, Session, Stats, Tenant,
} from "./types";

export interface JobFilters {
  status?: string;
  kind?: string;
  plugin?: string;
  tenant?: string;
  queue?: string;
  created_after?: string;
  created_before?: string;
  payload?: string;
  cursor?: string;
  limit?: number;
}

export const endpoints = {
  signInWithCode: (code: string) =>
    api<{ token: string; expires_at: string; access: string }>("/api/v1/session", {
      method: "POST",
      body: { code },
      anonymous: true,
    }),
  session: () => api<Session>("/api/v1/session"),
  signOut: () => api<null>("/api/v1/session", { method: "DELETE" }),

  stats: (window: "hour" | "day") => api<Stats>(`/api/v1/stats${query({ window })}`),
  health: () => api<Record<string, unknown>>("/api/v1/health"),

  jobs: (filters: JobFilters) => api<JobPage>(`/api/v1/jobs${query({ ...filters })}`),
  job: (id: number) => api<Job>(`/api/v1/jobs/${id}`),
  jobLogs: (id: number, afterSeq: number) => api<LogPage>(`/api/v1/jobs/${id}/logs${query({ after_seq: afterSeq, limit: 1000 })}`),
  cancelJob: (id: number) => api<{ outcome: string; job: Job }>(`/api/v1/jobs/${id}/cancel`, { method: "POST" }),
  retryJob: (id: number) => api<Job>(`/api/v1/jobs/${id}/retry`, { method: "POST" }),
  cancelJobs: (ids: number[]) => api<BulkResults<CancelOutcome>>("/api/v1/jobs/cancel", { method: "POST", body: { ids } }),
  retryJobs: (ids: number[]) => api<BulkResults<RetryOutcome>>("/api/v1/jobs/retry", { method: "POST", body: { ids } }),

  plugins: () => api<{ plugins: Plugin[] }>("/api/v1/plugins"),
  plugin: (id: string) => api<PluginDetail>(`/api/v1/plugins/${enc(id)}`),
  installPlugin: (source: string, sha256: string | null, grant: Permissions | null) =>
    api<Job>("/api/v1/plugins", {
      method: "POST",
      body: grant ? { source, sha256, grant_permissions: grant } : { source, sha256 },
    }),
  uploadPlugin: (file: File, sha256: string | null, grant: Permissions | null) =>
    api<Job>(`/api/v1/plugins${query({ sha256, grant_permissions: grant ? JSON.stringify(grant) : null, filename: file.name.slice(0, 255) || null })}`, {
      method: "POST",
      raw: file,
      contentType: archiveType(file.name),
    }),
  updatePlugin: (id: string, body: { source?: string; version?: string; allow_downgrade?: boolean }) =>
    api<Job>(`/api/v1/plugins/${enc(id)}/update`, { method: "POST", body }),
  uploadPluginUpdate: (id: string, file: File, allowDowngrade: boolean) =>
    api<Job>(`/api/v1/plugins/${enc(id)}/update${query({ allow_downgrade: allowDowngrade ? "true" : null, filename: file.name.slice(0, 255) || null })}`, {
      method: "POST",
      raw: file,
      contentType: archiveType(file.name),
    }),
  pluginAction: (id: string, action: "rollback" | "enable" | "disable") =>
    api<Job>(`/api/v1/plugins/${enc(id)}/${action}`, { method: "POST" }),
  uninstallPlugin: (id: string, deleteData: boolean) =>
    api<Job>(`/api/v1/plugins/${enc(id)}${query({ delete_data: deleteData ? "true" : "false" })}`, { method: "DELETE" }),

  tenants: () => api<{ tenants: Tenant[] }>("/api/v1/tenants"),
  tenant: (id: string) => api<Tenant>(`/api/v1/tenants/${enc(id)}`),
  createTenant: (id: string, name: string | null) => api<Tenant>("/api/v1/tenants", { method: "POST", body: { id, name } }),
  deleteTenant: (id: string) => api<null>(`/api/v1/tenants/${enc(id)}`, { method: "DELETE" }),

  configs: (tenant: string) => api<{ configs: Config[] }>(`/api/v1/tenants/${enc(tenant)}/configs`),
  config: (id: string) => api<Config>(`/api/v1/configs/${enc(id)}`),
  createConfig: (tenant: string, body: ConfigInput) =>
    api<Config>(`/api/v1/tenants/${enc(tenant)}/configs`, { method: "POST", body }),
  validateNewConfig: (tenant: string, body: ConfigInput) =>
    api<{ valid: boolean }>(`/api/v1/tenants/${enc(tenant)}/configs/validate`, { method: "POST", body }),
  replaceConfig: (id: string, body: Omit<ConfigInput, "plugin" | "name">) =>
    api<Config>(`/api/v1/configs/${enc(id)}`, { method: "PUT", body }),
  deleteConfig: (id: string) => api<null>(`/api/v1/configs/${enc(id)}`, { method: "DELETE" }),
  runConfig: (id: string) => api<Job>(`/api/v1/configs/${enc(id)}/run`, { method: "POST" }),
  validateConfig: (id: string) => api<{ valid: boolean; problems: string[] }>(`/api/v1/configs/${enc(id)}/validate`, { method: "POST" }),
  testConfig: (id: string) => api<ConfigTestAnswer>(`/api/v1/configs/${enc(id)}/test?timeout_seconds=30`, { method: "POST" }),
  nextFires: (id: string) => api<{ config: string; fires: string[] }>(`/api/v1/configs/${enc(id)}/next-fires?count=5`),
  previewFires: (schedule: Schedule, config: string | null) =>
    api<{ fires: string[] }>("/api/v1/schedules/next-fires", { method: "POST", body: config ? { schedule, config, count: 5 } : { schedule, count: 5 } }),

  events: (filters: { tenant?: string; type?: string; cursor?: string }) =>
    api<{ events: EventRecord[]; next_cursor: string | null }>(`/api/v1/events${query({ ...filters, limit: 50 })}`),
  event: (id: number) => api<EventRecord>(`/api/v1/events/${id}`),
  postEvent: (body: { type: string; tenant?: string; payload: unknown; idempotency_key?: string }) =>
    api<{ event_id: number; created: boolean; jobs: number; event: EventRecord }>("/api/v1/events", { method: "POST", body }),

  tokens: () => api<{ tokens: ApiToken[] }>("/api/v1/tokens"),
  createToken: (body: { name: string; tenant?: string; access: "read" | "write"; expires_in_seconds?: number }) =>
    api<{ token: ApiToken; secret: string }>("/api/v1/tokens", { method: "POST", body }),
  revokeToken: (id: string) => api<null>(`/api/v1/tokens/${enc(id)}`, { method: "DELETE" }),

  limits: () => api<{ limits: Limit[] }>("/api/v1/limits"),
  putLimit: (scope: string, name: string, body: { max_running?: number; rate_per_second?: number; burst?: number }) =>
    api<Limit>(`/api/v1/limits/${enc(scope)}/${enc(name)}`, { method: "PUT", body }),
  deleteLimit: (scope: string, name: string) => api<null>(`/api/v1/limits/${enc(scope)}/${enc(name)}`, { method: "DELETE" }),

  nodes: () => api<{ nodes: NodeInfo[] }>("/api/v1/nodes"),
};

export interface ConfigInput {
  plugin: string;
  name: string;
  values: unknown;
  schedule: Schedule | null;
  events: string[];
  enabled: boolean;
}

function archiveType(name: string): string {
  const lower = name.toLowerCase();
  if (lower.endsWith(".zip")) return "application/zip";
  if (lower.endsWith(".tar")) return "application/x-tar";
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) return "application/gzip";
  return "application/octet-stream";
}
