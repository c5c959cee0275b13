//! `plugin.toml`: a full manifest, the defaults of a minimal one, and an error for each way to
//! get it wrong, each naming the line (when it has one) and the field, and saying what to write.

use std::collections::BTreeMap;

use plugboard_protocol::manifest::{is_valid_plugin_id, Limits, Permissions};
use plugboard_protocol::{Manifest, ManifestError};

const FULL: &str = r#"# The hello-node example, with every field set.
id = "hello-node"
name = "Hello (Node.js)"
version = "0.1.0-beta.1+build.7"
description = "Greets, counts its runs per tenant and offers one tool"
protocol = 1
command = ["node", "main.js", "--quiet"]
instances = 2
concurrency = 8

[env]
NODE_ENV = "production"
GREETING_STYLE = "short"

[permissions]
network = true
read = ["/etc/ssl/certs"]
write = ["/srv/shared/hello"]
env = ["HTTPS_PROXY", "TZ"]

[limits]
memory_mb = 512
open_files = 128
processes = 16
cpu_seconds = 3600
"#;

const MINIMAL: &str = r#"id = "hello-node"
name = "Hello (Node.js)"
version = "0.1.0"
protocol = 1
command = ["node", "main.js"]
"#;

fn parse_error(text: &str) -> ManifestError {
    match Manifest::parse(text) {
        Ok(manifest) => panic!("parsed, expected an error: {manifest:?}\n{text}"),
        Err(error) => error,
    }
}

/// The minimal manifest with `line` put in place of the line that sets `key`, or added at the
/// end when no line does.
fn with_line(key: &str, line: &str) -> String {
    let mut lines: Vec<&str> = MINIMAL.lines().collect();
    match lines
        .iter()
        .position(|l| l.split('=').next().map(str::trim) == Some(key))
    {
        Some(index) => lines[index] = line,
        None => lines.push(line),
    }
    lines.join("\n") + "\n"
}

/// Checks the error names `field` (in the struct and in its text), is on `line`, and that its
/// message says what to write, shown by `hint`.
#[track_caller]
fn assert_error(error: &ManifestError, field: &str, line: Option<usize>, hint: &str) {
    assert_eq!(error.field.as_deref(), Some(field), "field of: {error}");
    assert_eq!(error.line, line, "line of: {error}");
    let shown = error.to_string();
    assert!(shown.contains(&format!("field `{field}`")), "{shown}");
    if let Some(line) = line {
        assert!(shown.starts_with(&format!("line {line}, ")), "{shown}");
    }
    assert!(
        error.message.contains(hint),
        "`{}` does not say what to write ({hint:?})",
        error.message
    );
}

#[test]
fn full_manifest_parses() {
    let manifest = Manifest::parse(FULL).expect("the full manifest is valid");
    let env: BTreeMap<String, String> = [("NODE_ENV", "production"), ("GREETING_STYLE", "short")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(
        manifest,
        Manifest {
            id: "hello-node".to_owned(),
            name: "Hello (Node.js)".to_owned(),
            version: "0.1.0-beta.1+build.7".to_owned(),
            description: "Greets, counts its runs per tenant and offers one tool".to_owned(),
            protocol: 1,
            command: vec!["node".into(), "main.js".into(), "--quiet".into()],
            instances: 2,
            concurrency: 8,
            env,
            permissions: Permissions {
                network: true,
                read: vec!["/etc/ssl/certs".into()],
                write: vec!["/srv/shared/hello".into()],
                env: vec!["HTTPS_PROXY".into(), "TZ".into()],
                unix_sockets: false,
            },
            limits: Limits {
                memory_mb: 512,
                open_files: 128,
                processes: 16,
                cpu_seconds: Some(3600),
            },
        }
    );
}

#[test]
fn minimal_manifest_gets_the_defaults() {
    let manifest = Manifest::parse(MINIMAL).expect("the minimal manifest is valid");
    assert_eq!(manifest.description, "");
    assert_eq!(manifest.instances, 1);
    assert_eq!(manifest.concurrency, 4);
    assert!(manifest.env.is_empty());
    assert_eq!(manifest.permissions, Permissions::default());
    assert!(!manifest.permissions.network);
    assert!(manifest.permissions.read.is_empty() && manifest.permissions.write.is_empty());
    assert!(manifest.permissions.env.is_empty());
    assert_eq!(manifest.limits, Limits::default());
    assert_eq!(manifest.limits.memory_mb, 1024);
    assert_eq!(manifest.limits.open_files, 256);
    assert_eq!(manifest.limits.processes, 512);
    assert_eq!(manifest.limits.cpu_seconds, None);
}

#[test]
fn empty_tables_are_the_defaults() {
    let text = format!("{MINIMAL}[env]\n[permissions]\n[limits]\n");
    assert_eq!(Manifest::parse(&text), Manifest::parse(MINIMAL));
}

#[test]
fn a_wrong_type_names_its_line_and_field() {
    let text = "# comment\nid = \"hello-node\"\nname = \"Hello\"\nversion = \"0.1.0\"\nprotocol = 1\ncommand = [\"node\", \"main.js\"]\ninstances = \"two\"\n";
    assert_eq!(text.lines().nth(6), Some("instances = \"two\""));
    let error = parse_error(text);
    assert_error(&error, "instances", Some(7), "instances = 1");
    assert!(error.message.contains("invalid type"), "{error}");
}

#[test]
fn a_wrong_type_in_a_table_names_the_table() {
    let text = format!("{MINIMAL}\n[limits]\nmemory_mb = \"lots\"\n");
    assert_error(
        &parse_error(&text),
        "limits.memory_mb",
        Some(8),
        "memory_mb = 1024",
    );
    let text = format!("{MINIMAL}[permissions]\nnetwork = \"yes\"\n");
    assert_error(
        &parse_error(&text),
        "permissions.network",
        Some(7),
        "network = true",
    );
}

#[test]
fn a_wrong_type_inside_a_multi_line_array_names_the_array() {
    let text = with_line("command", "command = [\n  \"node\",\n  42,\n]");
    assert_error(&parse_error(&text), "command", Some(7), "command = [");
}

#[test]
fn a_negative_number_names_the_field_not_the_number() {
    let text = with_line("instances", "instances = -1");
    assert_error(&parse_error(&text), "instances", Some(6), "instances = 1");
}

#[test]
fn an_unknown_field_is_named_with_the_fields_there_are() {
    let text = with_line("colour", "colour = \"blue\"");
    assert_error(
        &parse_error(&text),
        "colour",
        Some(6),
        "expected one of `id`",
    );
    let text = format!("{MINIMAL}[permissions]\nnetwrok = true\n");
    assert_error(
        &parse_error(&text),
        "permissions.netwrok",
        Some(7),
        "`network`",
    );
    let text = format!("{MINIMAL}[limits]\nmemory = 10\n");
    assert_error(&parse_error(&text), "limits.memory", Some(7), "`memory_mb`");
}

#[test]
fn a_missing_field_says_what_to_add() {
    let text = MINIMAL.replace("id = \"hello-node\"\n", "");
    assert_error(&parse_error(&text), "id", None, "id = \"hello\"");
    let text = MINIMAL.replace("command = [\"node\", \"main.js\"]\n", "");
    assert_error(
        &parse_error(&text),
        "command",
        None,
        "command = [\"node\", \"main.js\"]",
    );
    let text = MINIMAL.replace("protocol = 1\n", "");
    assert_error(&parse_error(&text), "protocol", None, "protocol = 1");
}

#[test]
fn bad_ids_are_refused() {
    let too_long = "a".repeat(65);
    for id in [
        "hello/world",
        "../etc",
        "a..b",
        "..",
        "Hello",
        "HELLO-NODE",
        "",
        "-hello",
        ".hello",
        "_hello",
        "hello world",
        "héllo",
        too_long.as_str(),
    ] {
        let text = with_line("id", &format!("id = {id:?}"));
        let error = parse_error(&text);
        assert_error(&error, "id", Some(1), "lower-case letters");
        assert!(error.message.contains(&format!("`{id}`")), "{error}");
    }
}

#[test]
fn good_ids_are_accepted() {
    let longest = "a".repeat(64);
    for id in ["a", "1up", "hello-node", "x.y_z", "v2.1", longest.as_str()] {
        assert!(is_valid_plugin_id(id), "{id}");
        Manifest::parse(&with_line("id", &format!("id = {id:?}")))
            .unwrap_or_else(|error| panic!("{id}: {error}"));
    }
}

#[test]
fn a_version_must_be_semver() {
    for version in ["1.0", "v1.0.0", "latest", "", "1.0.0.0", "01.0.0"] {
        let text = with_line("version", &format!("version = {version:?}"));
        let error = parse_error(&text);
        assert_error(&error, "version", Some(3), "write for example 1.2.0");
        assert!(error.message.contains("not a semantic version"), "{error}");
    }
}

#[test]
fn only_protocol_1_is_spoken() {
    for protocol in ["0", "2"] {
        let text = with_line("protocol", &format!("protocol = {protocol}"));
        let error = parse_error(&text);
        assert_error(&error, "protocol", Some(4), "write protocol = 1");
        assert!(
            error.message.contains(&format!("protocol {protocol} ")),
            "{error}"
        );
    }
}

#[test]
fn an_empty_command_is_refused() {
    for command in ["[]", "[\"\"]", "[\"  \", \"main.js\"]"] {
        let text = with_line("command", &format!("command = {command}"));
        assert_error(
            &parse_error(&text),
            "command",
            Some(5),
            "for example [\"python3\", \"main.py\"]",
        );
    }
}

#[test]
fn instances_and_concurrency_must_be_in_range() {
    for instances in ["0", "65"] {
        let text = with_line("instances", &format!("instances = {instances}"));
        assert_error(&parse_error(&text), "instances", Some(6), "use 1 to 64");
    }
    for concurrency in ["0", "1025"] {
        let text = with_line("concurrency", &format!("concurrency = {concurrency}"));
        assert_error(&parse_error(&text), "concurrency", Some(6), "use 1 to 1024");
    }
    Manifest::parse(&with_line("instances", "instances = 64")).expect("64 instances");
    Manifest::parse(&with_line("concurrency", "concurrency = 1024")).expect("1024 at once");
}

#[test]
fn permission_paths_must_be_absolute() {
    let text = format!("{MINIMAL}\n[permissions]\nread = [\"/etc/ssl\", \"certs\"]\n");
    let error = parse_error(&text);
    assert_error(&error, "permissions.read", Some(8), "starts with `/`");
    assert!(
        error.message.contains("`certs` is not an absolute path"),
        "{error}"
    );
    let text = format!("{MINIMAL}[permissions]\nwrite = [\"./out\"]\n");
    assert_error(
        &parse_error(&text),
        "permissions.write",
        Some(7),
        "starts with `/`",
    );
}

#[test]
fn an_empty_name_is_refused() {
    let text = with_line("name", "name = \"   \"");
    assert_error(&parse_error(&text), "name", Some(2), "name = \"Hello\"");
}

#[test]
fn toml_syntax_errors_name_their_line() {
    let text = with_line("version", "version = \"0.1.0");
    let error = parse_error(&text);
    assert_eq!(error.line, Some(3), "{error}");
    assert!(error.to_string().starts_with("line 3"), "{error}");
    let text = format!("{MINIMAL}[limits\n");
    assert_eq!(parse_error(&text).line, Some(6));
}

#[test]
fn a_duplicate_key_is_an_error() {
    let text = format!("{MINIMAL}id = \"other\"\n");
    let error = parse_error(&text);
    assert_eq!(error.line, Some(6), "{error}");
    assert_eq!(error.field.as_deref(), Some("id"), "{error}");
}
