//! Checking config values against a plugin's JSON Schema (drafts 2020-12 and 7, and the
//! others the `jsonschema` crate knows, chosen by the schema's `$schema`; 2020-12 without one).

use serde_json::Value;

/// `format` is checked too (`uri`, `email`, `date-time`, …), not only noted as 2020-12 allows:
/// a config is where a malformed URL should be caught.
///
/// Every way `values` fails `schema`, each as `<JSON pointer>: <what is wrong>` (`/` is the
/// root). `Err` when the schema itself is not a valid JSON Schema.
pub fn check(schema: &Value, values: &Value) -> Result<Vec<String>, String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|error| error.to_string())?;
    let mut problems: Vec<String> = validator
        .iter_errors(values)
        .map(|error| {
            let path = error.instance_path().as_str();
            let path = if path.is_empty() { "/" } else { path };
            format!("{path}: {error}")
        })
        .collect();
    problems.sort();
    problems.dedup();
    Ok(problems)
}

/// The plugin's config schema from its cached metadata (`configSchema`); `None` when it
/// declares none.
pub fn from_metadata(metadata: &Value) -> Option<&Value> {
    metadata
        .get("configSchema")
        .filter(|schema| !schema.is_null())
}
