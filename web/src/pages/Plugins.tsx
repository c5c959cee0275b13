// Plugins: the registry with each plugin's state, version, restarts and last error, and
// installing from a URL or (admin) an uploaded archive, followed live.

import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import { errorText } from "../api/problem";
import { useCan } from "../auth/session";
import { useTitle } from "../components/hooks";
import { Empty, ErrorPanel, Loading } from "../components/states";
import { StatusBadge } from "../components/StatusBadge";
import { Time } from "../components/Time";
import { ActionFollow, type StartedAction } from "./plugin-actions";

export default function Plugins() {
  useTitle("Plugins");
  const can = useCan();
  const plugins = useQuery({ queryKey: ["plugins"], queryFn: endpoints.plugins, refetchInterval: 10_000 });
  const [action, setAction] = useState<StartedAction | null>(null);
  return (
    <>
      <h1>Plugins</h1>
      {can.managePlugins && <InstallForm onStarted={setAction} />}
      {action && <ActionFollow action={action} onRestart={setAction} />}
      {plugins.isPending && <Loading />}
      {plugins.error && <ErrorPanel error={plugins.error} />}
      {plugins.data && plugins.data.plugins.length === 0 && <Empty>No plugin is installed.</Empty>}
      {plugins.data && plugins.data.plugins.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="plugins-table">
            <caption className="visually-hidden">Installed plugins</caption>
            <thead>
              <tr>
                <th scope="col">Plugin</th>
                <th scope="col">State</th>
                <th scope="col">Version</th>
                <th scope="col">Restarts</th>
                <th scope="col">Last error</th>
                <th scope="col">Changed</th>
              </tr>
            </thead>
            <tbody>
              {plugins.data.plugins.map((plugin) => (
                <tr key={plugin.id} data-testid="plugin-row" data-plugin={plugin.id} data-state={plugin.state}>
                  <td>
                    <Link to={`/plugins/${encodeURIComponent(plugin.id)}`} data-testid="plugin-link">
                      {plugin.id}
                    </Link>
                  </td>
                  <td>
                    <StatusBadge status={plugin.state} />
                  </td>
                  <td>
                    {plugin.active_version ?? "–"}
                    {plugin.previous_version && <span className="muted"> (was {plugin.previous_version})</span>}
                  </td>
                  <td>{plugin.restarts ?? <span className="muted">–</span>}</td>
                  <td className="clip" title={plugin.error ?? undefined}>
                    {plugin.error ?? <span className="muted">–</span>}
                  </td>
                  <td>
                    <Time value={plugin.updated_at} />
                    {plugin.changed_by && (
                      <>
                        {" "}
                        <Link to={`/jobs/${plugin.changed_by}`}>job {plugin.changed_by}</Link>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function InstallForm({ onStarted }: { onStarted: (action: StartedAction) => void }) {
  const can = useCan();
  const [mode, setMode] = useState<"url" | "upload">("url");
  const [source, setSource] = useState("");
  const [sha256, setSha256] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const sum = sha256.trim() || null;
    try {
      if (mode === "url") {
        const url = source.trim();
        const job = await endpoints.installPlugin(url, sum, null);
        onStarted({ job, title: `Installing ${url}`, again: (grant) => endpoints.installPlugin(url, sum, grant) });
        setSource("");
      } else if (file) {
        const chosen = file;
        const job = await endpoints.uploadPlugin(chosen, sum, null);
        onStarted({ job, title: `Installing ${chosen.name}`, again: (grant) => endpoints.uploadPlugin(chosen, sum, grant) });
      }
      setSha256("");
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="install-title" data-testid="install-form">
      <h2 id="install-title">Install a plugin</h2>
      {can.adminPlugins && (
        <fieldset className="segmented">
          <legend className="visually-hidden">Install from</legend>
          <label>
            <input type="radio" name="install-mode" checked={mode === "url"} onChange={() => setMode("url")} data-testid="install-mode-url" />
            From a URL
          </label>
          <label>
            <input type="radio" name="install-mode" checked={mode === "upload"} onChange={() => setMode("upload")} data-testid="install-mode-upload" />
            Upload an archive
          </label>
        </fieldset>
      )}
      <div className="form-grid">
        {mode === "url" ? (
          <div className="field wide">
            <label htmlFor="install-source">Package URL</label>
            <input
              id="install-source"
              type="url"
              required
              value={source}
              placeholder="https://example.com/hello-1.0.0.tar.gz"
              onChange={(event) => setSource(event.target.value)}
              data-testid="install-source"
            />
          </div>
        ) : (
          <div className="field wide">
            <label htmlFor="install-file">Archive (.tar.gz, .tar or .zip)</label>
            <input
              id="install-file"
              type="file"
              required
              accept=".tar.gz,.tgz,.tar,.zip,application/gzip,application/x-tar,application/zip"
              onChange={(event) => setFile(event.target.files?.[0] ?? null)}
              data-testid="install-file"
            />
          </div>
        )}
        <div className="field wide">
          <label htmlFor="install-sha256">SHA-256 (optional)</label>
          <input
            id="install-sha256"
            type="text"
            pattern="[0-9a-fA-F]{64}"
            spellCheck={false}
            value={sha256}
            onChange={(event) => setSha256(event.target.value)}
            data-testid="install-sha256"
          />
        </div>
      </div>
      {error && (
        <p className="form-error" role="alert" data-testid="install-error">
          {error}
        </p>
      )}
      <button type="submit" className="button primary" disabled={busy} data-testid="install-submit">
        {busy ? "Starting…" : "Install"}
      </button>
    </form>
  );
}
