// One plugin: its registry row, kept versions, the metadata it declared (config schema,
// events, routes, tools, console pages) and the admin actions, each followed live.

import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import { errorText } from "../api/problem";
import type { Job, PluginDetail } from "../api/types";
import { useCan } from "../auth/session";
import { ConfirmButton } from "../components/Confirm";
import { useTitle } from "../components/hooks";
import { JobFollow } from "../components/JobFollow";
import { JsonView } from "../components/JsonView";
import { Empty, ErrorPanel, Loading } from "../components/states";
import { StatusBadge } from "../components/StatusBadge";
import { Time } from "../components/Time";
import { formatBytes } from "../format";
import { pagesOfDetail } from "../plugin-pages/pages";
import { ActionFollow, type StartedAction } from "./plugin-actions";

export default function PluginPage() {
  const id = useParams().plugin ?? "";
  useTitle(`Plugin ${id}`);
  const can = useCan();
  const plugin = useQuery({ queryKey: ["plugin", id], queryFn: () => endpoints.plugin(id), refetchInterval: 10_000 });
  const [action, setAction] = useState<StartedAction | null>(null);
  if (plugin.isPending) return <Loading />;
  if (plugin.error) return <ErrorPanel error={plugin.error} title={`Plugin ${id}`} />;
  const data = plugin.data;
  const busyElsewhere = data.busy_with_job !== null && data.busy_with_job !== action?.job.id;
  return (
    <>
      <div className="row spread wrap">
        <h1>
          {data.id} <StatusBadge status={data.state} />
        </h1>
        {can.managePlugins && <Actions plugin={data} onStarted={setAction} />}
      </div>
      {action && <ActionFollow action={action} onRestart={setAction} />}
      {busyElsewhere && data.busy_with_job !== null && <JobFollow jobId={data.busy_with_job} title="Running now" />}
      {data.error && (
        <section className="card error-card" aria-labelledby="plugin-error">
          <h2 id="plugin-error">Last error</h2>
          <pre className="json">{data.error}</pre>
        </section>
      )}
      <div className="grid-2">
        <section className="card" aria-labelledby="plugin-facts">
          <h2 id="plugin-facts">Registry</h2>
          <dl className="facts">
            <dt>Version</dt>
            <dd data-testid="plugin-version">{data.active_version ?? "–"}</dd>
            <dt>Previous version</dt>
            <dd>{data.previous_version ?? "–"}</dd>
            <dt>Source</dt>
            <dd className="break">{data.source ?? "–"}</dd>
            {data.restarts !== undefined && (
              <>
                <dt>Restarts</dt>
                <dd>{data.restarts}</dd>
              </>
            )}
            <dt>Changed</dt>
            <dd>
              <Time value={data.updated_at} />
              {data.changed_by && (
                <>
                  {" "}by <Link to={`/jobs/${data.changed_by}`}>job {data.changed_by}</Link>
                </>
              )}
            </dd>
            <dt>Granted</dt>
            <dd>{data.granted_permissions ? <code>{JSON.stringify(data.granted_permissions)}</code> : "nothing recorded"}</dd>
          </dl>
        </section>
        <section className="card" aria-labelledby="plugin-versions">
          <h2 id="plugin-versions">Kept versions</h2>
          {data.versions.length === 0 ? (
            <Empty>No package is kept.</Empty>
          ) : (
            <ul className="plain-list">
              {data.versions.map((version) => (
                <li key={version.version}>
                  <strong>{version.version}</strong> <span className="muted">{formatBytes(version.size)}</span>{" "}
                  <Time value={version.created_at} />
                  <div className="muted break">sha256 {version.sha256}</div>
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      <Metadata plugin={data} />
    </>
  );
}

function Metadata({ plugin }: { plugin: PluginDetail }) {
  const cached = plugin.metadata;
  if (!cached) return <Empty>The plugin has not reported its metadata yet (it does once it starts).</Empty>;
  const meta = cached.metadata ?? {};
  const pages = pagesOfDetail(plugin);
  return (
    <section aria-labelledby="plugin-metadata">
      <h2 id="plugin-metadata">
        Metadata <span className="muted">of {cached.version}, {cached.state}</span>
      </h2>
      {cached.error && <p className="form-error">{cached.error}</p>}
      <div className="grid-2">
        <section className="card" aria-labelledby="meta-pages">
          <h3 id="meta-pages">Console pages</h3>
          {pages.length === 0 ? (
            <p className="muted">None.</p>
          ) : (
            <ul className="plain-list" data-testid="plugin-ui-pages">
              {pages.map((page) => (
                <li key={page.id}>
                  <Link to={`/plugins/${encodeURIComponent(plugin.id)}/pages/${encodeURIComponent(page.id)}`}>{page.title}</Link>{" "}
                  <code>{page.path}</code>
                </li>
              ))}
            </ul>
          )}
          <h3>Events</h3>
          {meta.events && meta.events.length > 0 ? (
            <ul className="chips">
              {meta.events.map((event) => (
                <li key={event}>
                  <code>{event}</code>
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">None.</p>
          )}
          <h3>Default schedule</h3>
          <p>{meta.schedule ? <code>{JSON.stringify(meta.schedule)}</code> : <span className="muted">None.</span>}</p>
        </section>
        <section className="card" aria-labelledby="meta-routes">
          <h3 id="meta-routes">Routes</h3>
          {meta.routes && meta.routes.length > 0 ? (
            <ul className="plain-list">
              {meta.routes.map((route) => (
                <li key={route.method + route.path}>
                  <code>
                    {route.method} /plugins/{plugin.id}
                    {route.path}
                  </code>{" "}
                  <span className="badge badge-neutral">{route.webhook ? "webhook" : route.auth}</span>
                  {route.summary && <div className="muted">{route.summary}</div>}
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">None.</p>
          )}
          <h3>Tools</h3>
          {meta.tools && meta.tools.length > 0 ? (
            <ul className="plain-list">
              {meta.tools.map((tool) => (
                <li key={tool.name}>
                  <code>{tool.name}</code> {tool.title && <strong>{tool.title}</strong>}
                  {tool.description && <div className="muted">{tool.description}</div>}
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">None.</p>
          )}
        </section>
      </div>
      <details className="card">
        <summary>Config schema</summary>
        {meta.configSchema ? <JsonView value={meta.configSchema} label="Config schema" testId="plugin-config-schema" /> : <p className="muted">The plugin takes no config.</p>}
      </details>
    </section>
  );
}

function Actions({ plugin, onStarted }: { plugin: PluginDetail; onStarted: (action: StartedAction) => void }) {
  const can = useCan();
  const [showUpdate, setShowUpdate] = useState(false);
  const [deleteData, setDeleteData] = useState(false);
  const start = (title: string, run: () => Promise<Job>) => async () => onStarted({ job: await run(), title });
  return (
    <div className="row wrap" role="group" aria-label="Plugin actions">
      <button type="button" className="button" onClick={() => setShowUpdate(!showUpdate)} aria-expanded={showUpdate} data-testid="plugin-update-open">
        Update…
      </button>
      {plugin.previous_version && (
        <ConfirmButton
          label="Roll back"
          title={`Roll ${plugin.id} back to ${plugin.previous_version}?`}
          message={<p>The running version {plugin.active_version} is replaced by {plugin.previous_version}.</p>}
          confirmLabel="Roll back"
          onConfirm={start(`Rolling ${plugin.id} back`, () => endpoints.pluginAction(plugin.id, "rollback"))}
          testId="plugin-rollback"
        />
      )}
      {plugin.state === "disabled" ? (
        <ConfirmButton
          label="Enable"
          title={`Enable ${plugin.id}?`}
          message={<p>Its processes start, its routes and schedules come back.</p>}
          confirmLabel="Enable"
          onConfirm={start(`Enabling ${plugin.id}`, () => endpoints.pluginAction(plugin.id, "enable"))}
          testId="plugin-enable"
        />
      ) : (
        <ConfirmButton
          label="Disable"
          title={`Disable ${plugin.id}?`}
          message={<p>Its processes stop; its routes answer 404 and its jobs wait until it is enabled again.</p>}
          confirmLabel="Disable"
          danger
          onConfirm={start(`Disabling ${plugin.id}`, () => endpoints.pluginAction(plugin.id, "disable"))}
          testId="plugin-disable"
        />
      )}
      <ConfirmButton
        label="Uninstall"
        title={`Uninstall ${plugin.id}?`}
        message={
          <>
            <p>The plugin is stopped and removed. Its jobs stay as history.</p>
            <label className="inline">
              <input type="checkbox" checked={deleteData} onChange={(event) => setDeleteData(event.target.checked)} data-testid="uninstall-delete-data" />
              Also delete its stored data
            </label>
          </>
        }
        confirmLabel="Uninstall"
        danger
        onConfirm={start(`Uninstalling ${plugin.id}`, () => endpoints.uninstallPlugin(plugin.id, deleteData))}
        testId="plugin-uninstall"
      />
      {showUpdate && <UpdateForm plugin={plugin} onStarted={onStarted} upload={can.adminPlugins} />}
    </div>
  );
}

function UpdateForm({ plugin, onStarted, upload }: { plugin: PluginDetail; onStarted: (action: StartedAction) => void; upload: boolean }) {
  const [source, setSource] = useState("");
  const [version, setVersion] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [allowDowngrade, setAllowDowngrade] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let job: Job;
      if (file) job = await endpoints.uploadPluginUpdate(plugin.id, file, allowDowngrade);
      else if (version) job = await endpoints.updatePlugin(plugin.id, { version, allow_downgrade: allowDowngrade });
      else if (source.trim()) job = await endpoints.updatePlugin(plugin.id, { source: source.trim(), allow_downgrade: allowDowngrade });
      else throw new Error("Give a package URL, pick a kept version or choose an archive.");
      onStarted({ job, title: `Updating ${plugin.id}` });
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card update-form" onSubmit={submit} aria-label={`Update ${plugin.id}`} data-testid="plugin-update-form">
      <div className="form-grid">
        <div className="field wide">
          <label htmlFor="update-source">New package URL</label>
          <input id="update-source" type="url" value={source} onChange={(event) => setSource(event.target.value)} data-testid="update-source" />
        </div>
        {plugin.versions.length > 0 && (
          <div className="field">
            <label htmlFor="update-version">or a kept version</label>
            <select id="update-version" value={version} onChange={(event) => setVersion(event.target.value)} data-testid="update-version">
              <option value="">–</option>
              {plugin.versions.map((kept) => (
                <option key={kept.version} value={kept.version}>
                  {kept.version}
                </option>
              ))}
            </select>
          </div>
        )}
        {upload && (
          <div className="field">
            <label htmlFor="update-file">or upload an archive</label>
            <input id="update-file" type="file" accept=".tar.gz,.tgz,.tar,.zip" onChange={(event) => setFile(event.target.files?.[0] ?? null)} data-testid="update-file" />
          </div>
        )}
        <label className="inline">
          <input type="checkbox" checked={allowDowngrade} onChange={(event) => setAllowDowngrade(event.target.checked)} />
          Allow an older version
        </label>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="button primary" disabled={busy} data-testid="update-submit">
        Update
      </button>
    </form>
  );
}
