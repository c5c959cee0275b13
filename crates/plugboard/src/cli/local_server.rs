//! The server running on a data directory. `serve` writes `DATA_DIR/server.json` once it
//! listens (its address and process id, readable by this user only) and removes it when it stops
//! cleanly; a client command given no server (no `--url`, `PLUGBOARD_URL` or profile) calls the
//! server that file names, with the admin token `serve` keeps beside it (`DATA_DIR/admin-token`).
//! Finding the server reads files and creates none, so a command pointed at the wrong folder
//! says so instead of starting an empty store there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::client::ApiClient;
use super::serve::ADMIN_TOKEN_FILE;

/// The file in the data directory that names the server running there.
pub const SERVER_FILE: &str = "server.json";

#[derive(Debug, Serialize, Deserialize)]
struct ServerFile {
    /// Where a client on this machine reaches the server.
    url: String,
    /// The `plugboard serve` process.
    pid: u32,
}

/// `DATA_DIR/server.json` of this process, removed by [`Announcement::remove`] at a clean stop.
#[derive(Debug)]
pub struct Announcement {
    path: PathBuf,
}

impl Announcement {
    /// Writes `DATA_DIR/server.json` (mode 0600, replaced in one rename) for `address`.
    ///
    /// # Errors
    /// The data directory is not writable.
    pub fn write(data_dir: &Path, address: SocketAddr) -> anyhow::Result<Announcement> {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let path = data_dir.join(SERVER_FILE);
        let contents = serde_json::to_vec_pretty(&ServerFile {
            url: local_url(address),
            pid: std::process::id(),
        })?;
        let write = || -> std::io::Result<()> {
            let mut file = tempfile::NamedTempFile::new_in(data_dir)?;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.write_all(&contents)?;
            file.persist(&path).map_err(|error| error.error)?;
            Ok(())
        };
        write().with_context(|| {
            format!(
                "cannot write {}, where local client commands find this server; check the permissions of the data directory",
                path.display()
            )
        })?;
        Ok(Announcement { path })
    }

    /// Removes the file, unless another server on the same data directory has replaced it.
    pub fn remove(self) {
        let ours = std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<ServerFile>(&bytes).ok())
            .is_some_and(|file| file.pid == std::process::id());
        if ours {
            if let Err(error) = std::fs::remove_file(&self.path) {
                tracing::warn!(file = %self.path.display(), %error, "cannot remove the server file");
            }
        }
    }
}

/// The URL a client on this machine uses for a server listening on `address`: the loopback
/// address when it listens on every interface.
fn local_url(address: SocketAddr) -> String {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, address.port()))
}

/// The client of the server running on `data_dir`, sending `token` or else the admin token kept
/// in the data directory.
///
/// # Errors
/// No data directory, no server running on it, a server that stopped without removing its
/// file, or no token to send; each message says what to do.
pub fn client(data_dir: &Path, token: Option<&str>) -> anyhow::Result<ApiClient> {
    let elsewhere = "or name a server with --url URL (or PLUGBOARD_URL, or a profile saved by `plugboard login`)";
    if !data_dir.is_dir() {
        bail!(
            "no plugboard server found: there is no data directory {}. Start one with `plugboard serve` (it makes ./plugboard-data, or the folder --data-dir names), pass the --data-dir of a running server, {elsewhere}",
            data_dir.display()
        );
    }
    let path = data_dir.join(SERVER_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "no plugboard server is running on the data directory {} ({SERVER_FILE}, which `plugboard serve` keeps there while it runs, is missing). Start it with `plugboard serve{}`, {elsewhere}",
            data_dir.display(),
            serve_flag(data_dir)
        ),
        Err(error) => {
            return Err(error).with_context(|| {
                format!(
                    "cannot read {}; run this command as the user that runs `plugboard serve`, {elsewhere}",
                    path.display()
                )
            })
        }
    };
    let file: ServerFile = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not what `plugboard serve` writes; delete it and start the server again",
            path.display()
        )
    })?;
    if !Path::new("/proc").join(file.pid.to_string()).exists() {
        bail!(
            "the plugboard server of {} (process {}, at {}) is no longer running: it stopped without removing {SERVER_FILE}. Start it again with `plugboard serve{}`, {elsewhere}",
            data_dir.display(),
            file.pid,
            file.url,
            serve_flag(data_dir)
        );
    }
    let kept;
    let token = match token {
        Some(token) => token,
        None => {
            let token_path = data_dir.join(ADMIN_TOKEN_FILE);
            kept = std::fs::read_to_string(&token_path).with_context(|| {
                format!(
                    "the server at {} keeps no admin token readable in {} (it may have been started with PLUGBOARD_ADMIN_TOKEN): pass --token TOKEN or set PLUGBOARD_TOKEN",
                    file.url,
                    token_path.display()
                )
            })?;
            kept.trim()
        }
    };
    ApiClient::new(&file.url, Some(token))
}

fn serve_flag(data_dir: &Path) -> String {
    if data_dir == Path::new(crate::settings::DEFAULT_DATA_DIR) {
        String::new()
    } else {
        format!(" --data-dir {}", data_dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_on_every_interface_is_called_on_loopback() {
        let url = |text: &str| local_url(text.parse().expect("an address"));
        assert_eq!(url("0.0.0.0:7700"), "http://127.0.0.1:7700");
        assert_eq!(url("[::]:7700"), "http://[::1]:7700");
        assert_eq!(url("10.1.2.3:80"), "http://10.1.2.3:80");
    }
}
