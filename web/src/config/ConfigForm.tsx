// The form of a config's values, generated from the plugin's JSON Schema by rjsf. Loaded on
// demand: rjsf is the heaviest part of the console.

import Form, { getDefaultRegistry } from "@rjsf/core";
import {
  errorId,
  type BaseInputTemplateProps,
  type ErrorSchema,
  type FieldErrorProps,
  type RJSFSchema,
  type WidgetProps,
} from "@rjsf/utils";
import { useMemo, useState } from "react";
import type { JsonSchema } from "../api/types";
import { MASK, secretUiSchema } from "./secrets";
import { validator } from "./validator";

export interface ConfigFormProps {
  schema: JsonSchema;
  values: unknown;
  onChange: (values: unknown) => void;
  errors: ErrorSchema;
  readOnly: boolean;
}

export default function ConfigForm({ schema, values, onChange, errors, readOnly }: ConfigFormProps) {
  const uiSchema = useMemo(
    () => ({ ...secretUiSchema(schema), "ui:submitButtonOptions": { norender: true } }),
    [schema],
  );
  return (
    <div className="rjsf-wrap" data-testid="config-form">
      <Form
        schema={schema as RJSFSchema}
        uiSchema={uiSchema}
        formData={values}
        validator={validator}
        onChange={(event) => onChange(event.formData)}
        extraErrors={errors}
        noValidate
        noHtml5Validate
        showErrorList={false}
        readonly={readOnly}
        idPrefix="values"
        widgets={{ SecretWidget }}
        templates={{ FieldErrorTemplate, BaseInputTemplate }}
        tagName="div"
      />
    </div>
  );
}

/** A secret: blank with "stored" shown while the stored value is kept; typing replaces it. */
function SecretWidget(props: WidgetProps) {
  const { id, value, onChange, disabled, readonly, required, onBlur, onFocus, rawErrors } = props;
  const [storedAtStart] = useState(value === MASK);
  const stored = value === MASK;
  return (
    <div className="secret">
      <input
        id={id}
        name={id}
        type="password"
        className="form-control"
        autoComplete="new-password"
        value={stored ? "" : ((value as string | undefined) ?? "")}
        placeholder={stored ? "stored: leave empty to keep it" : ""}
        disabled={disabled || readonly}
        required={required && !stored}
        aria-invalid={rawErrors && rawErrors.length > 0 ? true : undefined}
        aria-describedby={errorId(id)}
        onChange={(event) => onChange(event.target.value === "" ? (storedAtStart ? MASK : undefined) : event.target.value)}
        onBlur={(event) => onBlur(id, event.target.value)}
        onFocus={(event) => onFocus(id, event.target.value)}
        data-testid={`secret-${id}`}
      />
      {stored && <span className="muted"> kept unless you type a new one</span>}
    </div>
  );
}

const CoreBaseInputTemplate = getDefaultRegistry().templates.BaseInputTemplate;

/** rjsf's own input, marked `aria-invalid` while its field has an error (the server's too). */
function BaseInputTemplate(props: BaseInputTemplateProps) {
  const invalid = props.rawErrors !== undefined && props.rawErrors.length > 0;
  return <CoreBaseInputTemplate {...props} {...(invalid ? { "aria-invalid": true } : {})} />;
}

function FieldErrorTemplate({ errors, fieldPathId }: FieldErrorProps) {
  const id = errorId(fieldPathId);
  if (!errors || errors.length === 0) return <span id={id} hidden />;
  return (
    <div id={id} className="field-error" role="alert" data-testid={`field-error-${fieldPathId.$id}`}>
      {errors.map((error, index) => (
        <div key={index}>{error}</div>
      ))}
    </div>
  );
}
