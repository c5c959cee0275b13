// Concurrency and rate limits per tenant and per plugin: the admin sets them, global tokens
// read them.

import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import { errorText } from "../api/problem";
import { useCan } from "../auth/session";
import { ConfirmButton } from "../components/Confirm";
import { useTitle } from "../components/hooks";
import { Empty, ErrorPanel, Loading } from "../components/states";

export default function Limits() {
  useTitle("Limits");
  const can = useCan();
  const queryClient = useQueryClient();
  const limits = useQuery({ queryKey: ["limits"], queryFn: endpoints.limits, enabled: can.viewLimits });
  if (!can.viewLimits) return <ErrorPanel error={new Error("A tenant token does not see limits.")} />;
  return (
    <>
      <h1>Limits</h1>
      <p className="muted">On all nodes together. A job held back by a full limit says so on its page.</p>
      {can.editLimits && <SetLimit />}
      {limits.isPending && <Loading />}
      {limits.error && <ErrorPanel error={limits.error} />}
      {limits.data && limits.data.limits.length === 0 && <Empty>No limit is set.</Empty>}
      {limits.data && limits.data.limits.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="limits-table">
            <caption className="visually-hidden">Limits</caption>
            <thead>
              <tr>
                <th scope="col">Scope</th>
                <th scope="col">Name</th>
                <th scope="col">At most running</th>
                <th scope="col">Starts a second</th>
                <th scope="col">Burst</th>
                {can.editLimits && <th scope="col"><span className="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {limits.data.limits.map((limit) => (
                <tr key={`${limit.scope}/${limit.name}`} data-testid="limit-row">
                  <td>{limit.scope}</td>
                  <td>{limit.name === "*" ? "* (every other)" : limit.name}</td>
                  <td>{limit.max_running ?? "–"}</td>
                  <td>{limit.rate_per_second ?? "–"}</td>
                  <td>{limit.burst ?? "–"}</td>
                  {can.editLimits && (
                    <td className="actions-cell">
                      <ConfirmButton
                        label="Delete"
                        ariaLabel={`Delete the limit of ${limit.scope} ${limit.name}`}
                        title={`Delete the limit of ${limit.scope} ${limit.name}?`}
                        message={<p>Its jobs are no longer held back by it.</p>}
                        confirmLabel="Delete limit"
                        danger
                        onConfirm={async () => {
                          await endpoints.deleteLimit(limit.scope, limit.name);
                          await queryClient.invalidateQueries({ queryKey: ["limits"] });
                        }}
                        testId="limit-delete"
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function SetLimit() {
  const queryClient = useQueryClient();
  const [scope, setScope] = useState("tenant");
  const [name, setName] = useState("");
  const [maxRunning, setMaxRunning] = useState("");
  const [rate, setRate] = useState("");
  const [burst, setBurst] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await endpoints.putLimit(scope, name.trim(), {
        max_running: maxRunning ? Number(maxRunning) : undefined,
        rate_per_second: rate ? Number(rate) : undefined,
        burst: burst ? Number(burst) : undefined,
      });
      await queryClient.invalidateQueries({ queryKey: ["limits"] });
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="set-limit-title" data-testid="limit-form">
      <h2 id="set-limit-title">Set a limit</h2>
      <div className="form-grid">
        <div className="field">
          <label htmlFor="limit-scope">Scope</label>
          <select id="limit-scope" value={scope} onChange={(event) => setScope(event.target.value)} data-testid="limit-scope">
            <option value="tenant">tenant</option>
            <option value="plugin">plugin</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="limit-name">Name (* for every other)</label>
          <input id="limit-name" required value={name} onChange={(event) => setName(event.target.value)} data-testid="limit-name" />
        </div>
        <div className="field">
          <label htmlFor="limit-max">At most running</label>
          <input id="limit-max" type="number" min={1} value={maxRunning} onChange={(event) => setMaxRunning(event.target.value)} data-testid="limit-max-running" />
        </div>
        <div className="field">
          <label htmlFor="limit-rate">Starts a second</label>
          <input id="limit-rate" type="number" min={0} step="any" value={rate} onChange={(event) => setRate(event.target.value)} data-testid="limit-rate" />
        </div>
        <div className="field">
          <label htmlFor="limit-burst">Burst</label>
          <input id="limit-burst" type="number" min={1} value={burst} onChange={(event) => setBurst(event.target.value)} data-testid="limit-burst" />
        </div>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="button primary" data-testid="limit-save">
        Set limit
      </button>
    </form>
  );
}
