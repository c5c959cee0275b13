// The REST API from node, with the admin token: how a test sets up what it needs before the
// browser looks at it (docs/api.md). Every failure names the request and the server's answer.

export interface Job {
  id: number;
  kind: string;
  status: "queued" | "running" | "succeeded" | "failed" | "cancelled";
  plugin: string | null;
  tenant: string | null;
  config: string | null;
  attempt: number;
  max_attempts: number;
  error: string | null;
  result: unknown;
  progress: unknown;
  cancel_requested?: boolean;
}

export interface Config {
  id: string;
  tenant: string;
  plugin: string;
  name: string;
  values: Record<string, unknown>;
}

export class ApiFailure extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${path} answered ${status}: ${body}`);
  }
}

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

export class Api {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await fetch(this.url + path, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await answer.text();
    if (!answer.ok) throw new ApiFailure(method, path, answer.status, text);
    return (text ? JSON.parse(text) : null) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body ?? {});
  }

  job(id: number): Promise<Job> {
    return this.get<Job>(`/api/v1/jobs/${id}`);
  }

  enqueue(body: { kind: string; payload?: unknown; max_attempts?: number; run_at?: string; tenant?: string; config?: string }): Promise<Job> {
    return this.post<Job>("/api/v1/jobs", body);
  }

  /** Waits until the job has finished (or, with `until`, reached that status). */
  async waitJob(id: number, options: { until?: Job["status"]; timeoutMs?: number } = {}): Promise<Job> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let job = await this.job(id);
    while (options.until ? job.status !== options.until : !FINISHED.has(job.status)) {
      if (options.until && FINISHED.has(job.status)) {
        throw new Error(`job ${id} ended ${job.status} (${job.error ?? "no error"}) while waiting for ${options.until}`);
      }
      if (Date.now() > deadline) throw new Error(`job ${id} is still ${job.status} after ${(options.timeoutMs ?? 60_000) / 1000} s`);
      await sleep(100);
      job = await this.job(id);
    }
    return job;
  }

  /** Installs a plugin from a folder or archive on the server's machine, and waits for it. */
  async installFromPath(source: string): Promise<Job> {
    const job = await this.post<Job>("/api/v1/plugins", { source });
    const done = await this.waitJob(job.id, { timeoutMs: 90_000 });
    if (done.status !== "succeeded") throw new Error(`installing ${source}: job ${done.id} ended ${done.status}: ${done.error}`);
    return done;
  }

  /** Waits until the plugin has reported its metadata (its config schema, routes, pages). */
  async waitPluginReady(plugin: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const detail = await this.get<{ state: string; metadata?: { metadata?: unknown } | null }>(`/api/v1/plugins/${plugin}`).catch(() => null);
      if (detail?.state === "enabled" && detail.metadata?.metadata) return;
      if (Date.now() > deadline) throw new Error(`plugin ${plugin} reported no metadata within ${timeoutMs / 1000} s: ${JSON.stringify(detail)}`);
      await sleep(200);
    }
  }

  createTenant(id: string, name?: string): Promise<unknown> {
    return this.post("/api/v1/tenants", { id, name: name ?? id });
  }

  createConfig(tenant: string, body: { plugin: string; name: string; values: unknown }): Promise<Config> {
    return this.post<Config>(`/api/v1/tenants/${tenant}/configs`, body);
  }

  createToken(body: { name: string; access: "read" | "write"; tenant?: string }): Promise<{ secret: string }> {
    return this.post<{ secret: string }>("/api/v1/tokens", body);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
