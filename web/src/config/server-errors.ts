// A 422's `errors` (`{"pointer", "detail"}`) placed next to their fields: `/values/…` in the
// generated form, `/schedule/…` by the schedule, `/events/N` by the subscriptions, the rest
// above the form.

import type { ErrorSchema } from "@rjsf/utils";
import type { FieldError } from "../api/problem";
import { toErrorSchema } from "./validator";

export interface PlacedErrors {
  values: ErrorSchema;
  schedule: string[];
  events: string[];
  name: string[];
  other: string[];
}

export const NO_ERRORS: PlacedErrors = { values: {}, schedule: [], events: [], name: [], other: [] };

function segments(pointer: string): string[] {
  return pointer
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function placeErrors(errors: FieldError[]): PlacedErrors {
  const placed: PlacedErrors = { values: {}, schedule: [], events: [], name: [], other: [] };
  const valueErrors: { path: string[]; message: string }[] = [];
  for (const error of errors) {
    const [head, ...rest] = segments(error.pointer);
    if (head === "values") valueErrors.push({ path: rest, message: error.detail });
    else if (head === "schedule") placed.schedule.push(rest.length ? `${rest.join(".")}: ${error.detail}` : error.detail);
    else if (head === "events") placed.events.push(rest.length ? `pattern ${Number(rest[0]) + 1}: ${error.detail}` : error.detail);
    else if (head === "name") placed.name.push(error.detail);
    else placed.other.push(`${error.pointer}: ${error.detail}`);
  }
  placed.values = toErrorSchema(valueErrors);
  return placed;
}
