//! The CLI's profile file: named servers and their tokens, so that `--url` and `--token` need
//! not be typed (or left in the shell's history) for every command.
//!
//! The file is `$XDG_CONFIG_HOME/plugboard/config.toml` (`~/.config/plugboard/config.toml` when
//! `XDG_CONFIG_HOME` is not set):
//!
//! ```toml
//! default = "prod"
//!
//! [profiles.prod]
//! url = "https://plugboard.example.com"
//! token = "pb_…"
//! ```
//!
//! A file that holds a token and that the group or others may read is refused: a token is a
//! password. `plugboard login` writes the file readable by its owner only.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// One named server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: Option<String>,
    pub token: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// The profile used when neither `--profile` nor `PLUGBOARD_PROFILE` names one.
    pub default: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Where the profile file is: `$XDG_CONFIG_HOME/plugboard/config.toml`, else
/// `$HOME/.config/plugboard/config.toml`; `None` when neither variable is set.
pub fn profile_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|value| !value.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some(base.join("plugboard").join("config.toml"))
}

impl ProfileFile {
    /// Reads the file at `path`; a missing file is an empty one.
    ///
    /// # Errors
    /// The file cannot be read or parsed (the message names it and the line), or it holds a
    /// token and the group or others may read it.
    pub fn load(path: &Path) -> anyhow::Result<ProfileFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ProfileFile::default())
            }
            Err(error) => {
                return Err(error).with_context(|| {
                    format!(
                        "cannot read the profile file {}; fix its permissions or move it away",
                        path.display()
                    )
                })
            }
        };
        let file: ProfileFile = toml::from_str(&text).with_context(|| {
            format!(
                "the profile file {} is not valid; each profile is `[profiles.NAME]` with `url` and `token`",
                path.display()
            )
        })?;
        let has_token = file
            .profiles
            .values()
            .any(|profile| profile.token.is_some());
        if has_token {
            let mode = std::fs::metadata(path)
                .with_context(|| format!("reading the permissions of {}", path.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                bail!(
                    "the profile file {} holds a token and others may read it (mode {:03o}); run `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
        }
        Ok(file)
    }

    /// The profile to use: `name` if given (it must exist), else the file's `default` (which
    /// must exist when set), else none.
    ///
    /// # Errors
    /// A named profile that the file does not have.
    pub fn select(&self, name: Option<&str>, path: &Path) -> anyhow::Result<Option<&Profile>> {
        let Some(name) = name.or(self.default.as_deref()) else {
            return Ok(None);
        };
        match self.profiles.get(name) {
            Some(profile) => Ok(Some(profile)),
            None => {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                bail!(
                    "there is no profile `{name}` in {} (profiles: {}); `plugboard login --profile {name} --url URL --token TOKEN` makes it",
                    path.display(),
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                )
            }
        }
    }

    /// Writes the file readable and writable by its owner only (mode 0600), replacing it in one
    /// rename so a reader never sees half of it.
    ///
    /// # Errors
    /// The folder cannot be created or the file written.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let folder = path
            .parent()
            .context("the profile file's path has no folder")?;
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let text = toml::to_string(self).context("writing the profiles as TOML")?;
        let temporary = folder.join(format!(".config.toml.{}", std::process::id()));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temporary)?;
            // An existing temporary file keeps its mode through open; set it again.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.with_context(|| format!("cannot write the profile file {}", path.display()))
    }
}
