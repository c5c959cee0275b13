//! Plugin packages for the install tests, and an HTTP server on a port chosen by the OS that
//! serves them well or badly (stalling, lying about their size, pausing until told to go on).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How the server answers one path.
#[derive(Clone)]
pub enum Route {
    /// The bytes, at once.
    Whole(Vec<u8>),
    /// Half the bytes, then nothing more until `gate` is true, then the rest.
    Gated(Vec<u8>, watch::Receiver<bool>),
    /// Half the bytes, then silence with the connection open.
    Stall(Vec<u8>),
    /// Claims `Content-Length` bytes and sends a few.
    Claims(u64),
}

/// A package server on 127.0.0.1, port chosen by the OS; stops when dropped.
pub struct PackageServer {
    pub base: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    stop: CancellationToken,
}

impl PackageServer {
    pub async fn start() -> PackageServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the package server");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let stop = CancellationToken::new();
        let (serving, token) = (routes.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = token.cancelled() => return,
                };
                let Ok((socket, _)) = accepted else { continue };
                let (routes, token) = (serving.clone(), token.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        () = answer(socket, routes) => {}
                        () = token.cancelled() => {}
                    }
                });
            }
        });
        PackageServer { base, routes, stop }
    }

    /// Serves `route` at `/name`; returns its URL.
    pub fn serve(&self, name: &str, route: Route) -> String {
        self.routes
            .lock()
            .unwrap()
            .insert(format!("/{name}"), route);
        format!("{}/{name}", self.base)
    }
}

impl Drop for PackageServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn answer(mut socket: tokio::net::TcpStream, routes: Arc<Mutex<HashMap<String, Route>>>) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let route = routes.lock().unwrap().get(&path).cloned();
    let header = |length: u64| {
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n")
    };
    let _ = match route {
        None => {
            socket
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await
        }
        Some(Route::Whole(bytes)) => {
            let _ = socket
                .write_all(header(bytes.len() as u64).as_bytes())
                .await;
            socket.write_all(&bytes).await
        }
        Some(Route::Gated(bytes, mut gate)) => {
            let half = bytes.len() / 2;
            let _ = socket
                .write_all(header(bytes.len() as u64).as_bytes())
                .await;
            let _ = socket.write_all(&bytes[..half]).await;
            let _ = socket.flush().await;
            while !*gate.borrow_and_update() {
                if gate.changed().await.is_err() {
                    return;
                }
            }
            socket.write_all(&bytes[half..]).await
        }
        Some(Route::Stall(bytes)) => {
            let _ = socket
                .write_all(header(bytes.len() as u64).as_bytes())
                .await;
            let _ = socket.write_all(&bytes[..bytes.len() / 2]).await;
            let _ = socket.flush().await;
            tokio::time::sleep(Duration::from_secs(120)).await;
            Ok(())
        }
        Some(Route::Claims(length)) => {
            let _ = socket.write_all(header(length).as_bytes()).await;
            let _ = socket.write_all(&[0u8; 1024]).await;
            tokio::time::sleep(Duration::from_secs(120)).await;
            Ok(())
        }
    };
    let _ = socket.shutdown().await;
}

/// A package folder of the scripted test plugin: `plugin.toml` naming `version` and `mode`, and
/// the script itself as `main.py`, so the package stands on its own.
pub fn scripted_package(root: &Path, version: &str, mode: &str) -> PathBuf {
    let folder = root.join(format!("package-{version}-{mode}"));
    std::fs::create_dir_all(&folder).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scripted_plugin.py");
    std::fs::copy(script, folder.join("main.py")).unwrap();
    std::fs::write(
        folder.join("plugin.toml"),
        format!(
            "id = \"scripted\"\nname = \"Scripted\"\nversion = \"{version}\"\nprotocol = 1\ncommand = [\"python3\", \"main.py\"]\n[env]\nPLUGBOARD_TEST_MODE = \"{mode}\"\nPLUGBOARD_PLUGIN_VERSION = \"{version}\"\n"
        ),
    )
    .unwrap();
    folder
}

/// The `.tar.gz` of a folder, as the host packs one.
pub fn tar_gz(folder: &Path) -> Vec<u8> {
    let archive = folder.with_extension("tar.gz");
    plugboard::plugins::package::pack_folder(folder, &archive).expect("pack the folder");
    std::fs::read(&archive).unwrap()
}

/// The sha256 of bytes, as `sha256sum` prints it.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    plugboard::plugins::package::hex(&sha2::Sha256::digest(bytes))
}

/// `plugboard plugin ARGS… --data-dir DIR`, to completion.
pub fn plugin_command(data_dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["plugin"];
    all.extend_from_slice(args);
    all.extend(["--data-dir", data_dir.to_str().unwrap()]);
    super::plugboard(&all)
}

/// What a command printed, both streams.
pub fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
