//! What the remote commands print: JSON as the API answered it (`--json`), and cells of human
//! tables.

use anyhow::Context;
use serde_json::Value;

/// Prints the API's JSON as it is, pretty, for scripts.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("printing the server's JSON")?
    );
    Ok(())
}

/// A JSON value for a table cell: strings without quotes, `null` as nothing.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A JSON value for a table cell, `-` for nothing.
pub fn or_dash(value: &Value) -> String {
    match text(value) {
        empty if empty.is_empty() => "-".to_owned(),
        text => text,
    }
}

/// Percent-encodes a path segment or a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `?a=1&b=2` from the parameters that have a value; empty when none has.
pub fn query(parameters: &[(&str, Option<String>)]) -> String {
    let pairs: Vec<String> = parameters
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_ref()
                .map(|value| format!("{name}={}", encode(value)))
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}
