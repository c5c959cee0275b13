//! `plugboard plugin new NAME --lang rust|python|node`: writes a plugin that installs and runs
//! as written: its manifest, its code (a run that greets the config's `greeting`, a config
//! schema with a default, a `config/validate` that refuses a blank greeting), and a test that
//! starts it and speaks the protocol with it.
//!
//! Python and Node plugins get their SDK inside their folder (`plugboard/`, and
//! `plugboard-sdk/` with the compiled TypeScript SDK), embedded in this binary, so nothing is
//! fetched and `plugin install DIR` takes the folder as it is. A Rust plugin depends on the
//! Rust SDK by path: the `crates/plugboard-sdk` of the checkout this binary was built from, or
//! `--sdk-path`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use include_dir::{include_dir, Dir};

use super::plugin::{NewArgs, PluginLanguage};

/// The Python SDK, as `sdk/python/plugboard` holds it.
static PYTHON_SDK: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../sdk/python/plugboard");
/// The TypeScript SDK compiled (`sdk/typescript/dist`, committed).
static NODE_SDK: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../sdk/typescript/dist");

pub fn run(args: NewArgs) -> anyhow::Result<i32> {
    if !plugboard_protocol::manifest::is_valid_plugin_id(&args.name) {
        bail!(
            "`{}` cannot be a plugin id: use 1 to 64 of a-z, 0-9, `-`, `_` and `.`, starting with a letter or digit",
            args.name
        );
    }
    let parent = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let folder = parent.join(&args.name);
    if folder.exists() {
        bail!(
            "{} exists already; choose another name or remove it",
            folder.display()
        );
    }
    let files = match args.lang {
        PluginLanguage::Python => python(&args.name),
        PluginLanguage::Node => node(&args.name),
        PluginLanguage::Rust => rust(&args.name, args.sdk_path.as_deref())?,
    };
    for (path, contents) in &files {
        write(&folder.join(path), contents)?;
    }
    match args.lang {
        PluginLanguage::Python => write_sdk(&PYTHON_SDK, &folder.join("plugboard"))?,
        PluginLanguage::Node => write_sdk(&NODE_SDK, &folder.join("plugboard-sdk"))?,
        PluginLanguage::Rust => {}
    }
    let shown = folder.display();
    println!("{shown}");
    let (test, run) = match args.lang {
        PluginLanguage::Python => ("python3 -m unittest discover -s TESTS", "install"),
        PluginLanguage::Node => ("node --test TESTS/main.test.js", "install"),
        PluginLanguage::Rust => ("cargo test --manifest-path TESTS/Cargo.toml", "pack"),
    };
    eprintln!(
        "wrote a {} plugin `{}` in {shown}\n  test it:     {}\n  check it:    plugboard plugin check {shown}{}\n  install it:  plugboard plugin {run} {shown}",
        match args.lang {
            PluginLanguage::Python => "Python",
            PluginLanguage::Node => "Node.js",
            PluginLanguage::Rust => "Rust",
        },
        args.name,
        test.replace("TESTS", &shown.to_string()),
        if matches!(args.lang, PluginLanguage::Rust) {
            " (after `plugboard plugin pack`, on the archive)"
        } else {
            ""
        },
    );
    Ok(0)
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

/// Writes an embedded SDK's files (not Python's byte code) under `to`.
fn write_sdk(sdk: &Dir<'static>, to: &Path) -> anyhow::Result<()> {
    for file in sdk.files() {
        let path = file.path();
        if path
            .components()
            .any(|part| part.as_os_str() == "__pycache__")
        {
            continue;
        }
        let target = to.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, file.contents())
            .with_context(|| format!("writing {}", target.display()))?;
    }
    for folder in sdk.dirs() {
        write_sdk(folder, to)?;
    }
    Ok(())
}

/// A Rust identifier of a plugin id: `my-plugin` is `my_plugin`.
fn crate_name(id: &str) -> String {
    id.replace(['-', '.'], "_")
}

fn manifest(id: &str, command: &str) -> String {
    format!(
        r#"# The plugin's manifest: docs/protocol.md, "The manifest".
id = "{id}"
name = "{id}"
version = "0.1.0"
description = "Greets the tenant with the greeting of its config"
protocol = 1
command = {command}
instances = 1
concurrency = 4
"#
    )
}

const CONFIG_SCHEMA_JSON: &str = r#"{"type": "object", "properties": {"greeting": {"type": "string", "default": "Hello", "maxLength": 100}}, "additionalProperties": false}"#;

fn python(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("plugin.toml", manifest(id, r#"["python3", "main.py"]"#)),
        (
            "main.py",
            format!(
                r#""""{id}: a run greets the tenant with its config's greeting."""

import plugboard


class Plugin(plugboard.Plugin):
    id = "{id}"  # must equal plugin.toml's id
    name = "{id}"
    version = "0.1.0"  # must equal plugin.toml's version

    def metadata(self):
        return {{"configSchema": {schema}}}

    def validate_config(self, ctx, values):
        # Beyond what the schema says: a greeting that is not only spaces.
        if not str(values.get("greeting", "Hello")).strip():
            return [plugboard.ConfigProblem("/greeting", "write a greeting, not only spaces")]
        return []

    def run(self, ctx, params):
        values = params.config.values if params.config else {{}}
        greeting = values.get("greeting", "Hello")
        message = f"{{greeting}}, {{ctx.tenant or 'world'}}!"
        ctx.info(message)  # a line of the job's log
        return {{"message": message}}  # the job's result


if __name__ == "__main__":
    Plugin().serve()
"#,
                schema = CONFIG_SCHEMA_JSON.replace("false", "False"),
            ),
        ),
        (
            "test_main.py",
            format!(
                r#""""Starts the plugin as the host does and speaks the protocol with it:
python3 -m unittest discover -s THIS_FOLDER"""

import json
import os
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class PluginTest(unittest.TestCase):
    def test_it_greets_with_the_configs_greeting(self):
        requests = [
            {{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {{"protocolVersion": 1, "host": {{"name": "test", "version": "0"}}, "dataDir": HERE}}}},
            {{"jsonrpc": "2.0", "id": 2, "method": "run", "params": {{"job": {{"id": 1, "attempt": 1, "maxAttempts": 1}}, "trigger": {{"kind": "manual"}}, "tenant": "acme", "config": {{"id": "c", "name": "default", "values": {{"greeting": "Hi"}}}}, "payload": {{}}}}}},
            {{"jsonrpc": "2.0", "id": 3, "method": "shutdown", "params": {{}}}},
        ]
        done = subprocess.run(
            ["python3", "main.py"],
            cwd=HERE,
            input="".join(json.dumps(request) + "\n" for request in requests),
            capture_output=True,
            text=True,
            timeout=30,
            env={{"PATH": os.environ.get("PATH", "/usr/bin:/bin")}},
        )
        answers = {{}}
        for line in done.stdout.splitlines():
            message = json.loads(line)
            if "id" in message and "method" not in message:
                answers[message["id"]] = message
        self.assertEqual(answers[1]["result"]["plugin"]["id"], "{id}")
        self.assertEqual(answers[2]["result"], {{"result": {{"message": "Hi, acme!"}}}})
        self.assertEqual(done.returncode, 0, done.stderr)


if __name__ == "__main__":
    unittest.main()
"#
            ),
        ),
    ]
}

fn node(id: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "plugin.toml",
            format!(
                "{}\n[limits]\n# Node.js needs more address space than the default 1024 MiB? Raise it here.\nmemory_mb = 1024\n",
                manifest(id, r#"["node", "main.js"]"#)
            ),
        ),
        (
            "package.json",
            format!(
                "{{\n  \"name\": \"{id}\",\n  \"private\": true,\n  \"type\": \"module\"\n}}\n"
            ),
        ),
        (
            "main.js",
            format!(
                r#"// {id}: a run greets the tenant with its config's greeting.
// The TypeScript SDK is in ./plugboard-sdk (its types too): the package holds what it needs.
import {{ definePlugin }} from './plugboard-sdk/index.js';

definePlugin({{
  id: '{id}', // must equal plugin.toml's id
  name: '{id}',
  version: '0.1.0', // must equal plugin.toml's version
  configSchema: {CONFIG_SCHEMA_JSON},

  // Beyond what the schema says: a greeting that is not only spaces.
  validateConfig(values) {{
    const greeting = values?.greeting ?? 'Hello';
    return greeting.trim() ? [] : [{{ path: '/greeting', message: 'write a greeting, not only spaces' }}];
  }},

  run(ctx) {{
    const greeting = ctx.config?.values?.greeting ?? 'Hello';
    const message = `${{greeting}}, ${{ctx.tenant ?? 'world'}}!`;
    ctx.info(message); // a line of the job's log
    return {{ message }}; // the job's result
  }},
}}).serve();
"#
            ),
        ),
        (
            "main.test.js",
            format!(
                r#"// Starts the plugin as the host does and speaks the protocol with it: node --test THIS_FOLDER
import {{ test }} from 'node:test';
import assert from 'node:assert/strict';
import {{ spawnSync }} from 'node:child_process';
import {{ dirname }} from 'node:path';
import {{ fileURLToPath }} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

test('it greets with the config\'s greeting', () => {{
  const requests = [
    {{ jsonrpc: '2.0', id: 1, method: 'initialize', params: {{ protocolVersion: 1, host: {{ name: 'test', version: '0' }}, dataDir: here }} }},
    {{ jsonrpc: '2.0', id: 2, method: 'run', params: {{ job: {{ id: 1, attempt: 1, maxAttempts: 1 }}, trigger: {{ kind: 'manual' }}, tenant: 'acme', config: {{ id: 'c', name: 'default', values: {{ greeting: 'Hi' }} }}, payload: {{}} }} }},
    {{ jsonrpc: '2.0', id: 3, method: 'shutdown', params: {{}} }},
  ];
  const done = spawnSync('node', ['main.js'], {{
    cwd: here,
    input: requests.map((request) => JSON.stringify(request) + '\n').join(''),
    encoding: 'utf8',
    timeout: 30_000,
  }});
  const answers = new Map();
  for (const line of done.stdout.split('\n').filter(Boolean)) {{
    const message = JSON.parse(line);
    if ('id' in message && !('method' in message)) answers.set(message.id, message);
  }}
  assert.equal(answers.get(1).result.plugin.id, '{id}');
  assert.deepEqual(answers.get(2).result, {{ result: {{ message: 'Hi, acme!' }} }});
  assert.equal(done.status, 0, done.stderr);
}});
"#
            ),
        ),
    ]
}

/// Where the Rust SDK's sources are: `--sdk-path`, or the checkout this binary was built from.
fn rust_sdk(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugboard-sdk");
    let path = given.map_or(built_from, Path::to_path_buf);
    if !path.join("Cargo.toml").is_file() {
        bail!(
            "the Rust SDK is not at {}: the plugin depends on it by path; pass --sdk-path with a plugboard checkout's crates/plugboard-sdk",
            path.display()
        );
    }
    std::path::absolute(&path).context("resolving the Rust SDK's path")
}

fn rust(id: &str, sdk: Option<&Path>) -> anyhow::Result<Vec<(&'static str, String)>> {
    let sdk = rust_sdk(sdk)?;
    let krate = crate_name(id);
    Ok(vec![
        ("plugin.toml", manifest(id, &format!(r#"["./{id}"]"#))),
        (
            "Cargo.toml",
            format!(
                r#"[package]
name = "{krate}"
version = "0.1.0"
edition = "2021"
publish = false

[[bin]]
name = "{id}"
path = "src/main.rs"

[dependencies]
plugboard-sdk = {{ path = {sdk:?} }}
serde_json = "1"

# A workspace of its own, wherever the folder lies.
[workspace]
"#,
                sdk = sdk.display().to_string()
            ),
        ),
        (
            "src/main.rs",
            format!(
                r##"//! {id}: a run greets the tenant with its config's greeting.

use std::process::ExitCode;

use plugboard_sdk::{{
    ConfigParams, ConfigProblem, ConfigValidateResult, Context, Metadata, Plugin, PluginError,
    PluginInfo, RunParams, Value,
}};
use serde_json::json;

struct Greeter;

/// The greeting of a config's values: `greeting`, `Hello` when it gives none.
fn greeting_in(values: Option<&Value>) -> String {{
    values
        .and_then(|values| values.get("greeting"))
        .and_then(Value::as_str)
        .unwrap_or("Hello")
        .to_owned()
}}

impl Plugin for Greeter {{
    fn info(&self) -> PluginInfo {{
        PluginInfo {{
            id: "{id}".to_owned(), // must equal plugin.toml's id
            name: "{id}".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(), // must equal plugin.toml's version
        }}
    }}

    fn metadata(&self) -> Metadata {{
        Metadata {{
            config_schema: serde_json::from_str(r#"{CONFIG_SCHEMA_JSON}"#).ok(),
            ..Metadata::default()
        }}
    }}

    async fn run(&self, ctx: Context, params: RunParams) -> Result<Option<Value>, PluginError> {{
        let greeting = greeting_in(params.config.as_ref().map(|config| &config.values));
        let message = format!("{{greeting}}, {{}}!", params.tenant.as_deref().unwrap_or("world"));
        ctx.info(message.clone()); // a line of the job's log
        Ok(Some(json!({{"message": message}}))) // the job's result
    }}

    // Beyond what the schema says: a greeting that is not only spaces.
    async fn validate_config(
        &self,
        _ctx: Context,
        params: ConfigParams,
    ) -> Result<ConfigValidateResult, PluginError> {{
        let errors = if greeting_in(Some(&params.values)).trim().is_empty() {{
            vec![ConfigProblem {{
                path: "/greeting".to_owned(),
                message: "write a greeting, not only spaces".to_owned(),
            }}]
        }} else {{
            Vec::new()
        }};
        Ok(ConfigValidateResult {{
            valid: errors.is_empty(),
            errors,
        }})
    }}
}}

fn main() -> ExitCode {{
    match plugboard_sdk::serve_blocking(Greeter) {{
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {{
            eprintln!("{id}: {{error}}");
            ExitCode::FAILURE
        }}
    }}
}}

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn the_manifest_matches_the_plugin() {{
        let manifest = plugboard_sdk::protocol::Manifest::parse(include_str!("../plugin.toml"))
            .expect("plugin.toml is valid");
        assert_eq!(manifest.id, Greeter.info().id);
        assert_eq!(manifest.version, Greeter.info().version);
    }}

    #[test]
    fn the_greeting_comes_from_the_config() {{
        assert_eq!(greeting_in(Some(&json!({{"greeting": "Hi"}}))), "Hi");
        assert_eq!(greeting_in(None), "Hello");
    }}
}}
"##
            ),
        ),
    ])
}
