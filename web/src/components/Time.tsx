import { localTime, utcTime } from "../format";

/** A time in the user's zone, with UTC on hover. */
export function Time({ value, empty = "–" }: { value: string | null | undefined; empty?: string }) {
  if (!value) return <span className="muted">{empty}</span>;
  return (
    <time dateTime={value} title={utcTime(value)}>
      {localTime(value)}
    </time>
  );
}
