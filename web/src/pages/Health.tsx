// `/api/v1/health` shown readably: each check with its verdict, then the job counts.

import { useQuery } from "@tanstack/react-query";
import { readProblem } from "../api/client";
import { clearToken, readToken } from "../api/token";
import { useTitle } from "../components/hooks";
import { JsonView } from "../components/JsonView";
import { ErrorPanel, Loading } from "../components/states";

interface Health {
  ok?: boolean;
  checks?: Record<string, Record<string, unknown>>;
  jobs?: unknown;
}

async function readHealth(): Promise<Health> {
  // A failing check answers 503 with the same document: show it rather than an error.
  const response = await fetch("/api/v1/health", { headers: { Accept: "application/json", Authorization: `Bearer ${readToken() ?? ""}` }, cache: "no-store" });
  const isDocument = (response.ok || response.status === 503) && !(response.headers.get("content-type") ?? "").includes("problem");
  if (isDocument) return (await response.json()) as Health;
  const problem = await readProblem(response);
  if (response.status === 401) clearToken(problem.detail);
  throw problem;
}

export default function HealthPage() {
  useTitle("Health");
  const health = useQuery({ queryKey: ["health"], queryFn: readHealth, refetchInterval: 15_000 });
  return (
    <>
      <h1>Health</h1>
      {health.isPending && <Loading label="Running the checks…" />}
      {health.error && <ErrorPanel error={health.error} />}
      {health.data && (
        <>
          <p className={health.data.ok ? "notice notice-ok" : "notice notice-error"} role="status" data-testid="health-verdict">
            {health.data.ok ? "Every check passed." : "A check failed: see below."}
          </p>
          <div className="grid-2">
            {Object.entries(health.data.checks ?? {}).map(([name, check]) => (
              <section key={name} className="card" aria-labelledby={`check-${name}`} data-testid={`health-check-${name}`}>
                <h2 id={`check-${name}`}>
                  {name.replace(/_/g, " ")}{" "}
                  <span className={`badge ${check.ok ? "badge-ok" : "badge-bad"}`}>{check.ok ? "ok" : "failing"}</span>
                </h2>
                <dl className="facts">
                  {Object.entries(check)
                    .filter(([key]) => key !== "ok")
                    .map(([key, value]) => (
                      <Fact key={key} name={key} value={value} />
                    ))}
                </dl>
              </section>
            ))}
          </div>
          {health.data.jobs !== undefined && (
            <section className="card" aria-labelledby="health-jobs">
              <h2 id="health-jobs">Jobs</h2>
              <JsonView value={health.data.jobs} label="Job counts" />
            </section>
          )}
        </>
      )}
    </>
  );
}

function Fact({ name, value }: { name: string; value: unknown }) {
  const text =
    typeof value === "number" ? (name.endsWith("_ms") || name === "ms" ? `${value.toFixed(1)} ms` : String(value)) : typeof value === "string" || typeof value === "boolean" ? String(value) : null;
  return (
    <>
      <dt>{name.replace(/_/g, " ")}</dt>
      <dd>{text ?? <code className="break">{JSON.stringify(value)}</code>}</dd>
    </>
  );
}
