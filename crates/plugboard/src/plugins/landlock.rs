//! Landlock for plugin processes, by raw system calls: what the running kernel supports, and a
//! ruleset built from a list of paths with their rights.
//!
//! The ruleset is built in the host before the fork (it opens paths and may fail in ways worth
//! reporting); the child only calls `landlock_restrict_self` on it between fork and exec, which
//! is a single async-signal-safe system call.
//!
//! Owns: the kernel's constants and structures, and which of them each ABI version has. Must not
//! decide what a plugin may reach: that policy is `sandbox.rs`'s, which hands over [`Rules`].
//!
//! What a ruleset confines, by ABI version:
//! - 1 (Linux 5.13): reading files and listing folders, executing, and every way of changing
//!   the file system (writing, creating, removing files and folders). Allowed only beneath the
//!   paths of [`Rules::paths`], each with its own rights.
//! - 2 (5.19): renaming and linking across folders (`REFER`).
//! - 3 (6.2): truncating.
//! - 4 (6.7): TCP `bind` and `connect`, when [`Rules::deny_tcp`] is set (UDP, and so DNS, and
//!   Unix sockets are not network rights in Landlock).
//! - 6 (6.12): signals to processes outside the plugin's own (the host, other plugins), and, with
//!   [`Rules::deny_tcp`], connecting to abstract Unix sockets outside it.
//!
//! Device `ioctl`s (ABI 5) are not handled. A landlocked process also cannot `ptrace` or read
//! the memory and environment (`/proc/<pid>/environ`) of processes outside its domain, whatever
//! the rules say.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

const CREATE_RULESET: libc::c_long = 444;
const ADD_RULE: libc::c_long = 445;
const RESTRICT_SELF: libc::c_long = 446;
const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: libc::c_int = 1;

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
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
/// The rights a rule on a file (not a folder) may carry; the kernel refuses the others there.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE;

const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;

const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// The first ABI version with TCP rules.
pub const NETWORK_ABI: i32 = 4;
/// The first ABI version with signal and abstract Unix socket scoping.
pub const SCOPE_ABI: i32 = 6;

/// `struct landlock_ruleset_attr` as of ABI 6; older kernels are given a shorter prefix of it.
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// Rights on a path, combined with `|`: [`Access::READ`], [`Access::WRITE`],
/// [`Access::WRITE_FILES`], [`Access::EXECUTE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access(u8);

impl Access {
    /// Read files and list folders.
    pub const READ: Access = Access(1);
    /// Write, truncate, create, remove, rename and link files and folders.
    pub const WRITE: Access = Access(2);
    /// Execute files.
    pub const EXECUTE: Access = Access(4);
    /// Write and truncate files that exist, create and remove nothing (devices).
    pub const WRITE_FILES: Access = Access(8);

    /// True if every right of `other` is in `self`.
    pub fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Access {
    type Output = Access;
    fn bitor(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }
}

/// One path and the rights granted beneath it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    pub path: PathBuf,
    pub access: Access,
}

/// What a ruleset allows: everything not listed is denied, for the rights the kernel handles.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Paths and their rights. Paths that do not exist are skipped.
    pub paths: Vec<PathRule>,
    /// Deny TCP bind and connect (where the ABI has network rules).
    pub deny_tcp: bool,
}

/// What the running kernel's Landlock can confine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    /// The ABI version, or why there is none (0 is never stored: it is an `Err`).
    pub abi: Result<i32, String>,
}

impl Support {
    /// Asks the kernel.
    pub fn probe() -> Support {
        Support { abi: abi_version() }
    }

    /// Reads, writes and executions are confined (ABI 1 and later).
    pub fn file_system(&self) -> bool {
        self.abi.is_ok()
    }

    /// TCP bind and connect can be denied.
    pub fn network(&self) -> bool {
        matches!(self.abi, Ok(abi) if abi >= NETWORK_ABI)
    }

    /// Signals to processes outside the plugin's can be denied.
    pub fn signals(&self) -> bool {
        matches!(self.abi, Ok(abi) if abi >= SCOPE_ABI)
    }
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
        let error = std::io::Error::last_os_error();
        let hint = match error.raw_os_error() {
            Some(libc::ENOSYS) => "the kernel is older than Linux 5.13 or built without it",
            Some(libc::EOPNOTSUPP) => {
                "it is built in but not enabled; add `landlock` to the kernel's `lsm=` boot parameter"
            }
            _ => "the system call failed",
        };
        return Err(format!("Landlock is not available ({error}): {hint}"));
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

fn kernel_access(access: Access, abi: i32) -> u64 {
    let mut bits = 0;
    if access.contains(Access::READ) {
        bits |= READ_FILE | READ_DIR;
    }
    if access.contains(Access::WRITE) {
        bits |= write_access(abi);
    }
    if access.contains(Access::WRITE_FILES) {
        bits |= write_access(abi) & (WRITE_FILE | TRUNCATE);
    }
    if access.contains(Access::EXECUTE) {
        bits |= EXECUTE;
    }
    bits
}

/// A ruleset ready to be applied in a child.
pub struct Ruleset {
    fd: OwnedFd,
}

impl Ruleset {
    /// Builds a ruleset that handles every file-system right the kernel knows, the TCP rights
    /// when `rules.deny_tcp` and the ABI has them, and signal scoping where the ABI has it.
    ///
    /// # Errors
    /// Landlock unavailable (the reason from [`abi_version`]), or a rule the kernel refused.
    pub fn build(rules: &Rules) -> Result<Ruleset, String> {
        let abi = abi_version()?;
        let handled_fs = kernel_access(Access::READ | Access::WRITE | Access::EXECUTE, abi);
        let deny_tcp = rules.deny_tcp && abi >= NETWORK_ABI;
        let mut scoped = 0;
        if abi >= SCOPE_ABI {
            scoped |= SCOPE_SIGNAL;
            if rules.deny_tcp {
                scoped |= SCOPE_ABSTRACT_UNIX_SOCKET;
            }
        }
        let attr = RulesetAttr {
            handled_access_fs: handled_fs,
            handled_access_net: if deny_tcp {
                NET_BIND_TCP | NET_CONNECT_TCP
            } else {
                0
            },
            scoped,
        };
        // Older kernels refuse a structure longer than theirs unless its tail is zero; give
        // them only the fields they know.
        let size = if abi >= SCOPE_ABI {
            24
        } else if abi >= NETWORK_ABI {
            16
        } else {
            8
        };
        // SAFETY: `attr` is a valid ruleset attribute at least `size` bytes long.
        let fd = unsafe {
            libc::syscall(
                CREATE_RULESET,
                &attr as *const RulesetAttr,
                size as libc::size_t,
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
        for rule in &rules.paths {
            ruleset.allow(&rule.path, kernel_access(rule.access, abi))?;
        }
        Ok(ruleset)
    }

    fn allow(&self, path: &Path, access: u64) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        // O_PATH: no read permission needed, and no side effect of opening (a FIFO, a device).
        let Ok(file) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(path)
        else {
            return Ok(());
        };
        // Folders get every right; a file only the rights that apply to files.
        let access = if file.metadata().map(|meta| meta.is_dir()).unwrap_or(false) {
            access
        } else {
            access & FILE_RIGHTS
        };
        if access == 0 {
            return Ok(());
        }
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

/// The kernel's rights for reading and writing beneath a folder, on this kernel's ABI: for
/// [`allow_in_child`].
pub fn read_write_rights() -> u64 {
    abi_version()
        .map(|abi| kernel_access(Access::READ | Access::WRITE, abi))
        .unwrap_or(0)
}

/// Adds a rule for a folder that exists only in the child (a mount of its own), after the fork:
/// `rights` beneath `path`. Async-signal-safe: for `pre_exec`, before [`restrict_self`].
pub fn allow_in_child(ruleset_fd: i32, path: &std::ffi::CStr, rights: u64) -> std::io::Result<()> {
    // SAFETY: open of a NUL-terminated path, one system call on a structure that lives for it,
    // and close of the descriptor opened here.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let rule = PathBeneathAttr {
            allowed_access: rights,
            parent_fd: fd,
        };
        let result = libc::syscall(
            ADD_RULE,
            ruleset_fd,
            RULE_PATH_BENEATH,
            &rule as *const PathBeneathAttr,
            0u32,
        );
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if result < 0 {
            return Err(error);
        }
    }
    Ok(())
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
