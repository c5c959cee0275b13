import { pretty } from "../format";

export function JsonView({ value, label, testId }: { value: unknown; label: string; testId?: string }) {
  return (
    <pre className="json" aria-label={label} tabIndex={0} data-testid={testId}>
      {pretty(value)}
    </pre>
  );
}
