// Jobs: filters in the URL, cursor paging, live updates, and cancel or retry of many at once.

import { useMemo, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Ban, RotateCcw } from "lucide-react";
import { endpoints, type JobFilters } from "../api/endpoints";
import { JOB_STATUSES, type Job } from "../api/types";
import { useCan } from "../auth/session";
import { ConfirmButton } from "../components/Confirm";
import { useTitle } from "../components/hooks";
import { Empty, ErrorPanel, Loading, Notice } from "../components/states";
import { StatusBadge } from "../components/StatusBadge";
import { Time } from "../components/Time";
import { useLiveJobs } from "./jobs-live";

const FILTER_KEYS = ["status", "kind", "plugin", "tenant", "queue", "created_after", "created_before", "payload"] as const;
type FilterKey = (typeof FILTER_KEYS)[number];

export default function Jobs() {
  useTitle("Jobs");
  const can = useCan();
  const [params, setParams] = useSearchParams();
  const filters: JobFilters = {};
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    if (value) filters[key] = value;
  }
  const cursor = params.get("cursor") ?? undefined;
  const pageKey = ["jobs", "list", filters, cursor ?? null];
  const page = useQuery({ queryKey: pageKey, queryFn: () => endpoints.jobs({ ...filters, cursor, limit: 50 }) });
  const live = useLiveJobs(pageKey, { tenant: filters.tenant, plugin: filters.plugin, queue: filters.queue, kind: filters.kind }, !cursor);
  const jobs = useMemo(() => (page.data?.jobs ?? []).filter((job) => !filters.status || job.status === filters.status), [page.data, filters.status]);

  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [summary, setSummary] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const queryClient = useQueryClient();
  const visibleSelected = jobs.filter((job) => selected.has(job.id));
  const allSelected = jobs.length > 0 && visibleSelected.length === jobs.length;

  const setFilters = (next: Partial<Record<FilterKey, string>>) => {
    const search = new URLSearchParams();
    for (const key of FILTER_KEYS) {
      const value = key in next ? next[key] : params.get(key);
      if (value) search.set(key, value);
    }
    setSelected(new Set());
    setParams(search);
  };

  const bulk = async (action: "cancel" | "retry") => {
    const ids = visibleSelected.map((job) => job.id);
    const answer = action === "cancel" ? await endpoints.cancelJobs(ids) : await endpoints.retryJobs(ids);
    const counts = new Map<string, number>();
    for (const result of answer.results) counts.set(result.outcome, (counts.get(result.outcome) ?? 0) + 1);
    const parts = [...counts.entries()].map(([outcome, count]) => `${count} ${outcome.replace(/_/g, " ")}`);
    setSummary({ kind: "ok", text: `${action === "cancel" ? "Cancel" : "Retry"} of ${ids.length} job${ids.length === 1 ? "" : "s"}: ${parts.join(", ")}.` });
    setSelected(new Set());
    await queryClient.invalidateQueries({ queryKey: ["jobs"] });
  };

  return (
    <>
      <div className="row spread">
        <h1>Jobs</h1>
        <span className={`live live-${live}`} data-testid="live-state" title="Updates from the change stream">
          {live === "live" ? "live" : live === "connecting" ? "connecting…" : "not live"}
        </span>
      </div>
      <FilterForm params={params} onApply={setFilters} showTenant={can.tenant === null} />
      {summary && <Notice kind={summary.kind} testId="bulk-summary">{summary.text}</Notice>}
      {can.write && (
        <div className="toolbar" role="toolbar" aria-label="Selected jobs">
          <span className="muted" data-testid="selected-count">{visibleSelected.length} selected</span>
          <ConfirmButton
            label={<><Ban aria-hidden size={16} /> Cancel selected</>}
            title={`Cancel ${visibleSelected.length} job${visibleSelected.length === 1 ? "" : "s"}?`}
            message={<p>Queued jobs are cancelled; running jobs are told to stop. Finished jobs are left as they are.</p>}
            confirmLabel="Cancel jobs"
            danger
            disabled={visibleSelected.length === 0}
            onConfirm={() => bulk("cancel")}
            testId="bulk-cancel"
          />
          <ConfirmButton
            label={<><RotateCcw aria-hidden size={16} /> Retry selected</>}
            title={`Retry ${visibleSelected.length} job${visibleSelected.length === 1 ? "" : "s"}?`}
            message={<p>Failed and cancelled jobs are queued again; others are left as they are.</p>}
            confirmLabel="Retry jobs"
            disabled={visibleSelected.length === 0}
            onConfirm={() => bulk("retry")}
            testId="bulk-retry"
          />
        </div>
      )}
      {page.isPending && <Loading />}
      {page.error && <ErrorPanel error={page.error} />}
      {page.data && jobs.length === 0 && <Empty>No job matches these filters.</Empty>}
      {jobs.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="jobs-table">
            <caption className="visually-hidden">Jobs, newest first</caption>
            <thead>
              <tr>
                {can.write && (
                  <th scope="col" className="check">
                    <input
                      type="checkbox"
                      aria-label="Select every job on this page"
                      checked={allSelected}
                      onChange={(event) => setSelected(event.target.checked ? new Set(jobs.map((job) => job.id)) : new Set())}
                      data-testid="select-all"
                    />
                  </th>
                )}
                <th scope="col">Id</th>
                <th scope="col">Status</th>
                <th scope="col">Kind</th>
                <th scope="col">Plugin</th>
                <th scope="col">Tenant</th>
                <th scope="col">Queue</th>
                <th scope="col">Attempt</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((job) => (
                <JobRow
                  key={job.id}
                  job={job}
                  selectable={can.write}
                  selected={selected.has(job.id)}
                  onSelect={(on) => {
                    const next = new Set(selected);
                    if (on) next.add(job.id);
                    else next.delete(job.id);
                    setSelected(next);
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="row pager">
        {cursor && (
          <button type="button" className="button" onClick={() => setFilters({})} data-testid="first-page">
            First page
          </button>
        )}
        {page.data?.next_cursor && (
          <button
            type="button"
            className="button"
            onClick={() => {
              const search = new URLSearchParams(params);
              search.set("cursor", page.data.next_cursor ?? "");
              setSelected(new Set());
              setParams(search);
            }}
            data-testid="next-page"
          >
            Older jobs
          </button>
        )}
      </div>
    </>
  );
}

function JobRow({ job, selectable, selected, onSelect }: { job: Job; selectable: boolean; selected: boolean; onSelect: (on: boolean) => void }) {
  return (
    <tr data-testid="job-row" data-job-id={job.id} data-status={job.status}>
      {selectable && (
        <td className="check">
          <input type="checkbox" aria-label={`Select job ${job.id}`} checked={selected} onChange={(event) => onSelect(event.target.checked)} data-testid="select-job" />
        </td>
      )}
      <td>
        <Link to={`/jobs/${job.id}`} data-testid="job-link">{job.id}</Link>
      </td>
      <td>
        <StatusBadge status={job.status} />
        {job.cancel_requested && job.status === "running" && <span className="muted"> stopping</span>}
      </td>
      <td>{job.kind}</td>
      <td>{job.plugin ?? <span className="muted">–</span>}</td>
      <td>{job.tenant ?? <span className="muted">–</span>}</td>
      <td>{job.queue}</td>
      <td>
        {job.attempt}/{job.max_attempts}
      </td>
      <td>
        <Time value={job.created_at} />
      </td>
    </tr>
  );
}

/** Local `datetime-local` text to RFC 3339, and back. */
function toIso(local: string): string {
  if (!local) return "";
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}
function toLocal(iso: string | null): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const offset = date.getTimezoneOffset() * 60_000;
  return new Date(date.getTime() - offset).toISOString().slice(0, 16);
}

function FilterForm({ params, onApply, showTenant }: { params: URLSearchParams; onApply: (next: Partial<Record<FilterKey, string>>) => void; showTenant: boolean }) {
  const [draft, setDraft] = useState(() => ({
    kind: params.get("kind") ?? "",
    plugin: params.get("plugin") ?? "",
    tenant: params.get("tenant") ?? "",
    queue: params.get("queue") ?? "",
    created_after: toLocal(params.get("created_after")),
    created_before: toLocal(params.get("created_before")),
    payload: params.get("payload") ?? "",
  }));
  const [payloadError, setPayloadError] = useState<string | null>(null);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const payload = draft.payload.trim();
    if (payload) {
      try {
        const parsed: unknown = JSON.parse(payload);
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("give a JSON object");
      } catch (error) {
        setPayloadError(`The payload filter must be a JSON object, e.g. {"customer":{"id":42}} (${(error as Error).message})`);
        return;
      }
    }
    setPayloadError(null);
    onApply({
      kind: draft.kind.trim(),
      plugin: draft.plugin.trim(),
      tenant: showTenant ? draft.tenant.trim() : "",
      queue: draft.queue.trim(),
      created_after: toIso(draft.created_after),
      created_before: toIso(draft.created_before),
      payload,
    });
  };
  const field = (key: keyof typeof draft, label: string, type = "text", placeholder?: string) => (
    <div className="field">
      <label htmlFor={`filter-${key}`}>{label}</label>
      <input
        id={`filter-${key}`}
        type={type}
        value={draft[key]}
        placeholder={placeholder}
        onChange={(event) => setDraft({ ...draft, [key]: event.target.value })}
        data-testid={`filter-${key}`}
      />
    </div>
  );
  return (
    <form className="filters card" onSubmit={submit} aria-label="Job filters" data-testid="job-filters">
      <div className="field">
        <label htmlFor="filter-status">Status</label>
        <select id="filter-status" value={params.get("status") ?? ""} onChange={(event) => onApply({ status: event.target.value })} data-testid="filter-status">
          <option value="">any</option>
          {JOB_STATUSES.map((status) => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
        </select>
      </div>
      {field("kind", "Kind", "text", "plugin.run")}
      {field("plugin", "Plugin")}
      {showTenant && field("tenant", "Tenant")}
      {field("queue", "Queue")}
      {field("created_after", "Created after", "datetime-local")}
      {field("created_before", "Created before", "datetime-local")}
      <div className="field wide">
        <label htmlFor="filter-payload">Payload contains (JSON)</label>
        <input
          id="filter-payload"
          type="text"
          value={draft.payload}
          placeholder='{"customer":{"id":42}}'
          spellCheck={false}
          aria-invalid={payloadError ? true : undefined}
          aria-describedby={payloadError ? "filter-payload-error" : undefined}
          onChange={(event) => setDraft({ ...draft, payload: event.target.value })}
          data-testid="filter-payload"
        />
        {payloadError && (
          <span id="filter-payload-error" className="field-error">
            {payloadError}
          </span>
        )}
      </div>
      <div className="field actions">
        <button type="submit" className="button primary" data-testid="filter-apply">
          Apply filters
        </button>
        <button
          type="button"
          className="button"
          onClick={() => {
            setDraft({ kind: "", plugin: "", tenant: "", queue: "", created_after: "", created_before: "", payload: "" });
            onApply({ status: "", kind: "", plugin: "", tenant: "", queue: "", created_after: "", created_before: "", payload: "" });
          }}
          data-testid="filter-clear"
        >
          Clear
        </button>
      </div>
    </form>
  );
}
