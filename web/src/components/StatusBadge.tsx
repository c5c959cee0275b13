const CLASSES: Record<string, string> = {
  queued: "badge-neutral",
  running: "badge-info",
  succeeded: "badge-ok",
  failed: "badge-bad",
  cancelled: "badge-warn",
  enabled: "badge-ok",
  disabled: "badge-neutral",
  installing: "badge-info",
  up: "badge-ok",
  gone: "badge-bad",
  stopped: "badge-neutral",
};

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge ${CLASSES[status] ?? "badge-neutral"}`} data-testid="status" data-status={status}>
      {status}
    </span>
  );
}
