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

/// A table for people: a header and rows, each column as wide as its widest cell.
pub struct Table<const N: usize> {
    rows: Vec<[String; N]>,
}

impl<const N: usize> Table<N> {
    pub fn new(header: [&str; N]) -> Table<N> {
        Table {
            rows: vec![header.map(str::to_owned)],
        }
    }

    pub fn row(&mut self, cells: [String; N]) {
        self.rows.push(cells);
    }

    /// Prints the table on stdout, columns two spaces apart, the last one not padded.
    pub fn print(&self) -> anyhow::Result<()> {
        use std::io::Write;
        let mut widths = [0; N];
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut stdout = std::io::stdout().lock();
        for row in &self.rows {
            let mut line = String::new();
            for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
                if index + 1 == N {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  "));
                }
            }
            writeln!(stdout, "{}", line.trim_end()).context("writing to stdout")?;
        }
        Ok(())
    }
}
