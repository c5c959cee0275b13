//! What a plugin process may reach on the file system and the network: the policy behind its
//! Landlock ruleset.
//!
//! Owns: the list of paths a plugin may read, write and execute, and whether it may use TCP.
//! Must not touch: system calls (`landlock.rs` turns [`Rules`] into a kernel ruleset) or
//! process setup (`process.rs`).
//!
//! The policy, beneath each path (paths that do not exist are skipped):
//!
//! | path | rights | why |
//! | --- | --- | --- |
//! | the package folder | read, execute | the plugin's code; read-only to it |
//! | its data directory | read, write | its own files (`HOME`, `TMPDIR`) |
//! | `permissions.read` | read | declared in the manifest |
//! | `permissions.write` | read, write | declared in the manifest |
//! | `/usr`, `/lib`, `/lib32`, `/lib64`, `/libx32`, `/bin`, `/sbin`, `/nix/store` | read, execute | interpreters, shared libraries, tools |
//! | the program's installation | read, execute | an interpreter outside those, see below |
//! | [`ETC_ENTRIES`] in `/etc` | read | what the C library, TLS and runtimes read at start |
//! | `/dev/null`, `zero`, `full`, `random`, `urandom` | read, write | the harmless devices |
//! | `/dev/shm` | read, write | POSIX shared memory and semaphores |
//! | `/proc` | read | `/proc/self` (runtimes read their maps, limits, fds) |
//! | `/sys/devices/system/cpu`, `/sys/fs/cgroup` | read | CPU count and memory limits |
//!
//! Only named entries of `/etc`, not the folder: `/etc` holds secrets a plugin has no business
//! with, plugboard's own config file with a database URL among them (and `/etc/shadow` when the
//! host runs as root). `/proc` is readable whole because `/proc/self` is a link to a folder
//! whose number is known only after the fork; Landlock itself keeps a plugin from reading the
//! environment and memory of processes outside its domain, but command lines stay visible, so
//! pass secrets to plugboard by environment or config file, not by flag.
//!
//! The program's installation: the manifest's program (a bare name found on the plugin's
//! `PATH`, or an absolute path) as named and with its links resolved; for each, the folder
//! above its `bin`, or its own folder (a virtualenv's `…/venv/bin/python3` gives `…/venv`, a
//! pyenv Python `~/.pyenv/versions/3.11.7`). A folder that would be `/` or the host user's home
//! is narrowed to the program's own folder.
//!
//! Executing is not allowed in the data directory: what a plugin runs comes from its package,
//! its interpreter or the system, never from a file it wrote itself.

use std::path::{Path, PathBuf};

use plugboard_protocol::Manifest;

use super::landlock::{Access, PathRule, Rules};
use super::process::PluginPaths;

/// The `PATH` plugin processes get, and where a bare program name is looked up.
pub const PLUGIN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Folders of the system that every plugin may read and execute.
pub const SYSTEM_FOLDERS: &[&str] = &[
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/nix/store",
];

/// The entries of `/etc` a plugin may read: the dynamic loader's cache, time zone, TLS trust
/// stores and OpenSSL configuration, name resolution, user and group names, MIME types, the
/// OS release, and Debian's per-Python-version folders (`/etc/python3.11`, found at build time).
pub const ETC_ENTRIES: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ld.so.preload",
    "localtime",
    "timezone",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "crypto-policies",
    "hosts",
    "resolv.conf",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "services",
    "protocols",
    "passwd",
    "group",
    "mime.types",
    "os-release",
];

const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

const PROC_AND_SYS: &[&str] = &["/proc", "/sys/devices/system/cpu", "/sys/fs/cgroup"];

/// True for the variables of plugboard itself (`PLUGBOARD_*`: its settings, the database URL,
/// the admin token), which no plugin receives whatever its `permissions.env` says.
pub fn is_host_variable(name: &str) -> bool {
    name.to_ascii_uppercase().starts_with("PLUGBOARD_")
}

/// The rules for one plugin process. `program` is the manifest's program as the host runs it
/// (a path in the package, an absolute path, or a bare name looked up on [`PLUGIN_PATH`]).
pub fn rules(manifest: &Manifest, paths: &PluginPaths, program: &Path) -> Rules {
    let mut rules = Vec::new();
    let mut add = |path: PathBuf, access: Access| rules.push(PathRule { path, access });
    add(paths.package_dir.clone(), Access::READ | Access::EXECUTE);
    add(paths.data_dir.clone(), Access::READ | Access::WRITE);
    for path in &manifest.permissions.read {
        add(PathBuf::from(path), Access::READ);
    }
    for path in &manifest.permissions.write {
        add(PathBuf::from(path), Access::READ | Access::WRITE);
    }
    for folder in SYSTEM_FOLDERS {
        add(PathBuf::from(folder), Access::READ | Access::EXECUTE);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for folder in program_folders(program, home.as_deref()) {
        add(folder, Access::READ | Access::EXECUTE);
    }
    for entry in etc_entries(Path::new("/etc")) {
        add(entry, Access::READ);
    }
    for device in DEVICES {
        add(PathBuf::from(device), Access::READ | Access::WRITE_FILES);
    }
    add(PathBuf::from("/dev/shm"), Access::READ | Access::WRITE);
    for path in PROC_AND_SYS {
        add(PathBuf::from(path), Access::READ);
    }
    Rules {
        paths: rules,
        deny_tcp: !manifest.permissions.network,
    }
}

/// Finds a bare program name on `search_path` the way `execvp` would: the first executable file.
pub fn locate_program(program: &Path, search_path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.components().count() != 1 || program.is_absolute() {
        return Some(program.to_path_buf());
    }
    search_path
        .split(':')
        .filter(|folder| !folder.is_empty())
        .map(|folder| Path::new(folder).join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// The installation folders of a program outside the system folders, as named and with its
/// links resolved; see the module documentation.
fn program_folders(program: &Path, home: Option<&Path>) -> Vec<PathBuf> {
    let Some(located) = locate_program(program, PLUGIN_PATH) else {
        return Vec::new();
    };
    let mut folders = Vec::new();
    let resolved = std::fs::canonicalize(&located).ok();
    for path in std::iter::once(located).chain(resolved) {
        let Some(folder) = installation_folder(&path, home) else {
            continue;
        };
        let in_system = SYSTEM_FOLDERS
            .iter()
            .any(|system| folder.starts_with(system));
        if !in_system && !folders.contains(&folder) {
            folders.push(folder);
        }
    }
    folders
}

fn installation_folder(program: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let folder = program.parent()?;
    let prefix = match folder.file_name().and_then(|name| name.to_str()) {
        Some("bin" | "sbin") => folder.parent().unwrap_or(folder),
        _ => folder,
    };
    if prefix == Path::new("/") || Some(prefix) == home {
        Some(folder.to_path_buf())
    } else {
        Some(prefix.to_path_buf())
    }
}

fn etc_entries(etc: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = ETC_ENTRIES.iter().map(|name| etc.join(name)).collect();
    // Debian's Python reads `sitecustomize.py` through a link into `/etc/python3.X`.
    if let Ok(listing) = std::fs::read_dir(etc) {
        for entry in listing.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                entries.push(entry.path());
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_above_bin_is_the_installation_unless_it_is_home_or_root() {
        let home = Path::new("/home/ada");
        let cases = [
            ("/home/ada/venv/bin/python3", "/home/ada/venv"),
            ("/opt/node/bin/node", "/opt/node"),
            ("/opt/tool/tool", "/opt/tool"),
            ("/home/ada/bin/python3", "/home/ada/bin"),
            ("/bin/sh", "/bin"),
        ];
        for (program, expected) in cases {
            assert_eq!(
                installation_folder(Path::new(program), Some(home)),
                Some(PathBuf::from(expected)),
                "{program}"
            );
        }
    }

    #[test]
    fn a_program_on_the_system_path_adds_no_folder() {
        assert_eq!(
            program_folders(Path::new("sh"), None),
            Vec::<PathBuf>::new()
        );
    }

    #[test]
    fn the_rules_follow_the_manifest() {
        let manifest = Manifest::parse(
            "id = \"p\"\nname = \"P\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"./run\"]\n[permissions]\nread = [\"/srv/shared\"]\nwrite = [\"/srv/out\"]\n",
        )
        .expect("a valid manifest");
        let paths = PluginPaths {
            package_dir: PathBuf::from("/plugins/p"),
            data_dir: PathBuf::from("/data/p"),
        };
        let rules = rules(&manifest, &paths, Path::new("/plugins/p/run"));
        let access = |path: &str| {
            rules
                .paths
                .iter()
                .find(|rule| rule.path == Path::new(path))
                .map(|rule| rule.access)
        };
        assert_eq!(access("/plugins/p"), Some(Access::READ | Access::EXECUTE));
        assert_eq!(access("/data/p"), Some(Access::READ | Access::WRITE));
        assert_eq!(access("/srv/shared"), Some(Access::READ));
        assert_eq!(access("/srv/out"), Some(Access::READ | Access::WRITE));
        assert_eq!(access("/etc/ld.so.cache"), Some(Access::READ));
        assert_eq!(access("/etc"), None, "not /etc as a whole");
        assert_eq!(access("/"), None);
        assert!(rules.deny_tcp, "network is off unless declared");
    }
}
