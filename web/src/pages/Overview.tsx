// The overview: jobs by state, throughput and failures over the last hour and day, plugin
// health, nodes, and the jobs held back by a limit.

import { useMemo } from "react";
import { Link } from "react-router";
import { useQueries, useQuery } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import { JOB_STATUSES, type JobStatus, type Stats } from "../api/types";
import { useCan } from "../auth/session";
import { Chart, type Series } from "../components/Chart";
import { useTitle } from "../components/hooks";
import { Empty, ErrorPanel, Loading } from "../components/states";
import { StatusBadge } from "../components/StatusBadge";
import { formatDuration } from "../format";

export default function Overview() {
  useTitle("Overview");
  const can = useCan();
  // The stats cover every tenant: the server gives them to the admin and global tokens only.
  const global = can.tenant === null;
  const hour = useQuery({ queryKey: ["stats", "hour"], queryFn: () => endpoints.stats("hour"), refetchInterval: 15_000, enabled: global });
  // Both read together, so that the day never shows less than the hour.
  const day = useQuery({ queryKey: ["stats", "day"], queryFn: () => endpoints.stats("day"), refetchInterval: 15_000, enabled: global });
  const plugins = useQuery({ queryKey: ["plugins"], queryFn: endpoints.plugins, refetchInterval: 15_000 });
  const nodes = useQuery({ queryKey: ["nodes"], queryFn: endpoints.nodes, enabled: can.viewNodes, refetchInterval: 15_000 });

  return (
    <>
      <h1>Overview</h1>
      {!global && (
        <p className="notice notice-info" data-testid="overview-tenant-note">
          Signed in for tenant {can.tenant}: the cluster's job counts and charts are for global tokens.{" "}
          <Link to="/jobs">See your jobs</Link>.
        </p>
      )}
      {global && (
      <>
      <section aria-labelledby="by-status">
        <h2 id="by-status">Jobs by state</h2>
        <p className="muted">Queued and running now; finished in the last hour.</p>
        {hour.isPending && <Loading />}
        {hour.error && <ErrorPanel error={hour.error} />}
        {hour.data && (
          <ul className="tiles" data-testid="jobs-by-status">
            {JOB_STATUSES.map((status) => (
              <li key={status} className="tile">
                <Link to={`/jobs?status=${status}`} data-testid={`tile-${status}`}>
                  <span className="tile-number">{tileCount(hour.data, status)}</span>
                  <StatusBadge status={status} />
                  {status !== "queued" && status !== "running" && <span className="muted tile-note">last hour</span>}
                </Link>
              </li>
            ))}
          </ul>
        )}
      </section>
      <div className="grid-2">
        <StatsChart title="Last hour" query={hour} testId="chart-hour" />
        <StatsChart title="Last day" query={day} testId="chart-day" />
      </div>
      </>
      )}
      <div className="grid-2">
        <section aria-labelledby="plugin-health" className="card">
          <h2 id="plugin-health">Plugins</h2>
          {plugins.isPending && <Loading />}
          {plugins.error && <ErrorPanel error={plugins.error} />}
          {plugins.data && plugins.data.plugins.length === 0 && <Empty>No plugin is installed.</Empty>}
          {plugins.data && plugins.data.plugins.length > 0 && (
            <ul className="plain-list" data-testid="plugin-health">
              {plugins.data.plugins.map((plugin) => (
                <li key={plugin.id} className="row spread">
                  <Link to={`/plugins/${encodeURIComponent(plugin.id)}`}>{plugin.id}</Link>
                  <span className="row">
                    {plugin.error && <span className="muted clip" title={plugin.error}>{plugin.error}</span>}
                    <StatusBadge status={plugin.state} />
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
        {can.viewNodes && (
          <section aria-labelledby="node-health" className="card">
            <h2 id="node-health">Nodes</h2>
            {nodes.isPending && <Loading />}
            {nodes.error && <ErrorPanel error={nodes.error} />}
            {nodes.data && nodes.data.nodes.length === 0 && <Empty>No node has registered.</Empty>}
            {nodes.data && nodes.data.nodes.length > 0 && (
              <ul className="plain-list">
                {nodes.data.nodes.map((node) => (
                  <li key={node.id} className="row spread">
                    <span>
                      {node.hostname} <span className="muted">{node.listen}</span>
                    </span>
                    <span className="row">
                      <span className="muted">seen {formatDuration(node.seen_ago_ms)} ago</span>
                      <StatusBadge status={node.status} />
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </section>
        )}
      </div>
      <WaitingJobs />
    </>
  );
}

/** Queued and running: now. Finished states: in the last hour, from the per-minute series. */
function tileCount(stats: Stats, status: JobStatus): number {
  if (status === "queued" || status === "running") return stats.now[status];
  return stats.buckets.reduce((sum, bucket) => sum + (bucket[status] ?? 0), 0);
}

function StatsChart({ title, query, testId }: { title: string; query: { data?: Stats; error: unknown; isPending: boolean }; testId: string }) {
  const data = query.data;
  const { times, series, totals } = useMemo(() => {
    const buckets = data?.buckets ?? [];
    const times = buckets.map((bucket) => Date.parse(bucket.at) / 1000);
    const pick = (key: "succeeded" | "failed" | "retried" | "cancelled") => buckets.map((bucket) => bucket[key] ?? 0);
    const series: Series[] = [
      { label: "succeeded", colorVar: "--ok", values: pick("succeeded") },
      { label: "failed", colorVar: "--bad", values: pick("failed") },
      { label: "retried", colorVar: "--info", values: pick("retried") },
      { label: "cancelled", colorVar: "--warn", values: pick("cancelled") },
    ];
    const totals = Object.fromEntries(series.map((entry) => [entry.label, entry.values.reduce((a, b) => a + b, 0)]));
    return { times, series, totals };
  }, [data]);
  return (
    <section className="card" aria-label={`Throughput, ${title.toLowerCase()}`}>
      <h2>{title}</h2>
      {query.isPending && <Loading />}
      {query.error ? <ErrorPanel error={query.error} /> : null}
      {data && (
        <>
          <p className="muted" data-testid={`${testId}-totals`}>
            {totals.succeeded} succeeded · {totals.failed} failed · {totals.retried} retried · {totals.cancelled} cancelled
            {" "}(buckets of {formatDuration(data.bucket_seconds * 1000)})
          </p>
          <Chart
            times={times}
            series={series}
            label={`${title}: ${totals.succeeded} succeeded, ${totals.failed} failed, ${totals.retried} retried, ${totals.cancelled} cancelled`}
            testId={testId}
          />
        </>
      )}
    </section>
  );
}

/** Queued jobs held back by a full limit: `waiting_for` is shown on a job's own read. */
function WaitingJobs() {
  const can = useCan();
  const queued = useQuery({
    queryKey: ["jobs", "queued-sample"],
    queryFn: () => endpoints.jobs({ status: "queued", limit: 20 }),
    refetchInterval: 15_000,
  });
  const limits = useQuery({ queryKey: ["limits"], queryFn: endpoints.limits, enabled: can.viewLimits });
  const details = useQueries({
    queries: (queued.data?.jobs ?? []).map((job) => ({ queryKey: ["job", job.id], queryFn: () => endpoints.job(job.id), staleTime: 10_000 })),
  });
  const waiting = details.map((detail) => detail.data).filter((job) => job && job.waiting_for && job.waiting_for.length > 0);
  return (
    <section className="card" aria-labelledby="waiting">
      <h2 id="waiting">Waiting on a limit</h2>
      {queued.error && <ErrorPanel error={queued.error} />}
      {queued.data && waiting.length === 0 && <Empty>No queued job is held back by a limit.</Empty>}
      {waiting.length > 0 && (
        <ul className="plain-list" data-testid="waiting-jobs">
          {waiting.map((job) => job && (
            <li key={job.id}>
              <Link to={`/jobs/${job.id}`}>job {job.id}</Link> <span className="muted">{job.kind}</span>: {job.waiting_for?.join("; ")}
            </li>
          ))}
        </ul>
      )}
      {limits.data && limits.data.limits.length > 0 && (
        <p className="muted">
          {limits.data.limits.length} limit{limits.data.limits.length === 1 ? "" : "s"} set. <Link to="/limits">See the limits</Link>.
        </p>
      )}
    </section>
  );
}
