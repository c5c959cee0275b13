// An admin action on plugins answers 202 with its job; this follows it, and when the job
// stops awaiting the admin's approval of permissions, offers (to the admin token) to send the
// same request again with exactly those permissions granted.

import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import type { Job, Permissions } from "../api/types";
import { useCan } from "../auth/session";
import { ConfirmButton } from "../components/Confirm";
import { JobFollow } from "../components/JobFollow";
import { isFinished, useJobLive } from "../components/useJobLive";

export interface StartedAction {
  job: Job;
  title: string;
  /** Sends the request again with a grant, when it can be. */
  again?: (grant: Permissions) => Promise<Job>;
}

export function ActionFollow({ action, onRestart }: { action: StartedAction; onRestart: (next: StartedAction) => void }) {
  const can = useCan();
  const job = useJobLive(action.job.id);
  const queryClient = useQueryClient();
  const finished = job.data ? isFinished(job.data.status) : false;
  useEffect(() => {
    if (finished) {
      void queryClient.invalidateQueries({ queryKey: ["plugins"] });
      void queryClient.invalidateQueries({ queryKey: ["plugin"] });
    }
  }, [finished, queryClient]);
  const progress = job.data?.progress as { step?: string; permissions?: Permissions; not_granted?: unknown } | null | undefined;
  const awaiting = job.data?.status === "failed" && progress?.step === "awaiting approval" && progress.permissions;
  return (
    <div>
      <JobFollow jobId={action.job.id} title={action.title} />
      {awaiting && can.adminPlugins && action.again && (
        <div className="card">
          <p>The package asks for these permissions, which need your approval:</p>
          <pre className="json">{JSON.stringify(progress.permissions, null, 2)}</pre>
          <ConfirmButton
            label="Grant and run again"
            title="Grant these permissions?"
            message={<p>The plugin will be allowed exactly what it asks for above. Grant only what you trust it with.</p>}
            confirmLabel="Grant"
            onConfirm={async () => {
              const again = action.again;
              if (!again || !progress.permissions) return;
              const next = await again(progress.permissions);
              onRestart({ ...action, job: next });
            }}
            testId="grant-permissions"
          />
        </div>
      )}
    </div>
  );
}
