//! Landlock write confinement for plugin processes, by raw system calls.
//!
//! The ruleset is built in the host before the fork (it opens paths and may fail in ways worth
//! reporting); the child only calls `landlock_restrict_self` on it between fork and exec, which
//! is a single async-signal-safe system call.
//!
//! What is confined: every way of changing the file system (writing, truncating, creating,
//! removing, renaming and linking files and folders) is allowed only beneath the plugin's data
//! directory, the manifest's `permissions.write` paths, and `/dev` (writing to devices such as
//! `/dev/null`) and `/dev/shm`. Reading is not confined yet: interpreters and their libraries
//! live outside the package (for example a Python under the user's home), and a read rule for
//! them needs a policy of its own.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const CREATE_RULESET: libc::c_long = 444;
const ADD_RULE: libc::c_long = 445;
const RESTRICT_SELF: libc::c_long = 446;
const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: libc::c_int = 1;

const WRITE_FILE: u64 = 1 << 1;
const REMOVE_DIR: u64 = 1 << 4;
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_DIR: u64 = 1 << 7;
const MAKE_REG: u64 = 1 << 8;
const MAKE_SOCK: u64 = 1 << 9;
const MAKE_FIFO: u64 = 1 << 10;
const MAKE_BLOCK: u64 = 1 << 11;
const MAKE_SYM: u64 = 1 << 12;
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version of the running kernel, or why there is none.
pub fn abi_version() -> Result<i32, String> {
    // SAFETY: with the VERSION flag the call reads no memory and returns the ABI version.
    let version = unsafe {
        libc::syscall(
            CREATE_RULESET,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    if version < 0 {
        return Err(format!(
            "Landlock is not available: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(version as i32)
}

fn write_access(abi: i32) -> u64 {
    let mut access = WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    if abi >= 2 {
        access |= REFER;
    }
    if abi >= 3 {
        access |= TRUNCATE;
    }
    access
}

/// A ruleset ready to be applied in a child.
pub struct Ruleset {
    fd: OwnedFd,
}

impl Ruleset {
    /// Builds the write rules: full write access beneath `writable`, device writes beneath `/dev`.
    /// Paths that do not exist are skipped.
    pub fn for_writes(writable: &[&Path]) -> Result<Ruleset, String> {
        let abi = abi_version()?;
        let handled = write_access(abi);
        let attr = RulesetAttr {
            handled_access_fs: handled,
        };
        // SAFETY: `attr` is a valid ruleset attribute of the size passed.
        let fd = unsafe {
            libc::syscall(
                CREATE_RULESET,
                &attr as *const RulesetAttr,
                std::mem::size_of::<RulesetAttr>(),
                0u32,
            )
        };
        if fd < 0 {
            return Err(format!(
                "creating a Landlock ruleset failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
        let ruleset = Ruleset {
            fd: unsafe { OwnedFd::from_raw_fd(fd as i32) },
        };
        for path in writable {
            ruleset.allow(path, handled)?;
        }
        ruleset.allow(Path::new("/dev/shm"), handled)?;
        ruleset.allow(Path::new("/dev"), handled & (WRITE_FILE | TRUNCATE))?;
        Ok(ruleset)
    }

    fn allow(&self, path: &Path, access: u64) -> Result<(), String> {
        let Ok(file) = std::fs::File::open(path) else {
            return Ok(());
        };
        // Directories get every right; a file only the rights that apply to files.
        let access = if file.metadata().map(|meta| meta.is_dir()).unwrap_or(false) {
            access
        } else {
            access & (WRITE_FILE | TRUNCATE)
        };
        let rule = PathBeneathAttr {
            allowed_access: access,
            parent_fd: file.as_raw_fd(),
        };
        // SAFETY: `rule` is a valid path-beneath attribute and both descriptors are open.
        let result = unsafe {
            libc::syscall(
                ADD_RULE,
                self.fd.as_raw_fd(),
                RULE_PATH_BENEATH,
                &rule as *const PathBeneathAttr,
                0u32,
            )
        };
        if result < 0 {
            return Err(format!(
                "adding a Landlock rule for {} failed: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// The descriptor to hand to [`restrict_self`] in the child.
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Applies a ruleset to the calling process. Async-signal-safe: for `pre_exec`. Requires
/// `no_new_privs` (set before).
pub fn restrict_self(ruleset_fd: i32) -> std::io::Result<()> {
    // SAFETY: one system call on a descriptor the parent kept open across the fork.
    let result = unsafe { libc::syscall(RESTRICT_SELF, ruleset_fd, 0u32) };
    if result < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
