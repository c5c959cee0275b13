//! What this host can take away from its plugin processes, worked out once: who they run as
//! (`identity.rs`), whether they get namespaces of their own, and the cgroup tree their
//! instances live in (`cgroup.rs`). `process.rs` applies it to each process it starts;
//! `protections.rs` reports it.
//!
//! Owns: probing, once per host process, what the kernel allows (a namespace probe in a forked
//! child, the cgroup tree). Must not touch: the system calls between fork and exec
//! (`privileges.rs`, `landlock.rs`).

use std::sync::{Arc, OnceLock};

use super::cgroup::CgroupTree;
use super::identity::{Identities, PluginUser};

/// The host's means of confining plugin processes.
#[derive(Debug)]
pub struct Confinement {
    /// Who plugins run as.
    pub identities: Identities,
    /// The cgroup tree of this host's instances, or why there is none.
    pub cgroups: Result<Arc<CgroupTree>, String>,
    /// Whether network, IPC, mount and PID namespaces can be made (in a user namespace when the
    /// host is not root), or why not.
    pub namespaces: Result<(), String>,
}

impl Confinement {
    /// The confinement `plugin_user` asks for, with the kernel's answers (probed once per
    /// process and shared). With `users_record`, the users handed to plugins are kept in that
    /// file across restarts.
    pub fn new(policy: PluginUser, users_record: Option<std::path::PathBuf>) -> Confinement {
        let identities = match users_record {
            Some(record) => Identities::recorded(policy, record),
            None => Identities::new(policy),
        };
        Confinement {
            namespaces: namespaces_available(identities.host_is_root()).clone(),
            cgroups: cgroup_tree().clone(),
            identities,
        }
    }

    /// What the confinement `plugin_user` asks for would be, changing nothing (no cgroup is
    /// made, no folder of another host swept): for `plugboard doctor`.
    pub fn inspect(policy: PluginUser) -> Confinement {
        let identities = Identities::new(policy);
        Confinement {
            namespaces: namespaces_available(identities.host_is_root()).clone(),
            cgroups: CgroupTree::inspect().map(Arc::new),
            identities,
        }
    }

    /// The default confinement (`plugin_user = "auto"`), shared by everything in this process
    /// that does not name one.
    pub fn shared_default() -> Arc<Confinement> {
        static DEFAULT: OnceLock<Arc<Confinement>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| Arc::new(Confinement::new(PluginUser::Auto, None)))
            .clone()
    }

    /// True when a process needs a user namespace to make the others (the host is not root).
    pub fn needs_user_namespace(&self) -> bool {
        !self.identities.host_is_root()
    }

    /// Kills what is left in the instance cgroups and removes this host's folder: at stop.
    pub async fn remove_cgroups(&self) {
        if let Ok(tree) = &self.cgroups {
            tree.remove().await;
        }
    }
}

/// This process's cgroup tree, made once.
fn cgroup_tree() -> &'static Result<Arc<CgroupTree>, String> {
    static TREE: OnceLock<Result<Arc<CgroupTree>, String>> = OnceLock::new();
    TREE.get_or_init(|| CgroupTree::create().map(Arc::new))
}

/// Whether a child can make network, IPC, mount and PID namespaces (in a user namespace when
/// not root), asked once by forking a child that tries.
fn namespaces_available(host_is_root: bool) -> &'static Result<(), String> {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    ANSWER.get_or_init(|| {
        let mut flags =
            libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWNS | libc::CLONE_NEWPID;
        if !host_is_root {
            flags |= libc::CLONE_NEWUSER;
        }
        // SAFETY: the child calls only unshare and _exit, both async-signal-safe, then ends.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!(
                "cannot fork to probe namespaces: {}",
                std::io::Error::last_os_error()
            ));
        }
        if pid == 0 {
            // SAFETY: see above; the child never returns into Rust code.
            unsafe {
                let code = if libc::unshare(flags) == 0 {
                    0
                } else {
                    *libc::__errno_location()
                };
                libc::_exit(code.clamp(0, 255));
            }
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked; writes one int we own.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        if waited != pid || !libc::WIFEXITED(status) {
            return Err("the namespace probe did not exit normally".to_owned());
        }
        match libc::WEXITSTATUS(status) {
            0 => Ok(()),
            errno => {
                let error = std::io::Error::from_raw_os_error(errno);
                Err(if host_is_root {
                    format!("the kernel refuses new network, IPC, mount and PID namespaces ({error}); a container may need CAP_SYS_ADMIN or a seccomp profile that allows unshare")
                } else {
                    format!("the kernel refuses a user namespace to this user ({error}); allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0, or the AppArmor rule that restricts them)")
                })
            }
        }
    })
}
