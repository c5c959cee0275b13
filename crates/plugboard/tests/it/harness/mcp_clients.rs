//! The official MCP clients, installed for the MCP tests from PyPI (`mcp`, pinned by
//! `tests/mcp/requirements.txt`) and npm (`@modelcontextprotocol/sdk`, pinned by
//! `tests/mcp/package-lock.json`) into a cache folder keyed by those files, once per machine:
//! `$PLUGBOARD_TEST_CACHE`, else `~/.cache/plugboard-tests`. Test processes running at once take
//! turns with a file lock.
//!
//! Without network a user's machine cannot install them: the tests then say loudly that they
//! were skipped (on stderr, and in `$TMPDIR/plugboard-mcp-clients-skipped`, which
//! `scripts/test` prints at the end). In CI (`PLUGBOARD_TEST_DATABASE_URL` set) a failed install
//! fails the test.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The installed clients.
pub struct McpClients {
    /// The venv's Python, with `mcp` installed.
    pub python: PathBuf,
    /// `tests/mcp/client.py`.
    pub python_client: PathBuf,
    /// The folder with `node_modules/` and a copy of `client.js` (and `bench.js`).
    pub node_dir: PathBuf,
}

static CLIENTS: OnceLock<Result<McpClients, String>> = OnceLock::new();

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp")
}

/// The clients, or `None` (said loudly on stderr) when they cannot be installed here.
///
/// # Panics
/// In CI (`PLUGBOARD_TEST_DATABASE_URL` set) when they cannot be installed.
pub fn mcp_clients(test: &str) -> Option<&'static McpClients> {
    match CLIENTS.get_or_init(install) {
        Ok(clients) => Some(clients),
        Err(why) => {
            if std::env::var_os("PLUGBOARD_TEST_DATABASE_URL").is_some() {
                panic!("{test}: the official MCP clients must be installed in CI, and: {why}");
            }
            eprintln!(
                "\n*** SKIPPED {test}: the official MCP clients (PyPI `mcp`, npm `@modelcontextprotocol/sdk`) could not be installed: {why}\n*** This test runs where PyPI and npm are reachable (and always in CI).\n"
            );
            // nextest shows no output of a passing test: scripts/test prints this file.
            let _ = std::fs::write(
                std::env::temp_dir().join("plugboard-mcp-clients-skipped"),
                format!("{why}\n"),
            );
            None
        }
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("{what}: cannot start it: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn install() -> Result<McpClients, String> {
    use sha2::Digest;
    let source = source_dir();
    let mut key = sha2::Sha256::new();
    for file in ["requirements.txt", "package.json", "package-lock.json"] {
        let bytes = std::fs::read(source.join(file))
            .map_err(|error| format!("reading tests/mcp/{file}: {error}"))?;
        key.update(&bytes);
    }
    let key = plugboard::plugins::package::hex(&key.finalize());
    let cache = std::env::var_os("PLUGBOARD_TEST_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/plugboard-tests"))
        })
        .ok_or("neither PLUGBOARD_TEST_CACHE nor HOME is set")?;
    let root = cache.join(format!("mcp-clients-{}", &key[..16]));
    std::fs::create_dir_all(&root)
        .map_err(|error| format!("creating {}: {error}", root.display()))?;
    let lock = File::create(root.join(".lock"))
        .map_err(|error| format!("creating the install lock: {error}"))?;
    // SAFETY: flock on a descriptor this function owns; released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "locking {}: {}",
            root.display(),
            std::io::Error::last_os_error()
        ));
    }
    let venv = root.join("venv");
    let node_dir = root.join("node");
    if !root.join("ready").exists() {
        let _ = std::fs::remove_dir_all(&venv);
        let _ = std::fs::remove_dir_all(&node_dir);
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        )?;
        run(
            Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--timeout",
                    "20",
                    "--retries",
                    "1",
                    "-r",
                ])
                .arg(source.join("requirements.txt")),
            "pip install -r tests/mcp/requirements.txt",
        )?;
        std::fs::create_dir_all(&node_dir).map_err(|error| error.to_string())?;
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(file), node_dir.join(file))
                .map_err(|error| format!("copying {file}: {error}"))?;
        }
        run(
            Command::new("npm")
                .args([
                    "ci",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--fetch-retries=1",
                    "--fetch-timeout=20000",
                ])
                .current_dir(&node_dir),
            "npm ci (tests/mcp/package-lock.json)",
        )?;
        std::fs::write(root.join("ready"), "").map_err(|error| error.to_string())?;
    }
    // The scripts change with the tests: copied every run (by rename, so a test running in
    // another process never reads half a file), beside the node_modules they need.
    for script in ["client.js", "bench.js"] {
        let staged = node_dir.join(format!(".{script}.{}", std::process::id()));
        std::fs::copy(source.join(script), &staged)
            .and_then(|_| std::fs::rename(&staged, node_dir.join(script)))
            .map_err(|error| format!("copying {script}: {error}"))?;
    }
    Ok(McpClients {
        python: venv.join("bin/python"),
        python_client: source.join("client.py"),
        node_dir,
    })
}

impl McpClients {
    /// `python client.py URL TOKEN MODE ARGS…`, to completion.
    pub fn python(&self, url: &str, token: &str, mode: &str, args: &[&str]) -> Output {
        Command::new(&self.python)
            .arg(&self.python_client)
            .args([url, token, mode])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the Python MCP client starts")
    }

    /// `node client.js URL TOKEN ARGS…`, to completion.
    pub fn node(&self, url: &str, token: &str, args: &[&str]) -> Output {
        Command::new("node")
            .arg(self.node_dir.join("client.js"))
            .args([url, token])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the TypeScript MCP client starts")
    }

    /// The Python client as a child that keeps running (`listen`), its stdout piped.
    pub fn python_child(&self, url: &str, token: &str, mode: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.python);
        command
            .arg(&self.python_client)
            .args([url, token, mode])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// The TypeScript client as a child that keeps running (`listen`), its stdout piped.
    pub fn node_child(&self, url: &str, token: &str, args: &[&str]) -> Command {
        let mut command = Command::new("node");
        command
            .arg(self.node_dir.join("client.js"))
            .args([url, token])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}
