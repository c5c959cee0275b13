// rjsf's validator on @cfworker/json-schema, an interpreter: Ajv (behind
// @rjsf/validator-ajv8) compiles schemas with `new Function`, which the console's
// Content-Security-Policy (`script-src 'self'`, no 'unsafe-eval') forbids. The server checks
// values against the schema on every save and its errors are what the form shows; this
// validator serves rjsf's own needs (choosing oneOf/anyOf branches, if/then/else) and a check
// before sending.

import { Validator, type OutputUnit, type Schema } from "@cfworker/json-schema";
import type { ErrorSchema, RJSFSchema, RJSFValidationError, ValidationData, ValidatorType } from "@rjsf/utils";

const AGGREGATE = new Set(["properties", "items", "prefixItems", "additionalItems", "allOf", "anyOf", "oneOf", "$ref", "$dynamicRef", "if", "then", "else", "dependentSchemas", "unevaluatedProperties", "unevaluatedItems", "contains", "patternProperties", "additionalProperties", "not"]);
const cache = new Map<string, Validator>();

function draftOf(schema: RJSFSchema): "4" | "7" | "2019-09" | "2020-12" {
  const declared = typeof schema.$schema === "string" ? schema.$schema : "";
  if (declared.includes("draft-04")) return "4";
  if (declared.includes("draft-07") || declared.includes("draft-06")) return "7";
  if (declared.includes("2019-09")) return "2019-09";
  return "2020-12";
}

function validatorFor(schema: RJSFSchema, rootSchema?: RJSFSchema): Validator {
  // A subschema's `#/…` references point into the root: carry its definitions along.
  const whole: RJSFSchema = rootSchema && rootSchema !== schema ? { ...schema, $defs: rootSchema.$defs, definitions: rootSchema.definitions } : schema;
  const key = JSON.stringify(whole);
  let validator = cache.get(key);
  if (!validator) {
    if (cache.size > 200) cache.clear();
    validator = new Validator(whole as Schema, draftOf(rootSchema ?? schema), false);
    cache.set(key, validator);
  }
  return validator;
}

function pathOf(instanceLocation: string): string[] {
  return instanceLocation
    .replace(/^#/, "")
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function toErrorSchema(errors: { path: string[]; message: string }[]): ErrorSchema {
  const root: ErrorSchema = {};
  for (const error of errors) {
    let node = root as Record<string, unknown>;
    for (const part of error.path) {
      node[part] = (node[part] as Record<string, unknown> | undefined) ?? {};
      node = node[part] as Record<string, unknown>;
    }
    const list = (node.__errors as string[] | undefined) ?? [];
    if (!list.includes(error.message)) list.push(error.message);
    node.__errors = list;
  }
  return root;
}

function leafErrors(units: OutputUnit[]): OutputUnit[] {
  const leaves = units.filter((unit) => !AGGREGATE.has(unit.keyword));
  return leaves.length > 0 ? leaves : units;
}

export const validator: ValidatorType = {
  validateFormData(formData, schema): ValidationData<unknown> {
    let units: OutputUnit[];
    try {
      units = leafErrors(validatorFor(schema).validate(formData ?? {}).errors);
    } catch (error) {
      return { errors: [{ stack: `the schema cannot be used: ${(error as Error).message}` }], errorSchema: {} };
    }
    const errors: RJSFValidationError[] = units.map((unit) => {
      const path = pathOf(unit.instanceLocation);
      return { name: unit.keyword, message: unit.error, property: path.length ? `.${path.join(".")}` : ".", schemaPath: unit.keywordLocation, stack: unit.error };
    });
    return { errors, errorSchema: toErrorSchema(units.map((unit) => ({ path: pathOf(unit.instanceLocation), message: unit.error }))) };
  },
  isValid(schema, formData, rootSchema) {
    try {
      return validatorFor(schema, rootSchema).validate(formData ?? null).valid;
    } catch {
      return false;
    }
  },
  rawValidation(schema, formData) {
    try {
      return { errors: validatorFor(schema).validate(formData ?? null).errors as never[] };
    } catch (error) {
      return { validationError: error as Error };
    }
  },
  reset() {
    cache.clear();
  },
};
