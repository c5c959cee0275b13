import { readProgress } from "./progress";

export function JobProgress({ progress, finished }: { progress: unknown; finished: boolean }) {
  const view = readProgress(progress);
  if (!view) return null;
  const percent = view.fraction === null ? null : Math.round(view.fraction * 100);
  return (
    <div className="progress" data-testid="job-progress">
      <progress
        max={100}
        value={percent ?? (finished ? 100 : undefined)}
        aria-label={view.text ? `Progress: ${view.text}` : "Progress"}
      />
      <span className="progress-text">
        {percent !== null && `${percent}%`}
        {percent !== null && view.text && " · "}
        {view.text}
      </span>
    </div>
  );
}
