// A config's schedule: none, every N seconds, or cron in a time zone. Keys the editor does not
// show (jitter, start, end, misfire, overlap) are kept as they were.

import type { Schedule } from "../api/types";
import { userTimeZone } from "../format";

export type Mode = "none" | "interval" | "cron";

export function modeOf(schedule: Schedule | null): Mode {
  if (!schedule) return "none";
  if (schedule.cron !== undefined) return "cron";
  return "interval";
}

const ZONES: string[] = (() => {
  try {
    return (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.("timeZone") ?? [];
  } catch {
    return [];
  }
})();

export function ScheduleEditor({ schedule, onChange, errors, readOnly }: { schedule: Schedule | null; onChange: (next: Schedule | null) => void; errors: string[]; readOnly: boolean }) {
  const mode = modeOf(schedule);
  const setMode = (next: Mode) => {
    const { cron: _cron, timezone: _zone, interval_seconds: _interval, ...rest } = schedule ?? {};
    if (next === "none") onChange(null);
    else if (next === "interval") onChange({ ...rest, interval_seconds: schedule?.interval_seconds ?? 300 });
    else onChange({ ...rest, cron: schedule?.cron ?? "0 */5 * * * *", timezone: schedule?.timezone ?? userTimeZone() });
  };
  const describedBy = errors.length > 0 ? "schedule-errors" : undefined;
  return (
    <fieldset className="card schedule" disabled={readOnly} data-testid="schedule-editor">
      <legend>Schedule</legend>
      <div className="segmented" role="radiogroup" aria-label="When it runs">
        {(["none", "interval", "cron"] as Mode[]).map((option) => (
          <label key={option}>
            <input type="radio" name="schedule-mode" checked={mode === option} onChange={() => setMode(option)} data-testid={`schedule-mode-${option}`} />
            {option === "none" ? "Not scheduled" : option === "interval" ? "Every N seconds" : "Cron"}
          </label>
        ))}
      </div>
      {mode === "interval" && schedule && (
        <div className="field">
          <label htmlFor="schedule-interval">Interval (seconds)</label>
          <input
            id="schedule-interval"
            type="number"
            min={1}
            value={schedule.interval_seconds ?? ""}
            aria-describedby={describedBy}
            onChange={(event) => onChange({ ...schedule, interval_seconds: event.target.value === "" ? undefined : Number(event.target.value) })}
            data-testid="schedule-interval"
          />
        </div>
      )}
      {mode === "cron" && schedule && (
        <div className="form-grid">
          <div className="field">
            <label htmlFor="schedule-cron">Cron (5 fields, or 6 with seconds first)</label>
            <input
              id="schedule-cron"
              type="text"
              spellCheck={false}
              value={schedule.cron ?? ""}
              aria-describedby={describedBy}
              onChange={(event) => onChange({ ...schedule, cron: event.target.value })}
              data-testid="schedule-cron"
            />
          </div>
          <div className="field">
            <label htmlFor="schedule-timezone">Time zone</label>
            <input
              id="schedule-timezone"
              type="text"
              list="time-zones"
              value={schedule.timezone ?? ""}
              placeholder="UTC"
              aria-describedby={describedBy}
              onChange={(event) => onChange({ ...schedule, timezone: event.target.value || undefined })}
              data-testid="schedule-timezone"
            />
            <datalist id="time-zones">
              {ZONES.map((zone) => (
                <option key={zone} value={zone} />
              ))}
            </datalist>
          </div>
        </div>
      )}
      {mode !== "none" && schedule && (
        <label className="inline">
          <input type="checkbox" checked={schedule.paused === true} onChange={(event) => onChange({ ...schedule, paused: event.target.checked || undefined })} data-testid="schedule-paused" />
          Paused
        </label>
      )}
      {errors.length > 0 && (
        <div id="schedule-errors" className="field-error" role="alert" data-testid="schedule-errors">
          {errors.map((error) => (
            <div key={error}>{error}</div>
          ))}
        </div>
      )}
    </fieldset>
  );
}
