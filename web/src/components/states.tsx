// Loading, empty and error states, the same everywhere.

import { AlertTriangle, Inbox, Loader2 } from "lucide-react";
import type { ReactNode } from "react";
import { ApiProblem, errorText } from "../api/problem";

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite" data-testid="loading">
      <Loader2 className="spin" aria-hidden size={18} />
      <span>{label}</span>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <div className="state state-empty" data-testid="empty">
      <Inbox aria-hidden size={18} />
      <span>{children}</span>
    </div>
  );
}

export function ErrorPanel({ error, title, action }: { error: unknown; title?: string; action?: ReactNode }) {
  const problem = error instanceof ApiProblem ? error : null;
  return (
    <div className="state state-error" role="alert" data-testid="error">
      <AlertTriangle aria-hidden size={18} />
      <div>
        <strong>{title ?? problem?.title ?? "Something went wrong"}</strong>
        <p>{errorText(error)}</p>
        {problem && problem.errors.length > 0 && (
          <ul>
            {problem.errors.map((field) => (
              <li key={field.pointer + field.detail}>
                <code>{field.pointer}</code>: {field.detail}
              </li>
            ))}
          </ul>
        )}
        {action}
      </div>
    </div>
  );
}

/** A short message after an action: what happened, or what went wrong. */
export function Notice({ kind, children, testId }: { kind: "ok" | "error" | "info"; children: ReactNode; testId?: string }) {
  return (
    <div className={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"} data-testid={testId ?? `notice-${kind}`}>
      {children}
    </div>
  );
}
