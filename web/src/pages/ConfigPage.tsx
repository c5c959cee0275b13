// A config: its values in a form generated from the plugin's schema (with the server's errors
// next to their fields), its schedule and next fires, its event subscriptions, and test,
// validate, run now and delete.

import { lazy, Suspense, useEffect, useState } from "react";
import { Link, useLocation, useNavigate, useParams, useSearchParams } from "react-router";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { endpoints, type ConfigInput } from "../api/endpoints";
import { ApiProblem, errorText } from "../api/problem";
import type { Config, ConfigTestAnswer, Schedule } from "../api/types";
import { useCan } from "../auth/session";
import { NO_ERRORS, placeErrors, type PlacedErrors } from "../config/server-errors";
import { ScheduleEditor } from "../config/ScheduleEditor";
import { ConfirmButton } from "../components/Confirm";
import { useDebounced, useTitle } from "../components/hooks";
import { JobFollow } from "../components/JobFollow";
import { JsonView } from "../components/JsonView";
import { ErrorPanel, Loading, Notice } from "../components/states";
import { Time } from "../components/Time";

const ConfigForm = lazy(() => import("../config/ConfigForm"));

interface Draft {
  name: string;
  values: unknown;
  schedule: Schedule | null;
  events: string;
  enabled: boolean;
}

export default function ConfigPage() {
  const { id, tenant: newTenant } = useParams();
  const [search] = useSearchParams();
  const existing = id !== undefined;
  const config = useQuery({ queryKey: ["config", id], queryFn: () => endpoints.config(id ?? ""), enabled: existing });
  const tenant = existing ? config.data?.tenant : newTenant;
  const pluginId = existing ? config.data?.plugin : (search.get("plugin") ?? "");
  useTitle(existing ? `Config ${config.data?.name ?? id}` : "New config");
  const plugin = useQuery({ queryKey: ["plugin", pluginId], queryFn: () => endpoints.plugin(pluginId ?? ""), enabled: !!pluginId });

  if (existing && config.isPending) return <Loading />;
  if (config.error) return <ErrorPanel error={config.error} title="Config" />;
  if (!tenant || !pluginId) return <ErrorPanel error={new Error("Choose a plugin from the tenant's page to add a config.")} />;
  if (plugin.isPending) return <Loading label="Reading the plugin's schema…" />;
  if (plugin.error) return <ErrorPanel error={plugin.error} title={`Plugin ${pluginId}`} />;
  const meta = plugin.data.metadata?.metadata ?? null;
  return <Editor key={config.data?.id ?? "new"} tenant={tenant} plugin={pluginId} config={config.data ?? null} schema={meta?.configSchema} pluginEvents={meta?.events ?? []} />;
}

function Editor({ tenant, plugin, config, schema, pluginEvents }: { tenant: string; plugin: string; config: Config | null; schema: Record<string, unknown> | undefined; pluginEvents: string[] }) {
  const can = useCan();
  const readOnly = !can.write;
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<Draft>(() => ({
    name: config?.name ?? "default",
    values: config?.values ?? {},
    schedule: config?.schedule ?? null,
    events: (config?.events ?? []).join("\n"),
    enabled: config?.enabled ?? true,
  }));
  const [errors, setErrors] = useState<PlacedErrors>(NO_ERRORS);
  const created = (useLocation().state as { created?: boolean } | null)?.created === true;
  const [notice, setNotice] = useState<{ kind: "ok" | "error" | "info"; text: string } | null>(created ? { kind: "ok", text: "Created." } : null);
  const [busy, setBusy] = useState<string | null>(null);
  const [test, setTest] = useState<ConfigTestAnswer | null>(null);
  const [runJob, setRunJob] = useState<number | null>(null);
  const scheduleDirty = JSON.stringify(draft.schedule) !== JSON.stringify(config?.schedule ?? null);

  const body = (): ConfigInput => ({
    plugin,
    name: draft.name.trim(),
    values: draft.values ?? {},
    schedule: draft.schedule,
    events: draft.events.split(/[\n,]/).map((event) => event.trim()).filter(Boolean),
    enabled: draft.enabled,
  });

  const act = async (label: string, work: () => Promise<void>) => {
    setBusy(label);
    setNotice(null);
    try {
      await work();
    } catch (failure) {
      if (failure instanceof ApiProblem && failure.errors.length > 0) {
        setErrors(placeErrors(failure.errors));
        setNotice({ kind: "error", text: failure.errors.some((error) => error.pointer.startsWith("/values")) ? "Some values are not valid: see the fields marked below." : failure.detail });
      } else {
        setNotice({ kind: "error", text: errorText(failure) });
      }
    } finally {
      setBusy(null);
    }
  };

  const save = () =>
    act("save", async () => {
      const input = body();
      const saved = config ? await endpoints.replaceConfig(config.id, { values: input.values, schedule: input.schedule, events: input.events, enabled: input.enabled }) : await endpoints.createConfig(tenant, input);
      setErrors(NO_ERRORS);
      void queryClient.invalidateQueries({ queryKey: ["configs", tenant] });
      void queryClient.invalidateQueries({ queryKey: ["next-fires", saved.id] });
      queryClient.setQueryData(["config", saved.id], saved);
      // What the server stored (its schedule written out in full) is the new starting point.
      setDraft((old) => ({ ...old, schedule: saved.schedule ?? null }));
      if (!config) navigate(`/configs/${encodeURIComponent(saved.id)}`, { replace: true, state: { created: true } });
      setNotice({ kind: "ok", text: "Saved." });
    });

  const validate = () =>
    act("validate", async () => {
      await endpoints.validateNewConfig(tenant, body());
      setErrors(NO_ERRORS);
      setNotice({ kind: "ok", text: "Valid: the plugin's schema accepts these values, schedule and events." });
    });

  return (
    <>
      <div className="row spread wrap">
        <h1>
          {config ? `Config ${config.name}` : "New config"} <span className="muted">of {plugin} for {tenant}</span>
        </h1>
        <p>
          <Link to={`/tenants/${encodeURIComponent(tenant)}`}>Back to {tenant}</Link>
          {config && (
            <>
              {" · "}
              <Link to={`/jobs?tenant=${encodeURIComponent(tenant)}&plugin=${encodeURIComponent(plugin)}`}>Its jobs</Link>
            </>
          )}
        </p>
      </div>
      {config?.invalid_reason && <Notice kind="error">Not valid against the plugin's current schema, so it does not run: {config.invalid_reason}</Notice>}
      {notice && <Notice kind={notice.kind} testId="config-notice">{notice.text}</Notice>}
      {errors.other.length > 0 && (
        <Notice kind="error" testId="config-other-errors">
          {errors.other.map((error) => (
            <div key={error}>{error}</div>
          ))}
        </Notice>
      )}
      <form
        className="config-editor"
        aria-label="Config"
        onSubmit={(event) => {
          event.preventDefault();
          if (!readOnly) void save();
        }}
        noValidate
      >
        <div className="card">
          <div className="form-grid">
            <div className="field">
              <label htmlFor="config-name">Name</label>
              <input
                id="config-name"
                value={draft.name}
                disabled={!!config || readOnly}
                onChange={(event) => setDraft({ ...draft, name: event.target.value })}
                aria-describedby={errors.name.length ? "config-name-error" : undefined}
                data-testid="config-name"
              />
              {errors.name.length > 0 && (
                <span id="config-name-error" className="field-error">
                  {errors.name.join(" ")}
                </span>
              )}
            </div>
            <label className="inline">
              <input type="checkbox" checked={draft.enabled} disabled={readOnly} onChange={(event) => setDraft({ ...draft, enabled: event.target.checked })} data-testid="config-enabled" />
              Enabled
            </label>
          </div>
        </div>
        <section className="card" aria-labelledby="values-title">
          <h2 id="values-title">Values</h2>
          {schema ? (
            <Suspense fallback={<Loading label="Loading the form…" />}>
              <ConfigForm schema={schema} values={draft.values} onChange={(values) => setDraft((old) => ({ ...old, values }))} errors={errors.values} readOnly={readOnly} />
            </Suspense>
          ) : (
            <p className="muted">The plugin has reported no config schema (it does once it has started), or takes no config.</p>
          )}
        </section>
        <ScheduleEditor schedule={draft.schedule} onChange={(schedule) => setDraft({ ...draft, schedule })} errors={errors.schedule} readOnly={readOnly} />
        <NextFires config={config} draft={draft.schedule} dirty={scheduleDirty} canPreview={!readOnly} />
        <fieldset className="card" disabled={readOnly}>
          <legend>Event subscriptions</legend>
          <label htmlFor="config-events">Event types or patterns, one a line (form.submitted, form.*, *)</label>
          <textarea
            id="config-events"
            rows={3}
            value={draft.events}
            onChange={(event) => setDraft({ ...draft, events: event.target.value })}
            aria-describedby={errors.events.length ? "config-events-error" : "config-events-hint"}
            data-testid="config-events"
          />
          {pluginEvents.length > 0 && (
            <p id="config-events-hint" className="hint">
              The plugin reacts to: {pluginEvents.map((event) => <code key={event}>{event} </code>)}
            </p>
          )}
          {errors.events.length > 0 && (
            <div id="config-events-error" className="field-error" role="alert">
              {errors.events.map((error) => (
                <div key={error}>{error}</div>
              ))}
            </div>
          )}
        </fieldset>
        {!readOnly && (
          <div className="toolbar sticky-actions">
            <button type="submit" className="button primary" disabled={busy !== null} data-testid="config-save">
              {busy === "save" ? "Saving…" : config ? "Save" : "Create"}
            </button>
            <button type="button" className="button" disabled={busy !== null} onClick={() => void validate()} data-testid="config-validate">
              {busy === "validate" ? "Validating…" : "Validate"}
            </button>
            {config && (
              <>
                <button
                  type="button"
                  className="button"
                  disabled={busy !== null}
                  onClick={() =>
                    void act("test", async () => {
                      setTest(null);
                      setTest(await endpoints.testConfig(config.id));
                    })
                  }
                  data-testid="config-test"
                >
                  {busy === "test" ? "Testing…" : "Test"}
                </button>
                <button
                  type="button"
                  className="button"
                  disabled={busy !== null}
                  onClick={() =>
                    void act("run", async () => {
                      const job = await endpoints.runConfig(config.id);
                      setRunJob(job.id);
                    })
                  }
                  data-testid="config-run"
                >
                  {busy === "run" ? "Starting…" : "Run now"}
                </button>
                <ConfirmButton
                  label="Delete"
                  title={`Delete config ${config.name}?`}
                  message={<p>Its schedule and subscriptions stop. Its jobs stay as history.</p>}
                  confirmLabel="Delete config"
                  danger
                  onConfirm={async () => {
                    await endpoints.deleteConfig(config.id);
                    await queryClient.invalidateQueries({ queryKey: ["configs", tenant] });
                    navigate(`/tenants/${encodeURIComponent(tenant)}`);
                  }}
                  testId="config-delete"
                />
              </>
            )}
          </div>
        )}
      </form>
      {test && (
        <Notice kind={test.ok ? "ok" : "error"} testId="config-test-result">
          Test {test.ok ? "passed" : "failed"}
          {test.node ? ` on ${test.node}` : ""}: {test.message}
          {test.details != null && <JsonView value={test.details} label="Test details" />}
        </Notice>
      )}
      {runJob !== null && <JobFollow jobId={runJob} title="Run now" />}
      {config && <StoredCheck config={config} readOnly={readOnly} />}
    </>
  );
}

/**
 * The next five fires: of the saved schedule, or, while the schedule is being edited, of the
 * edited one as the server would compute it on save (asked once the typing pauses).
 */
function NextFires({ config, draft, dirty, canPreview }: { config: Config | null; draft: Schedule | null; dirty: boolean; canPreview: boolean }) {
  const previewing = canPreview && draft !== null && (dirty || config === null);
  const settled = useDebounced(draft, 400);
  const saved = useQuery({
    queryKey: ["next-fires", config?.id],
    queryFn: () => endpoints.nextFires(config?.id ?? ""),
    enabled: !previewing && config !== null && config.schedule !== null,
  });
  const preview = useQuery({
    queryKey: ["next-fires-preview", config?.id ?? null, JSON.stringify(settled)],
    queryFn: () => endpoints.previewFires(settled as Schedule, config?.id ?? null),
    enabled: previewing && settled !== null,
    retry: false,
  });
  const fires = previewing ? preview : saved;
  if (previewing ? draft === null : !config?.schedule) return null;
  return (
    <section className="card" aria-labelledby="next-fires-title" data-testid="next-fires" data-preview={previewing}>
      <h2 id="next-fires-title">Next fires</h2>
      <p className="muted">In your time zone; UTC on hover.{previewing && " For the schedule as edited: saving it gives these."}</p>
      {fires.error && (previewing ? <p className="form-error" data-testid="next-fires-error">{errorText(fires.error)}</p> : <ErrorPanel error={fires.error} />)}
      {fires.data && fires.data.fires.length === 0 && <p className="muted">None (paused, or past its end).</p>}
      {fires.data && (
        <ol>
          {fires.data.fires.map((fire) => (
            <li key={fire}>
              <Time value={fire} />
            </li>
          ))}
        </ol>
      )}
      {config?.last_fire_at && (
        <p className="muted">
          Last fired <Time value={config.last_fire_at} />
        </p>
      )}
    </section>
  );
}

/** The stored config checked again against the plugin's current schema. */
function StoredCheck({ config, readOnly }: { config: Config; readOnly: boolean }) {
  const [answer, setAnswer] = useState<{ valid: boolean; problems: string[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setAnswer(null), [config.id]);
  if (readOnly) return null;
  return (
    <details className="card">
      <summary>Check the stored config against the current schema</summary>
      <button
        type="button"
        className="button"
        onClick={() =>
          endpoints
            .validateConfig(config.id)
            .then(setAnswer)
            .catch((failure) => setError(errorText(failure)))
        }
        data-testid="config-check-stored"
      >
        Check
      </button>
      {answer && (answer.valid ? <Notice kind="ok">The stored config is valid.</Notice> : <Notice kind="error">{answer.problems.join("; ")}</Notice>)}
      {error && <Notice kind="error">{error}</Notice>}
    </details>
  );
}
