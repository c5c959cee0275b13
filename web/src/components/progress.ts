// A job's `progress` is any JSON. Two shapes are usual: a plugin's run reports
// `{"progress", "total", "message"}`, the host's admin jobs `{"percent", "step"}`.

export interface ProgressView {
  /** 0 to 1, or null when only a step is known. */
  fraction: number | null;
  text: string | null;
}

export function readProgress(progress: unknown): ProgressView | null {
  if (!progress || typeof progress !== "object") return null;
  const value = progress as Record<string, unknown>;
  let fraction: number | null = null;
  if (typeof value.percent === "number") fraction = value.percent / 100;
  else if (typeof value.progress === "number" && typeof value.total === "number" && value.total > 0) {
    fraction = value.progress / value.total;
  } else if (typeof value.progress === "number" && value.progress >= 0 && value.progress <= 1 && value.total == null) {
    fraction = value.progress;
  }
  if (fraction !== null) fraction = Math.min(1, Math.max(0, fraction));
  const text =
    typeof value.message === "string" ? value.message : typeof value.step === "string" ? value.step : null;
  if (fraction === null && text === null) return null;
  return { fraction, text };
}
