// Keeps a page of jobs current from the change stream (`GET /api/v1/jobs/changes`): a job on
// the page is replaced by its latest state; a job that is not there (a new one) makes the first
// page read again, at most once a second.

import { useEffect, useState } from "react";
import { useQueryClient, type QueryKey } from "@tanstack/react-query";
import { query } from "../api/client";
import { followStream } from "../api/sse";
import type { Job, JobPage } from "../api/types";

export interface LiveFilters {
  tenant?: string;
  plugin?: string;
  queue?: string;
  kind?: string;
}

export function useLiveJobs(pageKey: QueryKey, filters: LiveFilters, firstPage: boolean): "connecting" | "live" | "stopped" {
  const queryClient = useQueryClient();
  const [state, setState] = useState<"connecting" | "live" | "stopped">("connecting");
  const keyText = JSON.stringify(pageKey);
  useEffect(() => {
    const controller = new AbortController();
    let refetchTimer: ReturnType<typeof setTimeout> | null = null;
    setState("connecting");
    void followStream(
      `/api/v1/jobs/changes${query({ ...filters })}`,
      {
        onOpen: () => setState("live"),
        onError: () => setState("stopped"),
        onEvent(event) {
          if (event.event !== "job") return;
          let job: Job;
          try {
            job = JSON.parse(event.data) as Job;
          } catch {
            return;
          }
          queryClient.setQueryData<Job>(["job", job.id], (old) => (old ? { ...old, ...job } : old));
          let found = false;
          queryClient.setQueryData<JobPage>(pageKey, (page) => {
            if (!page) return page;
            const index = page.jobs.findIndex((row) => row.id === job.id);
            if (index < 0) return page;
            found = true;
            const jobs = page.jobs.slice();
            jobs[index] = job;
            return { ...page, jobs };
          });
          if (!found && firstPage && refetchTimer === null) {
            refetchTimer = setTimeout(() => {
              refetchTimer = null;
              void queryClient.invalidateQueries({ queryKey: pageKey, exact: true });
            }, 1000);
          }
        },
      },
      { signal: controller.signal },
    ).finally(() => !controller.signal.aborted && setState("stopped"));
    return () => {
      controller.abort();
      if (refetchTimer) clearTimeout(refetchTimer);
    };
    // keyText stands for pageKey, filters for their fields.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [keyText, filters.tenant, filters.plugin, filters.queue, filters.kind, firstPage, queryClient]);
  return state;
}
