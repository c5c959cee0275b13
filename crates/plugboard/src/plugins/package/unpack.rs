//! Unpacking an archive (`.tar.gz`, `.tar`, `.zip`, told apart by their first bytes) into a new
//! folder, refusing anything that could write outside it or fill the disk, and packing a folder
//! into a `.tar.gz`.
//!
//! Rules, for every entry: its name is relative, has no `..` and no backslash, and is UTF-8; it
//! is a file, a folder or a symbolic link (hard links, devices, fifos and sparse files are
//! refused); it appears once. Files are written with `create_new`, so nothing already there is
//! followed or overwritten, and lose setuid, setgid and group or world write bits. Links are
//! made only after every file and folder, so no entry is ever written through one; each link
//! must then resolve, on disk, to something inside the folder. The bytes written are capped
//! (`max_unpacked_bytes`, and `max_ratio` times the archive once above
//! [`super::RATIO_FLOOR_BYTES`]) as they are decompressed, not as the headers announce them,
//! and so is the number of entries.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{PackageError, PackageLimits, RATIO_FLOOR_BYTES};

/// What an archive held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    pub files: u64,
    pub bytes: u64,
}

enum Format {
    TarGz,
    Tar,
    Zip,
}

/// Unpacks `archive` into `destination`, which must not exist yet. On error, `destination` may
/// hold part of the archive: the caller removes it.
///
/// # Errors
/// [`PackageError::Unsafe`] for an entry that breaks a rule above, [`PackageError::OverLimit`]
/// for the caps, [`PackageError::Damaged`] for a truncated or corrupt archive,
/// [`PackageError::Source`] for a file that is no archive this host reads.
pub fn unpack(
    archive: &Path,
    destination: &Path,
    limits: &PackageLimits,
) -> Result<Unpacked, PackageError> {
    let archive_bytes = std::fs::metadata(archive)
        .map_err(PackageError::io("cannot read", archive))?
        .len();
    let mut head = [0u8; 512];
    let head_len = read_head(archive, &mut head)?;
    let format = if head_len >= 2 && head[..2] == [0x1f, 0x8b] {
        Format::TarGz
    } else if head_len >= 4 && head[..4] == *b"PK\x03\x04" {
        Format::Zip
    } else if head_len >= 262 && &head[257..262] == b"ustar" {
        Format::Tar
    } else {
        return Err(PackageError::Source {
            source_name: archive.display().to_string(),
            reason: "it is not a .tar.gz, .tar or .zip archive (nor a folder)".to_owned(),
        });
    };
    std::fs::create_dir(destination).map_err(PackageError::io("cannot create", destination))?;
    let mut writer = Writer::new(destination, limits, archive_bytes, &format);
    match format {
        Format::TarGz | Format::Tar => unpack_tar(archive, &format, &mut writer)?,
        Format::Zip => unpack_zip(archive, &mut writer)?,
    }
    writer.finish()
}

fn read_head(archive: &Path, head: &mut [u8]) -> Result<usize, PackageError> {
    let mut file =
        std::fs::File::open(archive).map_err(PackageError::io("cannot read", archive))?;
    let mut filled = 0;
    while filled < head.len() {
        let read = file
            .read(&mut head[filled..])
            .map_err(PackageError::io("cannot read", archive))?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(filled)
}

/// Counts the bytes read through it and fails once past `limit`, so a decompression bomb is
/// stopped while it inflates, whatever its headers claim.
struct Bounded<R> {
    inner: R,
    read: Arc<AtomicU64>,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        let total = self.read.fetch_add(read as u64, Ordering::Relaxed) + read as u64;
        if total > self.limit {
            return Err(std::io::Error::other("the unpacked size limit was passed"));
        }
        Ok(read)
    }
}

fn unpack_tar(archive: &Path, format: &Format, writer: &mut Writer) -> Result<(), PackageError> {
    let file = std::fs::File::open(archive).map_err(PackageError::io("cannot read", archive))?;
    let inflated = Arc::new(AtomicU64::new(0));
    // Headers and padding count too: a stream of empty headers is a bomb as well. A little room
    // above the content cap is left for them.
    let stream_limit = writer.byte_limit.saturating_add(16 * 1024 * 1024);
    let reader: Box<dyn Read> = match format {
        Format::TarGz => Box::new(Bounded {
            inner: flate2::read::GzDecoder::new(std::io::BufReader::new(file)),
            read: inflated.clone(),
            limit: stream_limit,
        }),
        _ => Box::new(Bounded {
            inner: std::io::BufReader::new(file),
            read: inflated.clone(),
            limit: stream_limit,
        }),
    };
    let mut tar = tar::Archive::new(reader);
    let damaged = |error: std::io::Error, writer: &Writer| {
        if inflated.load(Ordering::Relaxed) > stream_limit {
            writer.over_limit()
        } else {
            PackageError::Damaged {
                reason: error.to_string(),
            }
        }
    };
    let entries = tar.entries().map_err(|error| damaged(error, writer))?;
    for entry in entries {
        let mut entry = entry.map_err(|error| damaged(error, writer))?;
        let raw_name = entry.path_bytes().into_owned();
        let name = entry_name(&raw_name)?;
        let kind = entry.header().entry_type();
        use tar::EntryType;
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let mode = entry.header().mode().unwrap_or(0o644);
                let declared = entry.size();
                writer
                    .file(&name, mode, declared, &mut entry)
                    .map_err(|error| match error {
                        WriteError::Package(error) => error,
                        WriteError::Read(error) => damaged(error, writer),
                    })?;
            }
            EntryType::Directory => writer.folder(&name)?,
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|target| target.into_owned())
                    .unwrap_or_default();
                let target = String::from_utf8(target).map_err(|_| PackageError::Unsafe {
                    entry: name.display().to_string(),
                    reason: "is a link whose target is not UTF-8".to_owned(),
                })?;
                writer.link(&name, &target)?;
            }
            EntryType::XGlobalHeader => {}
            EntryType::Link => {
                return Err(PackageError::Unsafe {
                    entry: name.display().to_string(),
                    reason: "is a hard link; packages may not hold hard links".to_owned(),
                })
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(PackageError::Unsafe {
                    entry: name.display().to_string(),
                    reason: "is a device or a fifo; packages hold only files, folders and links"
                        .to_owned(),
                })
            }
            other => {
                return Err(PackageError::Unsafe {
                    entry: name.display().to_string(),
                    reason: format!(
                        "has the unsupported tar entry type {:?}; packages hold only files, folders and links",
                        other.as_byte() as char
                    ),
                })
            }
        }
    }
    Ok(())
}

fn unpack_zip(archive: &Path, writer: &mut Writer) -> Result<(), PackageError> {
    let file = std::fs::File::open(archive).map_err(PackageError::io("cannot read", archive))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|error| {
        PackageError::Damaged {
            reason: error.to_string(),
        }
    })?;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(|error| PackageError::Damaged {
            reason: error.to_string(),
        })?;
        let name = entry_name(entry.name_raw())?;
        if entry.is_symlink() {
            let mut target = String::new();
            (&mut entry)
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|_| PackageError::Unsafe {
                    entry: name.display().to_string(),
                    reason: "is a link whose target is not UTF-8".to_owned(),
                })?;
            writer.link(&name, &target)?;
        } else if entry.is_dir() {
            writer.folder(&name)?;
        } else if entry.is_file() {
            let mode = entry.unix_mode().unwrap_or(0o644);
            let declared = entry.size();
            writer
                .file(&name, mode, declared, &mut entry)
                .map_err(|error| match error {
                    WriteError::Package(error) => error,
                    WriteError::Read(error) => PackageError::Damaged {
                        reason: error.to_string(),
                    },
                })?;
        } else {
            return Err(PackageError::Unsafe {
                entry: name.display().to_string(),
                reason: "is neither a file, a folder nor a link".to_owned(),
            });
        }
    }
    Ok(())
}

/// Checks an entry's name and turns it into a relative path of normal components.
fn entry_name(raw: &[u8]) -> Result<PathBuf, PackageError> {
    let shown = String::from_utf8_lossy(raw).into_owned();
    let unsafe_entry = |reason: &str| PackageError::Unsafe {
        entry: shown.clone(),
        reason: reason.to_owned(),
    };
    let name =
        std::str::from_utf8(raw).map_err(|_| unsafe_entry("has a name that is not UTF-8"))?;
    if name.starts_with('/') {
        return Err(unsafe_entry(
            "has an absolute path; entries must be relative to the package root",
        ));
    }
    if name.contains('\\') {
        return Err(unsafe_entry(
            "has a backslash in its name; use `/` between folders",
        ));
    }
    let mut path = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(unsafe_entry(
                    "climbs out with `..`; entries must stay inside the package",
                ))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry(
                    "has an absolute path; entries must be relative to the package root",
                ))
            }
        }
    }
    Ok(path)
}

enum WriteError {
    Package(PackageError),
    Read(std::io::Error),
}

impl From<PackageError> for WriteError {
    fn from(error: PackageError) -> WriteError {
        WriteError::Package(error)
    }
}

/// Writes entries below the destination and keeps the counts.
struct Writer {
    root: PathBuf,
    max_files: u64,
    byte_limit: u64,
    /// What the byte limit is, for the message: the cap or the ratio.
    limit_reason: String,
    files: u64,
    bytes: u64,
    links: Vec<(PathBuf, String)>,
    seen: std::collections::HashSet<PathBuf>,
}

impl Writer {
    fn new(root: &Path, limits: &PackageLimits, archive_bytes: u64, format: &Format) -> Writer {
        let by_ratio = match format {
            Format::Tar => u64::MAX,
            Format::TarGz | Format::Zip => archive_bytes
                .saturating_mul(limits.max_ratio)
                .max(RATIO_FLOOR_BYTES),
        };
        let (byte_limit, limit_reason) = if by_ratio < limits.max_unpacked_bytes {
            (
                by_ratio,
                format!(
                    "it expands to more than {} times its archive of {archive_bytes} bytes (a decompression bomb?)",
                    limits.max_ratio
                ),
            )
        } else {
            (
                limits.max_unpacked_bytes,
                format!(
                    "it unpacks to more than {} bytes; raise package_max_unpacked_mb if this package is genuine",
                    limits.max_unpacked_bytes
                ),
            )
        };
        Writer {
            root: root.to_path_buf(),
            max_files: limits.max_files,
            byte_limit,
            limit_reason,
            files: 0,
            bytes: 0,
            links: Vec::new(),
            seen: std::collections::HashSet::new(),
        }
    }

    fn over_limit(&self) -> PackageError {
        PackageError::OverLimit {
            reason: self.limit_reason.clone(),
        }
    }

    /// Counts an entry and refuses a second one of the same name.
    fn admit(&mut self, name: &Path) -> Result<(), PackageError> {
        self.files += 1;
        if self.files > self.max_files {
            return Err(PackageError::OverLimit {
                reason: format!(
                    "it has more than {} entries; raise package_max_files if this package is genuine",
                    self.max_files
                ),
            });
        }
        if !name.as_os_str().is_empty() && !self.seen.insert(name.to_path_buf()) {
            return Err(PackageError::Unsafe {
                entry: name.display().to_string(),
                reason: "appears twice in the archive".to_owned(),
            });
        }
        Ok(())
    }

    fn folder(&mut self, name: &Path) -> Result<(), PackageError> {
        self.admit(name)?;
        let path = self.root.join(name);
        std::fs::create_dir_all(&path).map_err(PackageError::io("cannot create", &path))
    }

    fn file(
        &mut self,
        name: &Path,
        mode: u32,
        declared: u64,
        contents: &mut dyn Read,
    ) -> Result<(), WriteError> {
        self.admit(name)?;
        if name.as_os_str().is_empty() {
            return Err(PackageError::Unsafe {
                entry: String::new(),
                reason: "is a file without a name".to_owned(),
            }
            .into());
        }
        if self.bytes.saturating_add(declared) > self.byte_limit {
            return Err(self.over_limit().into());
        }
        let path = self.root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(PackageError::io("cannot create", parent))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(PackageError::io("cannot create", &path))?;
        // Read at most one byte past what is allowed, to tell "exactly at the limit" from "over".
        let room = self.byte_limit - self.bytes;
        let mut limited = contents.take(room.saturating_add(1));
        let mut buffer = vec![0u8; 64 * 1024];
        let mut written: u64 = 0;
        loop {
            let read = limited.read(&mut buffer).map_err(WriteError::Read)?;
            if read == 0 {
                break;
            }
            written += read as u64;
            if written > room {
                return Err(self.over_limit().into());
            }
            file.write_all(&buffer[..read])
                .map_err(PackageError::io("cannot write", &path))?;
        }
        self.bytes += written;
        // Readable by every user (a plugin runs as a user of its own and reads its package),
        // executable where the archive says so; never setuid, setgid, sticky or writable by
        // anyone but plugboard.
        use std::os::unix::fs::PermissionsExt;
        let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(PackageError::io("cannot set the permissions of", &path))?;
        Ok(())
    }

    fn link(&mut self, name: &Path, target: &str) -> Result<(), PackageError> {
        self.admit(name)?;
        let refused = |reason: &str| PackageError::Unsafe {
            entry: name.display().to_string(),
            reason: reason.to_owned(),
        };
        if target.is_empty() || target.starts_with('/') {
            return Err(refused(
                "is a link to an absolute path; links must point inside the package",
            ));
        }
        // A first look by name; the real check is on disk, once every link exists.
        let mut depth: i64 = name.components().count() as i64 - 1;
        for component in Path::new(target).components() {
            match component {
                Component::ParentDir => depth -= 1,
                Component::Normal(_) => depth += 1,
                _ => {}
            }
            if depth < 0 {
                return Err(refused(
                    "is a link that points outside the package; links must point inside it",
                ));
            }
        }
        self.links.push((name.to_path_buf(), target.to_owned()));
        Ok(())
    }

    /// Makes the links, then checks on disk that each resolves inside the folder.
    fn finish(self) -> Result<Unpacked, PackageError> {
        for (name, target) in &self.links {
            let path = self.root.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(PackageError::io("cannot create", parent))?;
            }
            std::os::unix::fs::symlink(target, &path)
                .map_err(PackageError::io("cannot create", &path))?;
        }
        let root = std::fs::canonicalize(&self.root)
            .map_err(PackageError::io("cannot read", &self.root))?;
        for (name, _) in &self.links {
            let refused = |reason: &str| PackageError::Unsafe {
                entry: name.display().to_string(),
                reason: reason.to_owned(),
            };
            match std::fs::canonicalize(self.root.join(name)) {
                Ok(resolved) if resolved.starts_with(&root) => {}
                Ok(_) => {
                    return Err(refused(
                        "is a link that points outside the package; links must point inside it",
                    ))
                }
                Err(_) => {
                    return Err(refused(
                        "is a link to nothing in the package; remove it or ship what it points to",
                    ))
                }
            }
        }
        Ok(Unpacked {
            files: self.files,
            bytes: self.bytes,
        })
    }
}

/// Packs a package folder into a `.tar.gz` at `archive`, so a package installed from a folder is
/// kept in the store like any other. Links are stored as links; `__pycache__` and `.git` folders
/// are left out.
///
/// # Errors
/// [`PackageError::Source`] when the folder cannot be read, [`PackageError::Io`] when the archive
/// cannot be written.
pub fn pack_folder(folder: &Path, archive: &Path) -> Result<(), PackageError> {
    let file =
        std::fs::File::create(archive).map_err(PackageError::io("cannot create", archive))?;
    let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    // Sparse files (a linker's output often is) are stored whole: unpacking takes regular
    // files only.
    builder.sparse(false);
    let unreadable = |error: std::io::Error| PackageError::Source {
        source_name: folder.display().to_string(),
        reason: error.to_string(),
    };
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(folder.join(&relative))
            .map_err(unreadable)?
            .collect::<Result<_, _>>()
            .map_err(unreadable)?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = relative.join(entry.file_name());
            let kind = entry.file_type().map_err(unreadable)?;
            if kind.is_dir() {
                if entry.file_name() == "__pycache__" || entry.file_name() == ".git" {
                    continue;
                }
                builder
                    .append_dir(&name, entry.path())
                    .map_err(unreadable)?;
                pending.push(name);
            } else {
                builder
                    .append_path_with_name(entry.path(), &name)
                    .map_err(unreadable)?;
            }
        }
    }
    let encoder = builder
        .into_inner()
        .map_err(PackageError::io("cannot write", archive))?;
    let file = encoder
        .finish()
        .map_err(PackageError::io("cannot write", archive))?;
    file.sync_all()
        .map_err(PackageError::io("cannot write", archive))?;
    Ok(())
}
