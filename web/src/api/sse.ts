// Server-Sent Events over fetch, so the request can carry `Authorization` (EventSource cannot).
// Reconnects with `Last-Event-ID` like EventSource does, and stops for good on `end`, on a 4xx,
// or when the signal aborts.

import { createParser, type EventSourceMessage } from "eventsource-parser";
import { readProblem } from "./client";
import { clearToken, readToken } from "./token";

export interface StreamHandlers {
  /** Each event; return `"stop"` to close the stream (e.g. on `end`). */
  onEvent: (event: EventSourceMessage) => void | "stop";
  /** The stream could not go on (a refusal, or the server said `error`). */
  onError?: (message: string) => void;
  /** Connected (again). */
  onOpen?: () => void;
}

export interface StreamOptions {
  /** Resume after this event id. */
  lastEventId?: string;
  signal: AbortSignal;
}

const MAX_BACKOFF_MS = 15_000;

export async function followStream(path: string, handlers: StreamHandlers, options: StreamOptions): Promise<void> {
  let lastEventId = options.lastEventId;
  let backoff = 500;
  const { signal } = options;
  while (!signal.aborted) {
    let stopped = false;
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream" };
      const token = readToken();
      if (token) headers.Authorization = `Bearer ${token}`;
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch(path, { headers, signal, credentials: "omit", cache: "no-store" });
      if (response.status === 401) {
        const problem = await readProblem(response);
        clearToken(problem.detail);
        return;
      }
      if (response.status === 429 || response.status === 503) {
        const wait = Number(response.headers.get("Retry-After") ?? "2");
        await sleep(Math.min(60, Math.max(1, wait)) * 1000, signal);
        continue;
      }
      if (!response.ok || !response.body) {
        const problem = await readProblem(response);
        handlers.onError?.(problem.detail);
        return;
      }
      backoff = 500;
      handlers.onOpen?.();
      const parser = createParser({
        onEvent(event) {
          if (stopped) return;
          if (event.id) lastEventId = event.id;
          if (event.event === "error") {
            handlers.onError?.(streamErrorText(event.data));
          }
          if (handlers.onEvent(event) === "stop") stopped = true;
        },
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      while (!stopped) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      if (stopped) {
        await reader.cancel().catch(() => undefined);
        return;
      }
    } catch (error) {
      if (signal.aborted) return;
      void error;
    }
    // The connection dropped: come back after a pause, from the last event seen.
    await sleep(backoff, signal);
    backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
  }
}

function streamErrorText(data: string): string {
  try {
    const parsed = JSON.parse(data) as { title?: string; detail?: string };
    return parsed.detail || parsed.title || data;
  } catch {
    return data;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
