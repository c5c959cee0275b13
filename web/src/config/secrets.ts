// Secret fields: the schema marks them `writeOnly: true` or `format: "password"` (and, as some
// plugins write it, `x-secret: true`). The server seals them and every read shows `********`;
// sending `********` (or leaving the field out) keeps the stored value.

import type { UiSchema } from "@rjsf/utils";
import type { JsonSchema } from "../api/types";

export const MASK = "********";

export function isSecret(schema: unknown): boolean {
  if (!schema || typeof schema !== "object") return false;
  const field = schema as Record<string, unknown>;
  return field.writeOnly === true || field.format === "password" || field["x-secret"] === true;
}

/** A uiSchema that shows every secret field with the secret widget. */
export function secretUiSchema(schema: JsonSchema | undefined): UiSchema {
  const ui: UiSchema = {};
  const properties = schema?.properties;
  if (!properties || typeof properties !== "object") return ui;
  for (const [name, field] of Object.entries(properties as Record<string, JsonSchema>)) {
    if (isSecret(field)) ui[name] = { "ui:widget": "SecretWidget" };
    else if (field && field.type === "object") {
      const nested = secretUiSchema(field);
      if (Object.keys(nested).length > 0) ui[name] = nested;
    }
  }
  return ui;
}
