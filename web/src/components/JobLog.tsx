// A job's log, following it live to the end: the SSE stream `GET /api/v1/jobs/{id}/logs`,
// resumed after the last line seen when the connection drops.

import { useEffect, useRef, useState } from "react";
import { followStream } from "../api/sse";
import type { LogLine } from "../api/types";
import { localTime, utcTime } from "../format";

const MAX_LINES = 5000;

interface LogState {
  lines: LogLine[];
  end: { status: string; error: string | null } | null;
  error: string | null;
}

export function JobLog({ jobId, label = "Log" }: { jobId: number; label?: string }) {
  const [state, setState] = useState<LogState>({ lines: [], end: null, error: null });
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    setState({ lines: [], end: null, error: null });
    const controller = new AbortController();
    let lastSeq = 0;
    void followStream(
      `/api/v1/jobs/${jobId}/logs`,
      {
        onEvent(event) {
          if (event.event === "log") {
            try {
              const line = JSON.parse(event.data) as LogLine;
              if (line.seq <= lastSeq) return;
              lastSeq = line.seq;
              setState((old) => {
                const lines = old.lines.length >= MAX_LINES ? old.lines.slice(-MAX_LINES + 1) : old.lines.slice();
                lines.push(line);
                return { ...old, lines };
              });
            } catch {
              // Skip a line that is not JSON.
            }
          } else if (event.event === "end") {
            let end = { status: "finished", error: null as string | null };
            try {
              end = JSON.parse(event.data) as typeof end;
            } catch {
              // Keep the plain "finished".
            }
            setState((old) => ({ ...old, end }));
            return "stop";
          }
        },
        onError(message) {
          setState((old) => ({ ...old, error: message }));
        },
      },
      { signal: controller.signal },
    );
    return () => controller.abort();
  }, [jobId]);

  useEffect(() => {
    const element = box.current;
    if (follow && element) element.scrollTop = element.scrollHeight;
  }, [state.lines, follow]);

  return (
    <section className="log" aria-label={label} data-testid="job-log">
      <div className="log-head">
        <h3>{label}</h3>
        <span className="muted" data-testid="log-state" data-ended={state.end ? "true" : "false"}>
          {state.end ? `ended: ${state.end.status}` : "following live…"}
        </span>
        <label className="inline">
          <input type="checkbox" checked={follow} onChange={(event) => setFollow(event.target.checked)} data-testid="log-follow" />
          Scroll to the end
        </label>
      </div>
      <div
        className="log-lines"
        ref={box}
        tabIndex={0}
        role="log"
        aria-live="off"
        aria-label={`${label} lines`}
        onScroll={(event) => {
          const element = event.currentTarget;
          const atEnd = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
          if (atEnd !== follow) setFollow(atEnd);
        }}
      >
        {state.lines.length === 0 && !state.end && <div className="muted">No lines yet.</div>}
        {state.lines.length === 0 && state.end && <div className="muted">The job wrote no log lines.</div>}
        {state.lines.map((line) => (
          <div key={line.seq} className={`log-line level-${line.level}`} data-testid="log-line">
            <time dateTime={line.time} title={utcTime(line.time)}>
              {localTime(line.time)}
            </time>
            <span className="log-level">{line.level}</span>
            <span className="log-message">{line.message}</span>
          </div>
        ))}
        {state.end && (
          <div className="log-end" data-testid="log-end">
            — end: {state.end.status}
            {state.end.error ? ` (${state.end.error})` : ""}
          </div>
        )}
      </div>
      {state.error && (
        <p className="form-error" role="alert">
          The log stream stopped: {state.error}
        </p>
      )}
    </section>
  );
}
