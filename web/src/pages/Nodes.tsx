// Every plugboard server sharing the store.

import { useQuery } from "@tanstack/react-query";
import { useCan } from "../auth/session";
import { endpoints } from "../api/endpoints";
import { useTitle } from "../components/hooks";
import { Empty, ErrorPanel, Loading } from "../components/states";
import { StatusBadge } from "../components/StatusBadge";
import { Time } from "../components/Time";
import { formatDuration } from "../format";

export default function Nodes() {
  useTitle("Nodes");
  const can = useCan();
  const nodes = useQuery({ queryKey: ["nodes"], queryFn: endpoints.nodes, enabled: can.viewNodes, refetchInterval: 10_000 });
  if (!can.viewNodes) return <ErrorPanel error={new Error("A tenant token does not see nodes.")} />;
  return (
    <>
      <h1>Nodes</h1>
      {nodes.isPending && <Loading />}
      {nodes.error && <ErrorPanel error={nodes.error} />}
      {nodes.data && nodes.data.nodes.length === 0 && <Empty>No node has registered.</Empty>}
      {nodes.data && nodes.data.nodes.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="nodes-table">
            <caption className="visually-hidden">Nodes</caption>
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Status</th>
                <th scope="col">Version</th>
                <th scope="col">Listen</th>
                <th scope="col">Queues</th>
                <th scope="col">Plugins</th>
                <th scope="col">Started</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {nodes.data.nodes.map((node) => (
                <tr key={node.id} data-testid="node-row">
                  <td>
                    {node.hostname} <span className="muted">pid {node.pid}</span>
                    <div className="muted break">{node.id}</div>
                  </td>
                  <td>
                    <StatusBadge status={node.status} />
                  </td>
                  <td>{node.version}</td>
                  <td>{node.listen}</td>
                  <td>{node.queues.map((queue) => `${queue.name} (${queue.concurrency})`).join(", ")}</td>
                  <td>{node.plugins.join(", ") || "–"}</td>
                  <td>
                    <Time value={node.started_at} />
                  </td>
                  <td>
                    {formatDuration(node.seen_ago_ms)} ago
                    {node.stopped_at && (
                      <div className="muted">
                        stopped <Time value={node.stopped_at} />
                      </div>
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
