// One job: payload, result or error, attempts, timing (ticking while it runs), progress, its
// log followed live, and cancel and retry.

import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import type { Job } from "../api/types";
import { useCan } from "../auth/session";
import { ConfirmButton } from "../components/Confirm";
import { useNow, useTitle } from "../components/hooks";
import { JobLog } from "../components/JobLog";
import { JobProgress } from "../components/JobProgress";
import { JsonView } from "../components/JsonView";
import { ErrorPanel, Loading, Notice } from "../components/states";
import { StatusBadge } from "../components/StatusBadge";
import { Time } from "../components/Time";
import { isFinished, useJobLive } from "../components/useJobLive";
import { formatDuration } from "../format";

export default function JobPage() {
  const id = Number(useParams().id);
  useTitle(`Job ${id}`);
  const can = useCan();
  const job = useJobLive(id);
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [notice, setNotice] = useState<string | null>(null);

  if (!Number.isInteger(id) || id <= 0) return <ErrorPanel error={new Error("A job id is a positive whole number.")} />;
  if (job.isPending) return <Loading />;
  if (job.error) return <ErrorPanel error={job.error} title={`Job ${id}`} />;
  const data = job.data;
  const finished = isFinished(data.status);
  const canCancel = can.write && !finished && !data.cancel_requested;
  const canRetry = can.write && (data.status === "failed" || data.status === "cancelled");

  return (
    <>
      <div className="row spread wrap">
        <h1>
          Job {data.id} <StatusBadge status={data.status} />
        </h1>
        <div className="row">
          {canCancel && (
            <ConfirmButton
              label="Cancel job"
              title={`Cancel job ${data.id}?`}
              message={<p>{data.status === "running" ? "The running job is told to stop." : "The queued job will not run."}</p>}
              confirmLabel="Cancel job"
              danger
              onConfirm={async () => {
                const answer = await endpoints.cancelJob(data.id);
                queryClient.setQueryData(["job", data.id], answer.job);
                setNotice(`Cancel: ${answer.outcome.replace(/_/g, " ")}.`);
              }}
              testId="job-cancel"
            />
          )}
          {canRetry && (
            <ConfirmButton
              label="Retry job"
              title={`Retry job ${data.id}?`}
              message={<p>The job is queued again with a fresh set of attempts.</p>}
              confirmLabel="Retry job"
              onConfirm={async () => {
                const retried = await endpoints.retryJob(data.id);
                queryClient.setQueryData(["job", data.id], retried);
                setNotice("Queued again.");
                if (retried.id !== data.id) navigate(`/jobs/${retried.id}`);
              }}
              testId="job-retry"
            />
          )}
        </div>
      </div>
      {notice && <Notice kind="ok" testId="job-notice">{notice}</Notice>}
      {data.cancel_requested && !finished && <Notice kind="info">Cancel requested: the job has been told to stop.</Notice>}
      {data.waiting_for && data.waiting_for.length > 0 && (
        <Notice kind="info" testId="job-waiting">
          Waiting for a limit: {data.waiting_for.join("; ")}
        </Notice>
      )}
      <div className="grid-2">
        <section className="card" aria-labelledby="job-facts">
          <h2 id="job-facts">Details</h2>
          <dl className="facts" data-testid="job-facts">
            <dt>Kind</dt>
            <dd>{data.kind}</dd>
            <dt>Queue</dt>
            <dd>{data.queue}</dd>
            <dt>Plugin</dt>
            <dd>{data.plugin ? <Link to={`/plugins/${encodeURIComponent(data.plugin)}`}>{data.plugin}</Link> : "–"}</dd>
            <dt>Tenant</dt>
            <dd>{data.tenant ? <Link to={`/tenants/${encodeURIComponent(data.tenant)}`}>{data.tenant}</Link> : "–"}</dd>
            <dt>Config</dt>
            <dd>{data.config ? <Link to={`/configs/${encodeURIComponent(data.config)}`}>{data.config}</Link> : "–"}</dd>
            <dt>Attempts</dt>
            <dd data-testid="job-attempts">
              {data.attempt} of {data.max_attempts}
            </dd>
            <dt>Priority</dt>
            <dd>{data.priority}</dd>
            {data.unique_key && (
              <>
                <dt>Unique key</dt>
                <dd>{data.unique_key}</dd>
              </>
            )}
          </dl>
        </section>
        <Timing job={data} />
      </div>
      <JobProgress progress={data.progress} finished={finished} />
      {data.error && (
        <section className="card error-card" aria-labelledby="job-error">
          <h2 id="job-error">Error</h2>
          <pre className="json" data-testid="job-error">{data.error}</pre>
        </section>
      )}
      <div className="grid-2">
        <section className="card" aria-labelledby="job-payload">
          <h2 id="job-payload">Payload</h2>
          <JsonView value={data.payload} label="Payload" testId="job-payload" />
        </section>
        <section className="card" aria-labelledby="job-result">
          <h2 id="job-result">Result</h2>
          {data.result === null || data.result === undefined ? (
            <p className="muted">{finished ? "No result." : "Not finished yet."}</p>
          ) : (
            <JsonView value={data.result} label="Result" testId="job-result" />
          )}
        </section>
      </div>
      {data.progress != null && (
        <details className="card">
          <summary>Progress as reported</summary>
          <JsonView value={data.progress} label="Progress" />
        </details>
      )}
      <JobLog jobId={data.id} />
    </>
  );
}

/** Queued at, waited (until it started), ran (until it finished, or now while it runs). */
function Timing({ job }: { job: Job }) {
  const running = job.status === "running" || (job.status === "queued" && !job.started_at);
  const now = useNow(running);
  const created = Date.parse(job.created_at);
  const runAt = Date.parse(job.run_at);
  const started = job.started_at ? Date.parse(job.started_at) : null;
  const finished = job.finished_at ? Date.parse(job.finished_at) : null;
  // Waiting starts when the job was due: a job scheduled for later is not waiting before then.
  const due = Math.max(created, Number.isNaN(runAt) ? created : runAt);
  const waitedUntil = started ?? (job.status === "queued" ? now : finished);
  const waited = waitedUntil !== null ? Math.max(0, waitedUntil - due) : null;
  const ran = started !== null ? (finished ?? (job.status === "running" ? now : null)) : null;
  return (
    <section className="card" aria-labelledby="job-timing">
      <h2 id="job-timing">Timing</h2>
      <dl className="facts" data-testid="job-timing">
        <dt>Queued</dt>
        <dd>
          <Time value={job.created_at} />
        </dd>
        {runAt > created + 1000 && (
          <>
            <dt>Due</dt>
            <dd>
              <Time value={job.run_at} />
            </dd>
          </>
        )}
        <dt>Waited</dt>
        <dd data-testid="job-waited">{waited !== null && !(job.status !== "queued" && started === null) ? formatDuration(waited) : "–"}</dd>
        <dt>Started</dt>
        <dd>
          <Time value={job.started_at} empty="not yet" />
        </dd>
        <dt>Ran</dt>
        <dd data-testid="job-ran">{started !== null && ran !== null ? formatDuration(ran - started) : "–"}</dd>
        <dt>Finished</dt>
        <dd>
          <Time value={job.finished_at} empty="not yet" />
        </dd>
        {job.timeout_ms != null && (
          <>
            <dt>Timeout</dt>
            <dd>{formatDuration(job.timeout_ms)} per attempt</dd>
          </>
        )}
      </dl>
    </section>
  );
}
