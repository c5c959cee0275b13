//! Plugin packages: getting one (a download, a local archive, a folder), checking it and
//! unpacking it safely, then reading and checking its manifest.
//!
//! A package is a folder with `plugin.toml` at its root, or a `.tar.gz`, `.tar` or `.zip` of one
//! (an archive whose only top-level entry is a folder holding `plugin.toml` is accepted too).
//!
//! Owns: downloads with a size cap, an overall time limit, a stall timeout, progress and
//! cancellation (`fetch.rs`); the sha256 of an archive; unpacking that refuses every entry that
//! could write outside the destination (absolute paths, `..`, links pointing out, hard links,
//! devices) and caps total size, file count and compression ratio (`unpack.rs`); packing a folder
//! into an archive so it can be kept in the store.
//!
//! Must not touch: the store, the plugin host, the final `plugins/<id>/<version>/` folders. What
//! this module writes goes to a destination the caller names (a staging folder inside the data
//! directory); the caller decides what becomes installed.

mod fetch;
mod unpack;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use plugboard_protocol::Manifest;

pub use fetch::{copy_local, download, DownloadProgress, Fetched};
pub use unpack::{pack_folder, unpack, Unpacked};

/// The limits every package is held to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageLimits {
    /// The largest archive, downloaded or local. Default 256 MiB.
    pub max_archive_bytes: u64,
    /// The most bytes all files of an unpacked package may hold. Default 1 GiB.
    pub max_unpacked_bytes: u64,
    /// The most entries (files, folders, links) a package may have. Default 10,000.
    pub max_files: u64,
    /// How many times larger than the archive its contents may be, once above 16 MiB.
    /// Default 200.
    pub max_ratio: u64,
    /// The longest a download may take, start to end. Default 5 minutes.
    pub download_timeout: Duration,
    /// The longest a download may go without receiving a byte. Default 30 s.
    pub stall_timeout: Duration,
}

impl Default for PackageLimits {
    fn default() -> PackageLimits {
        PackageLimits {
            max_archive_bytes: 256 * 1024 * 1024,
            max_unpacked_bytes: 1024 * 1024 * 1024,
            max_files: 10_000,
            max_ratio: 200,
            download_timeout: Duration::from_secs(300),
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Where `plugboard plugin pack` puts a Python package's dependencies, inside the package; the
/// host puts it on the plugin's `PYTHONPATH`.
pub const PYTHON_DEPS: &str = ".deps/python";

/// Contents up to this size are never refused for their compression ratio: a small package of
/// text may well compress 200 times.
pub const RATIO_FLOOR_BYTES: u64 = 16 * 1024 * 1024;

/// Why a package could not be fetched, unpacked or accepted. Nothing is installed when one of
/// these is returned; the caller removes its staging folder.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("downloading {url} failed: {reason}")]
    Download { url: String, reason: String },
    #[error("{source_name} is {size} bytes, over the package limit of {limit} bytes; raise package_max_mb if this package is genuine")]
    TooLarge {
        source_name: String,
        size: u64,
        limit: u64,
    },
    #[error("downloading {url} took longer than {} s; check the server or raise package_download_timeout_ms", .limit.as_secs())]
    TimedOut { url: String, limit: Duration },
    #[error("downloading {url} stalled: no data for {} s after {received} bytes; check the server or raise package_stall_timeout_ms", .limit.as_secs())]
    Stalled {
        url: String,
        received: u64,
        limit: Duration,
    },
    #[error("cancelled while downloading {url}")]
    Cancelled { url: String },
    #[error("the package's sha256 is {actual}, not the expected {expected}; the file is not the one you meant (or it was damaged on the way): check the URL and the checksum")]
    ChecksumMismatch { expected: String, actual: String },
    #[error("{source_name} is not a package: {reason}")]
    Source { source_name: String, reason: String },
    #[error("refused the package: entry `{entry}` {reason}; nothing was installed")]
    Unsafe { entry: String, reason: String },
    #[error("refused the package: {reason}; nothing was installed")]
    OverLimit { reason: String },
    #[error("the archive is damaged or truncated: {reason}")]
    Damaged { reason: String },
    #[error("the package has no plugin.toml at its root (nor in a single top-level folder); a plugin package needs its manifest there")]
    NoManifest,
    #[error(transparent)]
    Manifest(#[from] super::ManifestReadError),
    #[error("the package's command `{command}` is not in the package; ship it, or name a program on PATH")]
    CommandMissing { command: String },
    #[error("the package has {declared} but not the dependencies it names ({missing}): the host never fetches them; build the package with `plugboard plugin pack`, which puts them inside")]
    DependenciesMissing {
        declared: &'static str,
        missing: &'static str,
    },
    #[error("{what} {path}: {reason}")]
    Io {
        what: &'static str,
        path: String,
        reason: String,
    },
}

impl PackageError {
    pub(crate) fn io(what: &'static str, path: &Path) -> impl Fn(std::io::Error) -> PackageError {
        let path = path.display().to_string();
        move |error| PackageError::Io {
            what,
            path: path.clone(),
            reason: error.to_string(),
        }
    }
}

/// A package folder that passed every check, with its manifest.
#[derive(Debug, Clone)]
pub struct CheckedPackage {
    /// The folder holding `plugin.toml` (the staging folder or its single top-level folder).
    pub root: PathBuf,
    pub manifest: Manifest,
    /// `plugin.toml` as written, kept in the store with the archive.
    pub manifest_text: String,
}

/// Finds the package root in an unpacked folder and checks its manifest: it parses (with line
/// and field in errors), its id is a safe path segment, its version is semver, it speaks this
/// host's protocol, and a command given as a path inside the package is there.
pub fn check(unpacked: &Path) -> Result<CheckedPackage, PackageError> {
    let root = package_root(unpacked)?;
    let manifest = super::read_manifest(&root)?;
    let manifest_text = std::fs::read_to_string(root.join("plugin.toml"))
        .map_err(PackageError::io("cannot read", &root.join("plugin.toml")))?;
    let program = &manifest.command[0];
    if program.contains('/') {
        let inside = root.join(program);
        let present = std::fs::canonicalize(&inside)
            .ok()
            .zip(std::fs::canonicalize(&root).ok())
            .is_some_and(|(program, root)| program.starts_with(root) && program.is_file());
        if !present {
            return Err(PackageError::CommandMissing {
                command: program.clone(),
            });
        }
    }
    check_dependencies(&root)?;
    Ok(CheckedPackage {
        root,
        manifest,
        manifest_text,
    })
}

/// A package that declares dependencies holds them: `requirements.txt` with [`PYTHON_DEPS`],
/// a `package.json` with `dependencies` with `node_modules/`. Nothing is fetched at install or
/// at run time.
pub fn check_dependencies(root: &Path) -> Result<(), PackageError> {
    let requirements = std::fs::read_to_string(root.join("requirements.txt")).unwrap_or_default();
    let declares = requirements
        .lines()
        .map(str::trim)
        .any(|line| !line.is_empty() && !line.starts_with('#'));
    if declares && !root.join(PYTHON_DEPS).is_dir() {
        return Err(PackageError::DependenciesMissing {
            declared: "requirements.txt",
            missing: PYTHON_DEPS,
        });
    }
    let node_dependencies = std::fs::read(root.join("package.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|package| package.get("dependencies").cloned())
        .and_then(|dependencies| dependencies.as_object().map(|names| !names.is_empty()))
        .unwrap_or(false);
    if node_dependencies && !root.join("node_modules").is_dir() {
        return Err(PackageError::DependenciesMissing {
            declared: "package.json dependencies",
            missing: "node_modules/",
        });
    }
    Ok(())
}

fn package_root(unpacked: &Path) -> Result<PathBuf, PackageError> {
    let is_manifest = |folder: &Path| {
        std::fs::symlink_metadata(folder.join("plugin.toml")).is_ok_and(|meta| meta.is_file())
    };
    if is_manifest(unpacked) {
        return Ok(unpacked.to_path_buf());
    }
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(unpacked)
        .map_err(PackageError::io("cannot read", unpacked))?
        .collect::<Result<_, _>>()
        .map_err(PackageError::io("cannot read", unpacked))?;
    if let [only] = entries.as_slice() {
        let kind = only
            .file_type()
            .map_err(PackageError::io("cannot read", &only.path()))?;
        if kind.is_dir() && is_manifest(&only.path()) {
            return Ok(only.path());
        }
    }
    Err(PackageError::NoManifest)
}

/// The sha256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, PackageError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(PackageError::io("cannot read", path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(PackageError::io("cannot read", path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Checks an expected sha256 given by a person: 64 hex digits, any case.
pub fn parse_sha256(text: &str) -> Result<String, String> {
    let text = text.trim().to_ascii_lowercase();
    if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(text)
    } else {
        Err(format!(
            "`{text}` is not a sha256; give 64 hexadecimal digits (as `sha256sum` prints them)"
        ))
    }
}
