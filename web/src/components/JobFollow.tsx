// A job started by an action (a plugin install, a run now), followed live: its status,
// progress and log, with a link to its page.

import { Link } from "react-router";
import { errorText } from "../api/problem";
import { JobLog } from "./JobLog";
import { JobProgress } from "./JobProgress";
import { StatusBadge } from "./StatusBadge";
import { isFinished, useJobLive } from "./useJobLive";

export function JobFollow({ jobId, title }: { jobId: number; title: string }) {
  const job = useJobLive(jobId);
  return (
    <section className="card job-follow" aria-label={title} data-testid="job-follow" data-job-id={jobId}>
      <div className="row spread">
        <h3>
          {title}: <Link to={`/jobs/${jobId}`} data-testid="job-follow-link">job {jobId}</Link>
        </h3>
        {job.data && <StatusBadge status={job.data.status} />}
      </div>
      {job.error && <p className="form-error">{errorText(job.error)}</p>}
      {job.data && <JobProgress progress={job.data.progress} finished={isFinished(job.data.status)} />}
      {job.data?.error && (
        <p className="form-error" data-testid="job-follow-error">
          {job.data.error}
        </p>
      )}
      <JobLog jobId={jobId} />
    </section>
  );
}
