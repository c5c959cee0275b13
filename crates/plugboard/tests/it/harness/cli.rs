//! Running the CLI as a client of a [`super::TestHost`]: its URL and token in the environment, a
//! profile folder of its own (`XDG_CONFIG_HOME`), nothing inherited that would name another
//! server.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{temp_dir, TestHost, BINARY};

/// What one command did.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Asserts success and answers stdout.
    pub fn expect_ok(&self, what: &str) -> &str {
        assert!(self.ok(), "{what} failed: {self:?}");
        &self.stdout
    }

    /// Asserts failure with exit code 1 and `says` in stderr.
    pub fn expect_refused(&self, says: &str) -> &str {
        assert_eq!(self.code, Some(1), "should have failed with 1: {self:?}");
        assert!(
            self.stderr.contains(says),
            "stderr should say `{says}`: {self:?}"
        );
        &self.stderr
    }

    /// Asserts that the command line itself was refused (exit code 2) with `says`.
    pub fn expect_usage_error(&self, says: &str) {
        assert_eq!(
            self.code,
            Some(2),
            "should have been a usage error: {self:?}"
        );
        assert!(
            self.stderr.contains(says),
            "stderr should say `{says}`: {self:?}"
        );
    }

    /// stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:?}"))
    }
}

/// A CLI pointed at one server.
pub struct Cli {
    pub url: String,
    pub token: String,
    /// `XDG_CONFIG_HOME` of every command: `plugboard/config.toml` in it is the profile file.
    pub config_home: tempfile::TempDir,
}

impl Cli {
    pub fn new(host: &TestHost) -> Cli {
        Cli {
            url: format!("http://{}", host.address),
            token: host.admin_token.clone(),
            config_home: temp_dir(),
        }
    }

    /// The profile file's path.
    pub fn profile_file(&self) -> std::path::PathBuf {
        self.config_home.path().join("plugboard/config.toml")
    }

    /// `plugboard ARGS…` with the server's URL and the admin token in the environment.
    pub fn run(&self, args: &[&str]) -> Ran {
        self.run_as(&self.token, args)
    }

    /// `plugboard ARGS…` with another token.
    pub fn run_as(&self, token: &str, args: &[&str]) -> Ran {
        self.run_env(
            args,
            &[("PLUGBOARD_URL", &self.url), ("PLUGBOARD_TOKEN", token)],
        )
    }

    /// `plugboard ARGS…` with only `env` naming a server (and the profile file, if written).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        run_in(self.config_home.path(), args, env)
    }
}

/// `plugboard ARGS…` with `XDG_CONFIG_HOME` at `config_home` and only `env` set of plugboard's
/// client variables.
pub fn run_in(config_home: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env("PLUGBOARD_LOG", "warn");
    for name in [
        "PLUGBOARD_URL",
        "PLUGBOARD_TOKEN",
        "PLUGBOARD_PROFILE",
        "PLUGBOARD_DATABASE_URL",
    ] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("the plugboard binary runs");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
