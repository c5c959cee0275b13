//! The manifest, `plugin.toml` at the root of a package: who the plugin is, how to start it,
//! and what it may do. Parsing never touches the disk: the caller reads the file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PROTOCOL_VERSION;

/// A parsed and checked manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// 1 to 64 of `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter or digit.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Semantic version, `1.2.0`.
    pub version: String,
    /// One sentence for the plugin list.
    #[serde(default)]
    pub description: String,
    /// The protocol version the plugin speaks (1).
    pub protocol: u32,
    /// The program and its arguments, relative to the package folder or on `PATH`; no shell.
    pub command: Vec<String>,
    /// Processes to keep running. Default 1.
    #[serde(default = "one")]
    pub instances: u32,
    /// Requests each process handles at once. Default 4.
    #[serde(default = "four")]
    pub concurrency: u32,
    /// Environment variables set for the plugin (nothing else of the host's environment leaks
    /// in, except what `permissions.env` names).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// What the plugin may do beyond its own folders.
    #[serde(default)]
    pub permissions: Permissions,
    /// Resource limits per process.
    #[serde(default)]
    pub limits: Limits,
}

/// What a plugin may reach beyond its package (read) and data directory (read and write).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Open network connections.
    #[serde(default)]
    pub network: bool,
    /// Extra paths it may read (absolute).
    #[serde(default)]
    pub read: Vec<String>,
    /// Extra paths it may write (absolute).
    #[serde(default)]
    pub write: Vec<String>,
    /// Host environment variables passed through (for example `HTTPS_PROXY`). plugboard's own
    /// (`PLUGBOARD_*`) never are.
    #[serde(default)]
    pub env: Vec<String>,
    /// Open Unix sockets (`AF_UNIX`): connect to local services such as a database's socket, as
    /// the plugin's own user. Without it `socket(AF_UNIX, …)` is refused.
    #[serde(default)]
    pub unix_sockets: bool,
}

/// Resource limits of each plugin process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Address space, in MiB. Default 1024.
    #[serde(default = "memory_default")]
    pub memory_mb: u64,
    /// Open files. Default 256.
    #[serde(default = "open_files_default")]
    pub open_files: u64,
    /// Processes and threads of the user the plugin runs as (the kernel counts all of that
    /// user's processes, not only the plugin's). Default 512.
    #[serde(default = "processes_default")]
    pub processes: u64,
    /// CPU seconds over the process's life; absent: no limit (a warm process lives long).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<u64>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_mb: memory_default(),
            open_files: open_files_default(),
            processes: processes_default(),
            cpu_seconds: None,
        }
    }
}

fn one() -> u32 {
    1
}
fn four() -> u32 {
    4
}
fn memory_default() -> u64 {
    1024
}
fn open_files_default() -> u64 {
    256
}
fn processes_default() -> u64 {
    512
}

/// What is wrong with a manifest: the field and, when known, the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// 1-based line in `plugin.toml`, when the problem has a place.
    pub line: Option<usize>,
    /// The field, when the problem is one field's.
    pub field: Option<String>,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, &self.field) {
            (Some(line), Some(field)) => {
                write!(f, "line {line}, field `{field}`: {}", self.message)
            }
            (Some(line), None) => write!(f, "line {line}: {}", self.message),
            (None, Some(field)) => write!(f, "field `{field}`: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// True for ids that are safe as one path segment and in URLs.
pub fn is_valid_plugin_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.len() <= 64
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && !id.contains("..")
}

impl Manifest {
    /// Parses and checks the text of a `plugin.toml`.
    ///
    /// # Errors
    /// TOML syntax, unknown or mistyped fields (with their line), and values out of range: an id
    /// with `/` or `..`, a version that is not semver, a protocol this crate does not speak, an
    /// empty command, zero instances or concurrency, relative permission paths.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|error| {
            let message = error.message().to_owned();
            // A missing field's span is the whole table, not a line worth naming.
            if let Some(field) = quoted_after(&message, "missing field `") {
                return ManifestError {
                    line: None,
                    message: format!("{message}; add it, for example {}", example(&field)),
                    field: Some(field),
                };
            }
            let line = error.span().map(|span| line_of(text, span.start));
            // Type, unknown-field and duplicate-key errors are about the key on their line;
            // other TOML syntax errors name no field.
            let about_a_field = ["invalid ", "unknown field", "duplicate key"]
                .iter()
                .any(|start| message.starts_with(start));
            let field = line
                .filter(|_| about_a_field)
                .and_then(|line| field_at(text, line));
            let message = match &field {
                Some(field) if message.starts_with("invalid ") => {
                    format!("{message}; write for example {}", example(field))
                }
                _ => message,
            };
            ManifestError {
                line,
                field,
                message,
            }
        })?;
        let problem = |field: &str, message: String| ManifestError {
            line: line_of_key(text, field.rsplit('.').next().unwrap_or(field)),
            field: Some(field.to_owned()),
            message,
        };
        if !is_valid_plugin_id(&manifest.id) {
            return Err(problem(
                "id",
                format!(
                    "`{}` is not a valid plugin id; use 1 to 64 lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit, without `/` or `..`",
                    manifest.id
                ),
            ));
        }
        if manifest.name.trim().is_empty() {
            return Err(problem(
                "name",
                format!("the name is empty; write for example {}", example("name")),
            ));
        }
        if let Err(error) = semver::Version::parse(&manifest.version) {
            return Err(problem(
                "version",
                format!(
                    "`{}` is not a semantic version ({error}); write for example 1.2.0",
                    manifest.version
                ),
            ));
        }
        if manifest.protocol != PROTOCOL_VERSION {
            return Err(problem(
                "protocol",
                format!(
                    "protocol {} is not spoken by this plugboard, which speaks protocol {PROTOCOL_VERSION}; write protocol = {PROTOCOL_VERSION}",
                    manifest.protocol
                ),
            ));
        }
        if manifest
            .command
            .first()
            .is_none_or(|program| program.trim().is_empty())
        {
            return Err(problem(
                "command",
                "the command is empty; give the program and its arguments, for example [\"python3\", \"main.py\"]".to_owned(),
            ));
        }
        if !(1..=64).contains(&manifest.instances) {
            return Err(problem(
                "instances",
                format!("{} is out of range; use 1 to 64", manifest.instances),
            ));
        }
        if !(1..=1024).contains(&manifest.concurrency) {
            return Err(problem(
                "concurrency",
                format!("{} is out of range; use 1 to 1024", manifest.concurrency),
            ));
        }
        for (field, paths) in [
            ("permissions.read", &manifest.permissions.read),
            ("permissions.write", &manifest.permissions.write),
        ] {
            if let Some(path) = paths.iter().find(|path| !path.starts_with('/')) {
                return Err(problem(
                    field,
                    format!(
                        "`{path}` is not an absolute path; write one that starts with `/`, for example {}",
                        example(field)
                    ),
                ));
            }
        }
        Ok(manifest)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    // Bytes, not `str` slicing: an offset inside a multi-byte character must not panic.
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|byte| **byte == b'\n').count() + 1
}

/// The line where `key = ` is written, for errors found after parsing.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|index| index + 1)
}

/// The text between `prefix` and the next backquote in a TOML error message
/// (`missing field \`x\``).
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// The field whose key or value is on `line` (1-based): the key written there, or on the nearest
/// line above with one (a value inside a multi-line array), after its `[table]`, if any.
fn field_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().take(line).collect();
    let index = lines
        .iter()
        .rposition(|line| key_of(line).is_some() || line.trim_start().starts_with('['))?;
    let key = key_of(lines[index])?;
    let table = lines[..index].iter().rev().find_map(|line| {
        let header = line.trim().strip_prefix('[')?.trim_start_matches('[');
        let header = header.split(']').next()?.trim();
        Some(header.to_owned())
    });
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key,
    })
}

/// The key of a `key = value` line.
fn key_of(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    (!key.is_empty() && key.chars().all(plain)).then(|| key.to_owned())
}

/// What a line setting `field` looks like, for error messages.
fn example(field: &str) -> String {
    let value = match field {
        "id" => "\"hello\"",
        "name" => "\"Hello\"",
        "version" => "\"1.0.0\"",
        "description" => "\"Says hello\"",
        "protocol" => "1",
        "command" => "[\"node\", \"main.js\"]",
        "instances" => "1",
        "concurrency" => "4",
        "env" | "permissions" | "limits" => return format!("a [{field}] table"),
        "permissions.network" => "true",
        "permissions.read" | "permissions.write" => "[\"/srv/shared\"]",
        "permissions.env" => "[\"HTTPS_PROXY\"]",
        "limits.memory_mb" => "1024",
        "limits.open_files" => "256",
        "limits.processes" => "512",
        "limits.cpu_seconds" => "3600",
        _ if field.starts_with("env.") => "\"a string\"",
        _ => return "the documented type (see docs/protocol.md)".to_owned(),
    };
    let key = field.rsplit('.').next().unwrap_or(field);
    format!("`{key} = {value}`")
}
