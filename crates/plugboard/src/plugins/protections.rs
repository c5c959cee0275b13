//! Which protections plugin processes get on this machine: the facts behind `plugboard doctor`,
//! the `sandbox` check of `/api/v1/health` and the warnings `serve` logs once at start.
//!
//! Owns: probing the kernel and the host's limits without changing anything (no `prctl` that
//! sets, no ruleset applied to the host). Must not touch: how a process is confined
//! (`process.rs`, `landlock.rs`) or what it may reach (`sandbox.rs`); it only reports on them.
//!
//! Known limit: the probe asks the kernel what it supports; it does not start a confined process
//! to prove it. The tests in `tests.rs` do that.

use plugboard_protocol::manifest::Limits;
use serde::Serialize;

use super::confinement::Confinement;
use super::identity::PluginUser;
use super::landlock;

/// Whether a protection is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Applied to every plugin process.
    InForce,
    /// Not available here; plugins run without it.
    Missing,
    /// Plugins cannot start as configured until this is fixed.
    Broken,
}

impl Status {
    /// The words people read.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InForce => "in force",
            Status::Missing => "missing",
            Status::Broken => "broken",
        }
    }
}

/// One protection and what is known about it here.
#[derive(Debug, Clone, Serialize)]
pub struct Protection {
    /// Stable key for scripts: `landlock.file_reads`, `rlimit.open_files`, …
    pub id: &'static str,
    /// Its name for people.
    pub name: &'static str,
    pub status: Status,
    /// What is enforced, or why not and what to do.
    pub detail: String,
}

/// Every protection of plugin processes on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct Protections {
    /// The kernel's Landlock ABI version; absent without Landlock.
    pub landlock_abi: Option<i32>,
    pub protections: Vec<Protection>,
}

impl Protections {
    /// Asks the kernel and reads this process's limits, for plugins confined as `confinement`
    /// says.
    pub fn probe(confinement: &Confinement) -> Protections {
        let support = landlock::Support::probe();
        let mut protections = landlock_protections(&support);
        protections.push(prctl_protection(
            "no_new_privs",
            "no_new_privs",
            libc::PR_GET_NO_NEW_PRIVS,
            "a plugin cannot gain privileges through set-user-id programs or file capabilities",
        ));
        protections.push(prctl_protection(
            "parent_death_signal",
            "parent-death signal",
            libc::PR_GET_PDEATHSIG,
            "a plugin is killed when the host dies, even by kill -9",
        ));
        protections.push(Protection {
            id: "process_groups",
            name: "process groups",
            status: Status::InForce,
            detail: "each plugin process leads its own group; a stop reaches what it started"
                .to_owned(),
        });
        protections.extend(rlimit_protections(confinement));
        protections.extend(privilege_protections(confinement));
        Protections {
            landlock_abi: support.abi.ok(),
            protections,
        }
    }

    /// True when nothing is broken (missing protections are allowed).
    pub fn ok(&self) -> bool {
        self.protections
            .iter()
            .all(|protection| protection.status != Status::Broken)
    }

    /// The `sandbox` check of `/api/v1/health`: `ok`, the Landlock ABI, and each protection's
    /// status by id (the details are `plugboard doctor`'s).
    pub fn health_check(&self) -> serde_json::Value {
        let statuses: serde_json::Map<String, serde_json::Value> = self
            .protections
            .iter()
            .map(|protection| {
                (
                    protection.id.to_owned(),
                    serde_json::json!(protection.status),
                )
            })
            .collect();
        serde_json::json!({
            "ok": self.ok(),
            "landlock_abi": self.landlock_abi,
            "protections": statuses,
        })
    }

    /// Logs one warning per missing protection and one error per broken one: once, at start.
    pub fn log_missing(&self) {
        for protection in &self.protections {
            match protection.status {
                Status::InForce => {}
                Status::Missing => tracing::warn!(
                    "plugin protection missing, {}: {}",
                    protection.name,
                    protection.detail
                ),
                Status::Broken => tracing::error!(
                    "plugin protection {} is broken: {}",
                    protection.name,
                    protection.detail
                ),
            }
        }
    }
}

fn landlock_protections(support: &landlock::Support) -> Vec<Protection> {
    let abi = match &support.abi {
        Ok(abi) => *abi,
        Err(reason) => {
            let missing = |id, name| Protection {
                id,
                name,
                status: Status::Missing,
                detail: format!(
                    "{reason}; plugins may read and write whatever the user plugboard runs as may"
                ),
            };
            return vec![
                Protection {
                    id: "landlock",
                    name: "Landlock",
                    status: Status::Missing,
                    detail: reason.clone(),
                },
                missing("landlock.file_reads", "Landlock file reads"),
                missing("landlock.file_writes", "Landlock file writes"),
                missing("landlock.network", "Landlock network"),
                missing("landlock.signals", "Landlock signal scoping"),
            ];
        }
    };
    let mut protections = vec![
        Protection {
            id: "landlock",
            name: "Landlock",
            status: Status::InForce,
            detail: format!("ABI version {abi}"),
        },
        Protection {
            id: "landlock.file_reads",
            name: "Landlock file reads",
            status: Status::InForce,
            detail: "the package, the data directory, permissions.read and permissions.write, system folders, named /etc entries, /proc".to_owned(),
        },
        Protection {
            id: "landlock.file_writes",
            name: "Landlock file writes",
            status: Status::InForce,
            detail: "the data directory, permissions.write, /dev/shm and harmless devices".to_owned(),
        },
    ];
    protections.push(if support.network() {
        Protection {
            id: "landlock.network",
            name: "Landlock network",
            status: Status::InForce,
            detail: "TCP bind and connect denied unless the manifest sets permissions.network"
                .to_owned(),
        }
    } else {
        Protection {
            id: "landlock.network",
            name: "Landlock network",
            status: Status::Missing,
            detail: format!("Landlock ABI {abi} has no TCP rules (ABI {} is Linux 6.7); plugins may connect anywhere whatever permissions.network says", landlock::NETWORK_ABI),
        }
    });
    protections.push(if support.signals() {
        Protection {
            id: "landlock.signals",
            name: "Landlock signal scoping",
            status: Status::InForce,
            detail: "a plugin cannot signal the host or other plugins".to_owned(),
        }
    } else {
        Protection {
            id: "landlock.signals",
            name: "Landlock signal scoping",
            status: Status::Missing,
            detail: format!("Landlock ABI {abi} has no scoping (ABI {} is Linux 6.12); a plugin may signal processes of the same user, the host among them", landlock::SCOPE_ABI),
        }
    });
    protections
}

fn prctl_protection(
    id: &'static str,
    name: &'static str,
    option: libc::c_int,
    what: &str,
) -> Protection {
    let mut value: libc::c_int = 0;
    // PR_GET_PDEATHSIG writes one int through its argument; PR_GET_NO_NEW_PRIVS wants zeros.
    let argument: libc::c_ulong = if option == libc::PR_GET_PDEATHSIG {
        &mut value as *mut libc::c_int as libc::c_ulong
    } else {
        0
    };
    // SAFETY: the GET options only read this process's state; the pointer, when passed, is to
    // an int that lives for the call.
    let result = unsafe {
        libc::prctl(
            option,
            argument,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if result < 0 {
        Protection {
            id,
            name,
            status: Status::Broken,
            detail: format!(
                "the kernel refuses it ({}): plugins cannot start; plugboard needs Linux 3.5 or later",
                std::io::Error::last_os_error()
            ),
        }
    } else {
        Protection {
            id,
            name,
            status: Status::InForce,
            detail: what.to_owned(),
        }
    }
}

fn rlimit_protections(confinement: &Confinement) -> Vec<Protection> {
    let defaults = Limits::default();
    let privileged = is_root();
    // Root's processes ignore RLIMIT_NPROC: it holds only for plugins that run as another user.
    let plugins_are_root = privileged && confinement.identities.keeps_host_user();
    let limit = |id: &'static str,
                 name: &'static str,
                 resource,
                 default: Option<u64>,
                 unit: &str,
                 field: &str,
                 how_to_raise: &str| {
        let hard = hard_limit(resource);
        let hard_text = match hard {
            Some(hard) => format!("hard limit {hard}{unit}"),
            None => "no hard limit".to_owned(),
        };
        let default_text = match default {
            Some(value) => format!("default {value}{unit}"),
            None => format!("only when the manifest sets limits.{field}"),
        };
        let too_high = matches!((default, hard), (Some(value), Some(hard)) if value > hard);
        if too_high && !privileged {
            Protection {
                id,
                name,
                status: Status::Broken,
                detail: format!("{default_text} is above this user's {hard_text}: plugins without a lower limits.{field} cannot start; raise the hard limit ({how_to_raise}) or set limits.{field} in their manifests"),
            }
        } else {
            Protection {
                id,
                name,
                status: Status::InForce,
                detail: format!("{default_text}, set as soft and hard limit; {hard_text}"),
            }
        }
    };
    let mib = |resource| hard_limit(resource).map(|bytes| bytes / (1024 * 1024));
    let address_space = {
        let mut protection = limit(
            "rlimit.address_space",
            "rlimit address space",
            libc::RLIMIT_AS,
            Some(defaults.memory_mb.saturating_mul(1024 * 1024)),
            " bytes",
            "memory_mb",
            "ulimit -Hv, LimitAS= in a systemd unit",
        );
        // Bytes are unreadable; say it in MiB.
        let hard = match mib(libc::RLIMIT_AS) {
            Some(hard) => format!("hard limit {hard} MiB"),
            None => "no hard limit".to_owned(),
        };
        if protection.status == Status::InForce {
            protection.detail = format!(
                "default {} MiB (limits.memory_mb), set as soft and hard limit; {hard}",
                defaults.memory_mb
            );
        }
        protection
    };
    vec![
        address_space,
        limit(
            "rlimit.open_files",
            "rlimit open files",
            libc::RLIMIT_NOFILE,
            Some(defaults.open_files),
            "",
            "open_files",
            "ulimit -Hn, LimitNOFILE= in a systemd unit",
        ),
        if plugins_are_root {
            Protection {
                id: "rlimit.processes",
                name: "rlimit processes",
                status: Status::Missing,
                detail: "plugins run as root, which the kernel exempts from RLIMIT_NPROC: a plugin may start any number of processes; set plugin_user to `auto` or a user".to_owned(),
            }
        } else {
            limit(
                "rlimit.processes",
                "rlimit processes",
                libc::RLIMIT_NPROC,
                Some(defaults.processes),
                "",
                "processes",
                "ulimit -Hu, LimitNPROC= in a systemd unit",
            )
        },
        limit(
            "rlimit.cpu_time",
            "rlimit CPU time",
            libc::RLIMIT_CPU,
            defaults.cpu_seconds,
            " s",
            "cpu_seconds",
            "ulimit -Ht, LimitCPU= in a systemd unit",
        ),
    ]
}

/// The hard limit of `resource` for this process; `None` when unlimited or unreadable.
fn hard_limit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct we own.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0
        || limit.rlim_max == libc::RLIM_INFINITY
    {
        return None;
    }
    #[allow(
        clippy::unnecessary_cast,
        reason = "rlim_t is 32 bits wide on 32-bit targets"
    )]
    let hard = limit.rlim_max as u64;
    Some(hard)
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

fn privilege_protections(confinement: &Confinement) -> Vec<Protection> {
    let identities = &confinement.identities;
    let root = is_root();
    let user = match (identities.policy(), root) {
        (PluginUser::Host, true) => Protection {
            id: "unprivileged_user",
            name: "unprivileged user",
            status: Status::Missing,
            detail: "plugin_user = \"host\" and plugboard runs as root: plugins run as root without capabilities; set plugin_user to `auto` or a user of their own".to_owned(),
        },
        (PluginUser::Fixed { uid, gid }, _) => Protection {
            id: "unprivileged_user",
            name: "unprivileged user",
            status: Status::InForce,
            detail: format!("plugins run as uid {uid}, gid {gid} (plugin_user)"),
        },
        (_, true) => Protection {
            id: "unprivileged_user",
            name: "unprivileged user",
            status: Status::InForce,
            detail: format!(
                "each plugin runs as a user and group of its own, from uid {} on",
                super::identity::PLUGIN_ID_BASE
            ),
        },
        (_, false) => Protection {
            id: "unprivileged_user",
            name: "unprivileged user",
            status: Status::InForce,
            detail: "plugins run as the user plugboard runs as, which is not root".to_owned(),
        },
    };
    let capabilities = Protection {
        id: "capabilities",
        name: "no capabilities",
        status: Status::InForce,
        detail: "effective, permitted, inheritable, ambient and bounding sets emptied, securebits locked".to_owned(),
    };
    let namespaces = match &confinement.namespaces {
        Ok(()) => Protection {
            id: "namespaces",
            name: "network and IPC namespaces",
            status: Status::InForce,
            detail: if confinement.needs_user_namespace() {
                "in a user namespace: a network namespace of its own without permissions.network (no host loopback, no abstract Unix sockets of the host), an IPC namespace and a mount namespace with a /dev/shm of its own always".to_owned()
            } else {
                "a network namespace of its own without permissions.network (no host loopback, no abstract Unix sockets of the host), an IPC namespace and a mount namespace with a /dev/shm of its own always".to_owned()
            },
        },
        Err(reason) => Protection {
            id: "namespaces",
            name: "network and IPC namespaces",
            status: Status::Missing,
            detail: format!("{reason}; plugins share the host's network and SysV IPC (Landlock and seccomp still hold where present)"),
        },
    };
    let seccomp = if super::privileges::seccomp_program(super::privileges::SocketFamilies {
        network: false,
        unix: false,
    })
    .is_some()
    {
        Protection {
            id: "seccomp",
            name: "seccomp socket filter",
            status: Status::InForce,
            detail: "socket() only for the families a plugin may use (AF_UNIX with permissions.unix_sockets; AF_INET, AF_INET6, AF_NETLINK with permissions.network), socketpair() of stream sockets; no user namespace, io_uring or 32-bit system calls".to_owned(),
        }
    } else {
        Protection {
            id: "seccomp",
            name: "seccomp socket filter",
            status: Status::Missing,
            detail: "plugboard has no filter for this architecture (only x86_64 and aarch64)"
                .to_owned(),
        }
    };
    let (tree, limits) = match &confinement.cgroups {
        Ok(tree) => {
            let tree_protection = Protection {
                id: "cgroup.tree",
                name: "cgroup per instance",
                status: Status::InForce,
                detail: format!(
                    "each instance's whole process tree lives in a cgroup beneath {} and is killed with it",
                    tree.root().display()
                ),
            };
            let limits = match tree.controllers_missing() {
                None => Protection {
                    id: "cgroup.limits",
                    name: "cgroup limits",
                    status: Status::InForce,
                    detail: "pids.max (limits.processes) and memory.max (limits.memory_mb) per instance".to_owned(),
                },
                Some(reason) => Protection {
                    id: "cgroup.limits",
                    name: "cgroup limits",
                    status: Status::Missing,
                    detail: format!("{reason}; rlimits limit each process instead ({} in force)", if tree.controllers().is_empty() { "none of pids.max, memory.max".to_owned() } else { tree.controllers().join(", ") }),
                },
            };
            (tree_protection, limits)
        }
        Err(reason) => (
            Protection {
                id: "cgroup.tree",
                name: "cgroup per instance",
                status: Status::Missing,
                detail: format!("{reason}; an instance's processes are stopped by process group, which a daemon that calls setsid leaves"),
            },
            Protection {
                id: "cgroup.limits",
                name: "cgroup limits",
                status: Status::Missing,
                detail: "no cgroup tree; rlimits limit each process instead".to_owned(),
            },
        ),
    };
    let pid_namespace = match (&confinement.namespaces, super::init::InitBinary::get()) {
        (Ok(()), Some(_)) => Protection {
            id: "pid_namespace",
            name: "PID namespace",
            status: Status::InForce,
            detail: "each instance is pid 2 of a PID namespace whose init is plugboard's own binary: everything it starts dies with it, and with the host even after kill -9".to_owned(),
        },
        (Err(reason), _) => Protection {
            id: "pid_namespace",
            name: "PID namespace",
            status: Status::Missing,
            detail: format!("{reason}; what a plugin starts outside its process group outlives a kill -9 of the host until the next start"),
        },
        (Ok(()), None) => Protection {
            id: "pid_namespace",
            name: "PID namespace",
            status: Status::Missing,
            detail: "this host is not the plugboard binary, which is the namespaces' init; what a plugin starts outside its process group outlives a kill -9 of the host until the next start".to_owned(),
        },
    };
    let undumpable = Protection {
        id: "host_undumpable",
        name: "host not dumpable",
        status: Status::InForce,
        detail: "plugboard serve marks itself not dumpable: its /proc entries (environ, maps, memory) are closed to other users and to ptrace".to_owned(),
    };
    vec![
        user,
        capabilities,
        namespaces,
        pid_namespace,
        seccomp,
        tree,
        limits,
        undumpable,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_names_every_protection_once() {
        let protections = Protections::probe(&Confinement::shared_default());
        let mut ids: Vec<&str> = protections.protections.iter().map(|p| p.id).collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "{ids:?}");
        for id in [
            "landlock",
            "landlock.file_reads",
            "landlock.file_writes",
            "landlock.network",
            "no_new_privs",
            "parent_death_signal",
            "rlimit.open_files",
        ] {
            assert!(ids.contains(&id), "{id} in {ids:?}");
        }
        assert_eq!(
            protections.landlock_abi,
            landlock::abi_version().ok(),
            "the ABI is the kernel's"
        );
    }
}
