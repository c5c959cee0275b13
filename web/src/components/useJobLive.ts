// A job kept current: read once, then followed over its change stream
// (`GET /api/v1/jobs/{id}/changes`) until it finishes.

import { useEffect } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import { followStream } from "../api/sse";
import type { Job } from "../api/types";

export const isFinished = (status: string) => status === "succeeded" || status === "failed" || status === "cancelled";

export function useJobLive(id: number) {
  const queryClient = useQueryClient();
  const query = useQuery({ queryKey: ["job", id], queryFn: () => endpoints.job(id) });
  const finished = query.data ? isFinished(query.data.status) : false;
  useEffect(() => {
    if (!Number.isFinite(id) || id <= 0 || finished) return;
    const controller = new AbortController();
    void followStream(
      `/api/v1/jobs/${id}/changes`,
      {
        onEvent(event) {
          if (event.event === "job") {
            try {
              const job = JSON.parse(event.data) as Job;
              queryClient.setQueryData<Job>(["job", id], (old) => ({ ...job, waiting_for: job.waiting_for ?? old?.waiting_for }));
            } catch {
              // A malformed event: the next one or the final read puts things right.
            }
          }
          if (event.event === "end") {
            // The finished job as the API shows it, with everything filled in.
            void queryClient.invalidateQueries({ queryKey: ["job", id] });
            return "stop";
          }
        },
      },
      { signal: controller.signal },
    );
    return () => controller.abort();
  }, [id, finished, queryClient]);
  // `waiting_for` is only in the single read: refresh a queued job now and then.
  const waiting = query.data?.status === "queued";
  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(() => void queryClient.invalidateQueries({ queryKey: ["job", id] }), 5000);
    return () => clearInterval(timer);
  }, [waiting, id, queryClient]);
  return query;
}
