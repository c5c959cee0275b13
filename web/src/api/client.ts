// Every request of the console goes through `api`: it adds the token, turns refusals into
// `ApiProblem`s and sends the user back to sign-in on a 401.

import { ApiProblem, type ProblemBody } from "./problem";
import { clearToken, readToken } from "./token";

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** A raw body (an uploaded archive) sent as it is, with `contentType`. */
  raw?: Blob;
  contentType?: string;
  signal?: AbortSignal;
  /** Do not send the token (the one-time sign-in code). */
  anonymous?: boolean;
}

export async function apiFetch(path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = readToken();
  if (token && !options.anonymous) headers.Authorization = `Bearer ${token}`;
  let body: BodyInit | undefined;
  if (options.raw) {
    body = options.raw;
    headers["Content-Type"] = options.contentType ?? "application/octet-stream";
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, {
    method: options.method ?? "GET",
    headers,
    body,
    signal: options.signal,
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 401 && !options.anonymous) {
    const problem = await readProblem(response);
    clearToken(problem.detail || "the server no longer accepts this token; sign in again");
    throw problem;
  }
  if (!response.ok) throw await readProblem(response);
  return response;
}

/** A JSON request; `null` for a 204. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await apiFetch(path, options);
  if (response.status === 204) return null as T;
  const text = await response.text();
  if (text === "") return null as T;
  return JSON.parse(text) as T;
}

export async function readProblem(response: Response): Promise<ApiProblem> {
  let body: ProblemBody | null = null;
  const text = await response.text().catch(() => "");
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object") body = parsed as ProblemBody;
  } catch {
    // Not JSON (a proxy's page, hyper's bare 400): fall back to the status.
  }
  const fallback = text && text.length < 300 && !text.startsWith("<") ? text.trim() : `${response.status} ${response.statusText}`;
  return new ApiProblem(response.status, body, fallback);
}

/** Builds a query string from the set values, in the order given. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const enc = encodeURIComponent;
