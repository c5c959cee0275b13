//! Taking a plugin process's privileges away between fork and exec: its own user and group,
//! no capabilities (effective, permitted, inheritable, ambient or in the bounding set), locked
//! securebits, namespaces of its own, and a seccomp filter on the socket families it may open.
//!
//! Owns: the raw system calls and the order they must come in. Must not decide who a plugin
//! runs as (`identity.rs`) or which families it may use (`sandbox.rs` says whether it has the
//! network); it applies what it is handed.
//!
//! Everything here that runs in the child is async-signal-safe: no allocation, no locks, only
//! system calls on values prepared before the fork ([`PrivilegeDrop`] is built in the host).
//!
//! Why each step, against a plugin that would otherwise keep root's powers:
//! - **another uid and gid**: the kernel's own checks (files, `/proc/<pid>/environ` of the host
//!   and of other plugins, SysV shared memory, peer credentials on Unix sockets) now see an
//!   ordinary user, and `RLIMIT_NPROC` is enforced (root ignores it);
//! - **no capabilities, bounding set empty, securebits locked**: nothing the process or a
//!   program it runs does can give root's powers back (`CAP_SYS_PTRACE`, `CAP_NET_RAW`,
//!   `CAP_CHOWN`, `CAP_FOWNER`, `CAP_IPC_OWNER`, …);
//! - **network and IPC namespaces**: without `permissions.network` the process sees only a
//!   loopback of its own (no `AF_PACKET` on the host's `lo`, no abstract Unix sockets of the
//!   host), and never the host's SysV IPC objects;
//! - **a mount namespace** with a `/dev/shm` of its own (a size-capped tmpfs): no plugin reads
//!   or fills another's shared memory, and nothing of it outlives the process;
//! - **a session keyring of its own**: the host's keys are not the plugin's;
//! - **seccomp**: `socket()` only for the families the plugin may use (`AF_UNIX` only with
//!   `permissions.unix_sockets`, `AF_INET`, `AF_INET6` and `AF_NETLINK` only with
//!   `permissions.network`), `socketpair()` of Unix stream sockets only (a datagram pair could
//!   send to any socket by path), no user namespace of its own (`CLONE_NEWUSER` refused,
//!   `clone3` refused so the C library falls back to `clone`), and no `io_uring`, which could
//!   open sockets around the filter.
//!
//! Known limits: only x86_64 and aarch64 have a filter; a 32-bit program cannot run as a plugin
//! (its system calls are refused).

use std::ffi::CString;

/// The kernel's `SECBIT_*` flags this module sets.
const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;

/// `_LINUX_CAPABILITY_VERSION_3`.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// What to take away from one plugin process, prepared in the host before the fork.
pub struct PrivilegeDrop {
    /// Run as this user and group; `None` keeps the host's (the host is not root).
    pub identity: Option<(u32, u32)>,
    /// Namespaces to enter (`CLONE_NEW*` flags); 0 for none.
    pub namespaces: libc::c_int,
    /// Enter a user namespace first (a host that is not root needs one for the others).
    pub user_namespace: Option<UserNamespace>,
    /// The highest capability number of this kernel (`/proc/sys/kernel/cap_last_cap`).
    pub cap_last: u32,
    /// The seccomp program, or `None` where this architecture has none.
    pub seccomp: Option<Vec<libc::sock_filter>>,
    /// A `/dev/shm` of its own, mounted in its mount namespace (with `CLONE_NEWNS` in
    /// `namespaces`).
    pub private_shm: Option<PrivateShm>,
}

/// A tmpfs of the process's own on `/dev/shm`: POSIX shared memory that no other plugin sees,
/// capped in size, gone with the process.
pub struct PrivateShm {
    root: CString,
    target: CString,
    tmpfs: CString,
    options: CString,
}

impl PrivateShm {
    /// A `/dev/shm` of at most `size_mb` MiB.
    pub fn new(size_mb: u64) -> PrivateShm {
        let text = |value: &str| CString::new(value).expect("no NUL in a fixed string");
        PrivateShm {
            root: text("/"),
            target: text(SHM),
            tmpfs: text("tmpfs"),
            options: text(&format!("size={size_mb}m,mode=1777")),
        }
    }

    /// Makes every mount private to the namespace, then mounts the tmpfs. Async-signal-safe.
    fn mount(&self) -> std::io::Result<()> {
        // SAFETY: mount on NUL-terminated strings that live for the calls.
        unsafe {
            check(libc::mount(
                std::ptr::null(),
                self.root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                self.tmpfs.as_ptr(),
                self.target.as_ptr(),
                self.tmpfs.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                self.options.as_ptr().cast(),
            ))
        }
    }
}

/// Where POSIX shared memory lives.
pub const SHM: &str = "/dev/shm";

/// The maps of a user namespace, written by the process itself after it entered it: its own
/// uid and gid, mapped to themselves.
pub struct UserNamespace {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    setgroups: CString,
    uid_map_path: CString,
    gid_map_path: CString,
}

impl UserNamespace {
    /// The maps for the calling user.
    pub fn for_current_user() -> UserNamespace {
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let path = |name: &str| {
            CString::new(format!("/proc/self/{name}")).expect("no NUL in a fixed path")
        };
        UserNamespace {
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            setgroups: path("setgroups"),
            uid_map_path: path("uid_map"),
            gid_map_path: path("gid_map"),
        }
    }
}

impl PrivilegeDrop {
    /// Applies everything, in the order the kernel needs: namespaces while privileged,
    /// securebits and the bounding set while `CAP_SETPCAP` is held, then the user and group
    /// (which clears the capabilities), then an explicit empty capability set. The seccomp
    /// filter is applied by [`PrivilegeDrop::apply_seccomp`], after `no_new_privs` and Landlock.
    ///
    /// Async-signal-safe: for `pre_exec`.
    pub fn apply(&self) -> std::io::Result<()> {
        if let Some(user_namespace) = &self.user_namespace {
            // SAFETY: unshare and prctl take integers only.
            unsafe {
                check(libc::unshare(libc::CLONE_NEWUSER | self.namespaces))?;
                // The host is not dumpable, and neither is this copy of it, so its /proc/self
                // files belong to root: for the three writes of its maps it must be its own.
                check(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0))?;
            }
            let written = write_file(&user_namespace.setgroups, b"deny\n")
                .and_then(|()| write_file(&user_namespace.uid_map_path, &user_namespace.uid_map))
                .and_then(|()| write_file(&user_namespace.gid_map_path, &user_namespace.gid_map));
            // SAFETY: as above.
            unsafe {
                check(libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0))?;
            }
            written?;
        } else if self.namespaces != 0 {
            // SAFETY: unshare takes flags only.
            check(unsafe { libc::unshare(self.namespaces) })?;
        }
        if let Some(shm) = &self.private_shm {
            shm.mount()?;
        }
        // SAFETY: prctl with integer arguments only.
        unsafe {
            check(libc::prctl(
                libc::PR_SET_SECUREBITS,
                SECBIT_NOROOT
                    | SECBIT_NOROOT_LOCKED
                    | SECBIT_NO_SETUID_FIXUP_LOCKED
                    | SECBIT_KEEP_CAPS_LOCKED
                    | SECBIT_NO_CAP_AMBIENT_RAISE
                    | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
            ))?;
            for capability in 0..=self.cap_last {
                check(libc::prctl(
                    libc::PR_CAPBSET_DROP,
                    capability as libc::c_ulong,
                    0,
                    0,
                    0,
                ))?;
            }
            check(libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            ))?;
        }
        if let Some((uid, gid)) = self.identity {
            // SAFETY: setgroups with an empty list reads no memory; the set*id calls take ids.
            unsafe {
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setresgid(gid, gid, gid))?;
                check(libc::setresuid(uid, uid, uid))?;
            }
        }
        // A session keyring of its own: the host's (a service manager may keep secrets in it)
        // would otherwise be the plugin's to read and change.
        const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
        // SAFETY: keyctl with a null name takes no memory.
        let joined = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_JOIN_SESSION_KEYRING,
                std::ptr::null::<libc::c_char>(),
            )
        };
        if joined < 0 {
            let error = std::io::Error::last_os_error();
            // Without keys in the kernel, or with keyctl refused to every process here (the
            // default seccomp profile of container engines), no plugin can reach a keyring.
            if !matches!(error.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
                return Err(error);
            }
        }
        // What it creates is its own unless it says otherwise.
        // SAFETY: umask takes a mode and cannot fail.
        unsafe {
            libc::umask(0o077);
        }
        let header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        // SAFETY: capset reads a version-3 header and two data structures that live for the call.
        check(unsafe {
            libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr())
                as libc::c_int
        })?;
        Ok(())
    }

    /// Installs the seccomp filter. Async-signal-safe; requires `no_new_privs` (set before).
    pub fn apply_seccomp(&self) -> std::io::Result<()> {
        let Some(program) = &self.seccomp else {
            return Ok(());
        };
        let fprog = libc::sock_fprog {
            len: program.len() as libc::c_ushort,
            filter: program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the program lives for the call; the kernel copies it.
        check(unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &fprog as *const libc::sock_fprog as libc::c_ulong,
                0,
                0,
            )
        })
    }
}

fn check(result: libc::c_int) -> std::io::Result<()> {
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Writes `bytes` to the file at `path` in one `write`. Async-signal-safe.
fn write_file(path: &CString, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: open, write and close on a NUL-terminated path and a buffer that live for the calls.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if written != bytes.len() as isize {
            return Err(error);
        }
    }
    Ok(())
}

/// The highest capability number of the running kernel (40 on Linux 5.9 and later).
pub fn cap_last() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(40)
}

/// Marks every descriptor above stderr close-on-exec, so nothing the host inherited or opened
/// reaches the plugin. Async-signal-safe.
pub fn close_inherited_descriptors() -> std::io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes integers only.
    let result =
        unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if result < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the host process not dumpable: its `/proc/<pid>/` entries (environ, memory, maps)
/// belong to root and no process without `CAP_SYS_PTRACE` may attach to it or read them.
pub fn make_host_undumpable() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) })
}

/// Which socket families a plugin may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketFamilies {
    /// `AF_INET`, `AF_INET6` and `AF_NETLINK` (name resolution asks the kernel for addresses).
    pub network: bool,
    /// `AF_UNIX`.
    pub unix: bool,
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// The seccomp program for `families`, or `None` on an architecture without one.
pub fn seccomp_program(families: SocketFamilies) -> Option<Vec<libc::sock_filter>> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        Some(socket_filter(families))
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = families;
        None
    }
}

/// One instruction of a filter being written, with jumps to named places.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
enum Step {
    /// Load a 32-bit word of `seccomp_data` at this offset.
    Load(u32),
    /// `A &= k`.
    And(u32),
    /// Jump to `then` if `A == k`, else to `otherwise` (`None`: the next instruction).
    JumpIf {
        k: u32,
        greater_or_equal: bool,
        then: &'static str,
        otherwise: Option<&'static str>,
    },
    /// Return this action.
    Return(u32),
    /// A place jumps may go to.
    Place(&'static str),
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn assemble(steps: &[Step]) -> Vec<libc::sock_filter> {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut places = std::collections::HashMap::new();
    let mut index = 0usize;
    for step in steps {
        match step {
            Step::Place(name) => {
                places.insert(*name, index);
            }
            _ => index += 1,
        }
    }
    let mut program = Vec::with_capacity(index);
    let offset = |from: usize, to: &str| -> u8 {
        let target = places[to];
        u8::try_from(target - from - 1).expect("a filter short enough for one-byte jumps")
    };
    for step in steps {
        let here = program.len();
        let instruction = match step {
            Step::Place(_) => continue,
            Step::Load(k) => libc::sock_filter {
                code: LD_W_ABS,
                jt: 0,
                jf: 0,
                k: *k,
            },
            Step::And(k) => libc::sock_filter {
                code: AND_K,
                jt: 0,
                jf: 0,
                k: *k,
            },
            Step::JumpIf {
                k,
                greater_or_equal,
                then,
                otherwise,
            } => libc::sock_filter {
                code: if *greater_or_equal { JGE_K } else { JEQ_K },
                jt: offset(here, then),
                jf: otherwise.map_or(0, |place| offset(here, place)),
                k: *k,
            },
            Step::Return(k) => libc::sock_filter {
                code: RET_K,
                jt: 0,
                jf: 0,
                k: *k,
            },
        };
        program.push(instruction);
    }
    program
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn socket_filter(families: SocketFamilies) -> Vec<libc::sock_filter> {
    const OFFSET_NR: u32 = 0;
    const OFFSET_ARCH: u32 = 4;
    const OFFSET_ARG0: u32 = 16;
    const OFFSET_ARG1: u32 = 24;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const SOCK_TYPE_MASK: u32 = 0xf;
    let refuse = |errno: i32| libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA);
    let is = |k: u32, then: &'static str| Step::JumpIf {
        k,
        greater_or_equal: false,
        then,
        otherwise: None,
    };

    let mut steps = vec![
        // Another architecture's system calls (a 32-bit program) are refused whole: their
        // numbers mean other calls.
        Step::Load(OFFSET_ARCH),
        Step::JumpIf {
            k: AUDIT_ARCH,
            greater_or_equal: false,
            then: "native",
            otherwise: Some("enosys"),
        },
        Step::Place("native"),
        Step::Load(OFFSET_NR),
    ];
    if cfg!(target_arch = "x86_64") {
        // The x32 ABI numbers its calls from bit 30 on: refused the same way.
        steps.push(Step::JumpIf {
            k: X32_SYSCALL_BIT,
            greater_or_equal: true,
            then: "enosys",
            otherwise: None,
        });
    }
    steps.extend([
        // io_uring could open sockets around this filter; clone3 passes its flags in memory
        // the filter cannot read (the C library falls back to clone).
        is(libc::SYS_io_uring_setup as u32, "enosys"),
        is(libc::SYS_clone3 as u32, "enosys"),
        is(libc::SYS_unshare as u32, "flags"),
        is(libc::SYS_clone as u32, "flags"),
        is(libc::SYS_socket as u32, "family"),
        is(libc::SYS_socketpair as u32, "pair"),
        Step::Return(libc::SECCOMP_RET_ALLOW),
        // No user namespace of its own: inside one a process has every capability over what
        // the namespace owns, and the kernel code that trusts them (nf_tables, raw sockets).
        Step::Place("flags"),
        Step::Load(OFFSET_ARG0),
        Step::And(libc::CLONE_NEWUSER as u32),
        is(0, "allow"),
        Step::Return(refuse(libc::EPERM)),
        // A connected pair of Unix stream sockets reaches nothing outside (asyncio's self-pipe);
        // a datagram pair could send to any socket by path.
        Step::Place("pair"),
        Step::Load(OFFSET_ARG0),
    ]);
    if families.unix {
        steps.push(is(libc::AF_UNIX as u32, "allow"));
        steps.push(Step::Return(refuse(libc::EACCES)));
    } else {
        steps.extend([
            Step::JumpIf {
                k: libc::AF_UNIX as u32,
                greater_or_equal: false,
                then: "pair-type",
                otherwise: Some("eacces"),
            },
            Step::Place("pair-type"),
            Step::Load(OFFSET_ARG1),
            Step::And(SOCK_TYPE_MASK),
            is(libc::SOCK_STREAM as u32, "allow"),
            Step::Return(refuse(libc::EACCES)),
        ]);
    }
    steps.push(Step::Place("family"));
    steps.push(Step::Load(OFFSET_ARG0));
    if families.unix {
        steps.push(is(libc::AF_UNIX as u32, "allow"));
    }
    if families.network {
        for family in [libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK] {
            steps.push(is(family as u32, "allow"));
        }
    }
    steps.extend([
        Step::Place("eacces"),
        Step::Return(refuse(libc::EACCES)),
        Step::Place("enosys"),
        Step::Return(refuse(libc::ENOSYS)),
        Step::Place("allow"),
        Step::Return(libc::SECCOMP_RET_ALLOW),
    ]);
    assemble(&steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_of_the_filter_lands_inside_it() {
        for network in [false, true] {
            for unix in [false, true] {
                let program = socket_filter(SocketFamilies { network, unix });
                for (index, instruction) in program.iter().enumerate() {
                    if instruction.code & 0x07 == libc::BPF_JMP as u16 {
                        let last = index + 1 + instruction.jt.max(instruction.jf) as usize;
                        assert!(last < program.len(), "jump at {index} leaves the program");
                    }
                }
                let last = program.last().expect("a program");
                assert_eq!(
                    last.code & 0x07,
                    libc::BPF_RET as u16,
                    "it ends in a return"
                );
            }
        }
    }
}
