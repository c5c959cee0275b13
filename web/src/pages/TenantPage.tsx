// One tenant and its configs.

import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import { useCan } from "../auth/session";
import { useTitle } from "../components/hooks";
import { Empty, ErrorPanel, Loading } from "../components/states";
import { Time } from "../components/Time";

export default function TenantPage() {
  const tenant = useParams().tenant ?? "";
  useTitle(`Tenant ${tenant}`);
  const can = useCan();
  const navigate = useNavigate();
  const info = useQuery({ queryKey: ["tenant", tenant], queryFn: () => endpoints.tenant(tenant) });
  const configs = useQuery({ queryKey: ["configs", tenant], queryFn: () => endpoints.configs(tenant) });
  const plugins = useQuery({ queryKey: ["plugins"], queryFn: endpoints.plugins, enabled: can.write });
  const [plugin, setPlugin] = useState("");
  if (info.error) return <ErrorPanel error={info.error} title={`Tenant ${tenant}`} />;
  return (
    <>
      <h1>
        Tenant {tenant} {info.data && info.data.name !== tenant && <span className="muted">{info.data.name}</span>}
      </h1>
      <p>
        <Link to={`/jobs?tenant=${encodeURIComponent(tenant)}`}>Its jobs</Link> ·{" "}
        <Link to={`/events?tenant=${encodeURIComponent(tenant)}`}>Its events</Link>
      </p>
      <h2>Configs</h2>
      {can.write && (
        <form
          className="card inline-form"
          aria-label="Add a config"
          onSubmit={(event) => {
            event.preventDefault();
            if (plugin) navigate(`/tenants/${encodeURIComponent(tenant)}/configs/new?plugin=${encodeURIComponent(plugin)}`);
          }}
        >
          <div className="field">
            <label htmlFor="new-config-plugin">Plugin</label>
            <select id="new-config-plugin" value={plugin} onChange={(event) => setPlugin(event.target.value)} required data-testid="new-config-plugin">
              <option value="">choose…</option>
              {(plugins.data?.plugins ?? []).map((entry) => (
                <option key={entry.id} value={entry.id}>
                  {entry.id}
                </option>
              ))}
            </select>
          </div>
          <button type="submit" className="button primary" data-testid="new-config">
            Add a config
          </button>
        </form>
      )}
      {configs.isPending && <Loading />}
      {configs.error && <ErrorPanel error={configs.error} />}
      {configs.data && configs.data.configs.length === 0 && <Empty>This tenant has no config.</Empty>}
      {configs.data && configs.data.configs.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="configs-table">
            <caption className="visually-hidden">Configs of {tenant}</caption>
            <thead>
              <tr>
                <th scope="col">Plugin</th>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Schedule</th>
                <th scope="col">Events</th>
                <th scope="col">Next fire</th>
              </tr>
            </thead>
            <tbody>
              {configs.data.configs.map((config) => (
                <tr key={config.id} data-testid="config-row" data-config={config.id}>
                  <td>{config.plugin}</td>
                  <td>
                    <Link to={`/configs/${encodeURIComponent(config.id)}`} data-testid="config-link">
                      {config.name}
                    </Link>
                  </td>
                  <td>
                    {config.invalid_reason ? (
                      <span className="badge badge-bad" title={config.invalid_reason}>invalid</span>
                    ) : config.enabled ? (
                      <span className="badge badge-ok">enabled</span>
                    ) : (
                      <span className="badge badge-neutral">disabled</span>
                    )}
                  </td>
                  <td>{describeSchedule(config.schedule)}</td>
                  <td>{config.events.length > 0 ? config.events.join(", ") : <span className="muted">–</span>}</td>
                  <td>
                    <Time value={config.next_fire_at} />
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

export function describeSchedule(schedule: { cron?: string; timezone?: string; interval_seconds?: number; paused?: boolean } | null): string {
  if (!schedule) return "–";
  const base = schedule.cron
    ? `cron ${schedule.cron} (${schedule.timezone ?? "UTC"})`
    : schedule.interval_seconds
      ? `every ${schedule.interval_seconds} s`
      : JSON.stringify(schedule);
  return schedule.paused ? `${base}, paused` : base;
}
