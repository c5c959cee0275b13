// Events: history (filtered by tenant and type, paged), posting one, and the jobs it made.

import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import { errorText } from "../api/problem";
import type { EventRecord } from "../api/types";
import { useCan } from "../auth/session";
import { useTitle } from "../components/hooks";
import { JsonView } from "../components/JsonView";
import { Empty, ErrorPanel, Loading, Notice } from "../components/states";
import { Time } from "../components/Time";

export default function Events() {
  useTitle("Events");
  const can = useCan();
  const [params, setParams] = useSearchParams();
  const tenant = params.get("tenant") ?? "";
  const type = params.get("type") ?? "";
  const cursor = params.get("cursor") ?? "";
  const events = useQuery({
    queryKey: ["events", tenant, type, cursor],
    queryFn: () => endpoints.events({ tenant: tenant || undefined, type: type || undefined, cursor: cursor || undefined }),
    refetchInterval: 10_000,
  });
  const [open, setOpen] = useState<number | null>(null);
  const set = (next: Record<string, string>) => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries({ tenant, type, ...next })) if (value) search.set(key, value);
    setParams(search);
  };
  return (
    <>
      <h1>Events</h1>
      {can.write && <PostEvent defaultTenant={can.tenant ?? tenant} tenantFixed={can.tenant !== null} />}
      <form
        className="filters card"
        aria-label="Event filters"
        onSubmit={(event) => {
          event.preventDefault();
          const data = new FormData(event.currentTarget);
          set({ tenant: String(data.get("tenant") ?? ""), type: String(data.get("type") ?? ""), cursor: "" });
        }}
      >
        {can.tenant === null && (
          <div className="field">
            <label htmlFor="events-tenant">Tenant</label>
            <input id="events-tenant" name="tenant" defaultValue={tenant} data-testid="events-filter-tenant" />
          </div>
        )}
        <div className="field">
          <label htmlFor="events-type">Type</label>
          <input id="events-type" name="type" defaultValue={type} data-testid="events-filter-type" />
        </div>
        <div className="field actions">
          <button type="submit" className="button primary">
            Apply filters
          </button>
        </div>
      </form>
      {events.isPending && <Loading />}
      {events.error && <ErrorPanel error={events.error} />}
      {events.data && events.data.events.length === 0 && <Empty>No event matches.</Empty>}
      {events.data && events.data.events.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="events-table">
            <caption className="visually-hidden">Events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Type</th>
                <th scope="col">Tenant</th>
                <th scope="col">Source</th>
                <th scope="col">Configs reached</th>
                <th scope="col">Created</th>
                <th scope="col"><span className="visually-hidden">Details</span></th>
              </tr>
            </thead>
            <tbody>
              {events.data.events.map((event) => (
                <EventRow key={event.id} event={event} open={open === event.id} onToggle={() => setOpen(open === event.id ? null : event.id)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="row pager">
        {cursor && (
          <button type="button" className="button" onClick={() => set({ cursor: "" })}>
            First page
          </button>
        )}
        {events.data?.next_cursor && (
          <button type="button" className="button" onClick={() => set({ cursor: events.data.next_cursor ?? "" })}>
            Older events
          </button>
        )}
      </div>
    </>
  );
}

/** The payload filter of the jobs an event made: their trigger names it (its id as a string). */
function eventFilter(id: number): string {
  return JSON.stringify({ trigger: { kind: "event", event: { id: String(id) } } });
}

function EventRow({ event, open, onToggle }: { event: EventRecord; open: boolean; onToggle: () => void }) {
  // The jobs an event made are `plugin.run` jobs whose trigger names it: found through the
  // payload filter.
  const jobs = useQuery({
    queryKey: ["event-jobs", event.id],
    queryFn: () => endpoints.jobs({ kind: "plugin.run", tenant: event.tenant, payload: eventFilter(event.id), limit: 50 }),
    enabled: open,
  });
  return (
    <>
      <tr data-testid="event-row" data-event-id={event.id}>
        <td>{event.id}</td>
        <td>
          <code>{event.type}</code>
        </td>
        <td>{event.tenant}</td>
        <td>{event.source ?? "–"}</td>
        <td>{event.delivered_at ? (event.deliveries ?? 0) : <span className="muted">pending</span>}</td>
        <td>
          <Time value={event.created_at} />
        </td>
        <td>
          <button type="button" className="button small" aria-expanded={open} onClick={onToggle} aria-label={`Details of event ${event.id}`}>
            {open ? "Hide" : "Details"}
          </button>
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={7}>
            <div className="grid-2">
              <JsonView value={event.payload} label={`Payload of event ${event.id}`} />
              <div>
                <h3>Jobs it made</h3>
                {jobs.isPending && <Loading />}
                {jobs.error && <ErrorPanel error={jobs.error} />}
                {jobs.data && jobs.data.jobs.length === 0 && <p className="muted">None found.</p>}
                {jobs.data && (
                  <ul className="plain-list">
                    {jobs.data.jobs.map((job) => (
                      <li key={job.id}>
                        <Link to={`/jobs/${job.id}`}>job {job.id}</Link> {job.plugin} <span className="muted">{job.status}</span>
                      </li>
                    ))}
                  </ul>
                )}
                <Link to={`/jobs?kind=plugin.run&tenant=${encodeURIComponent(event.tenant)}&payload=${encodeURIComponent(eventFilter(event.id))}`}>
                  Open in Jobs
                </Link>
              </div>
            </div>
          </td>
        </tr>
      )}
    </>
  );
}

function PostEvent({ defaultTenant, tenantFixed }: { defaultTenant: string; tenantFixed: boolean }) {
  const queryClient = useQueryClient();
  const [type, setType] = useState("");
  const [tenant, setTenant] = useState(defaultTenant);
  const [payload, setPayload] = useState("{}");
  const [key, setKey] = useState("");
  const [result, setResult] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setResult(null);
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload || "{}");
    } catch (error) {
      setResult({ kind: "error", text: `The payload is not JSON: ${(error as Error).message}` });
      return;
    }
    try {
      const answer = await endpoints.postEvent({ type: type.trim(), tenant: tenantFixed ? undefined : tenant.trim() || undefined, payload: parsed, idempotency_key: key.trim() || undefined });
      setResult({
        kind: "ok",
        text: answer.created ? `Event ${answer.event_id} recorded; it reached ${answer.jobs} config${answer.jobs === 1 ? "" : "s"}.` : `Event ${answer.event_id} was already recorded with this idempotency key; nothing new started.`,
      });
      await queryClient.invalidateQueries({ queryKey: ["events"] });
    } catch (failure) {
      setResult({ kind: "error", text: errorText(failure) });
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="post-event-title" data-testid="post-event-form">
      <h2 id="post-event-title">Post an event</h2>
      <div className="form-grid">
        <div className="field">
          <label htmlFor="event-type">Type</label>
          <input id="event-type" required value={type} onChange={(event) => setType(event.target.value)} placeholder="form.submitted" data-testid="event-type" />
        </div>
        {!tenantFixed && (
          <div className="field">
            <label htmlFor="event-tenant">Tenant</label>
            <input id="event-tenant" required value={tenant} onChange={(event) => setTenant(event.target.value)} data-testid="event-tenant" />
          </div>
        )}
        <div className="field">
          <label htmlFor="event-key">Idempotency key (optional)</label>
          <input id="event-key" value={key} onChange={(event) => setKey(event.target.value)} />
        </div>
        <div className="field wide">
          <label htmlFor="event-payload">Payload (JSON)</label>
          <textarea id="event-payload" rows={3} spellCheck={false} value={payload} onChange={(event) => setPayload(event.target.value)} data-testid="event-payload" />
        </div>
      </div>
      {result && <Notice kind={result.kind} testId="post-event-result">{result.text}</Notice>}
      <button type="submit" className="button primary" data-testid="event-post">
        Post event
      </button>
    </form>
  );
}
