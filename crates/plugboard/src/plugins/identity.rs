//! Who plugin processes run as: the `plugin_user` setting and the user and group each plugin
//! gets from it.
//!
//! Owns: parsing the setting, looking up a named user, and giving each plugin id its own uid and
//! gid from a range no account uses. Must not touch: the system calls that switch to them
//! (`privileges.rs`) or file ownership beyond a plugin's own data directory.
//!
//! - `auto` (the default): when plugboard runs as root, each plugin gets a user and group of its
//!   own, `PLUGIN_ID_BASE + n` with `n` below [`PLUGIN_ID_COUNT`], found from its id (so it
//!   stays the same across restarts) and distinct from every other plugin this host runs. When
//!   plugboard is not root, plugins run as plugboard's user, in a user namespace where the
//!   kernel allows one.
//! - `NAME` or `UID` or `UID:GID`: every plugin runs as that user (a dedicated account such as
//!   `plugboard-plugins`); refused when it is root.
//! - `host`: plugins run as plugboard's own user, even root. Only for a host that is itself
//!   confined; `plugboard doctor` reports it as missing protection.
//!
//! The range starts at 0x7000_0000 (1,879,048,192), just above the ids systemd-nspawn gives
//! containers and far above those of accounts, so no file outside plugboard's folders belongs
//! to a plugin's user.

use std::collections::HashMap;
use std::sync::Mutex;

/// The first uid and gid of plugins' own users.
pub const PLUGIN_ID_BASE: u32 = 0x7000_0000;
/// How many ids the range holds.
pub const PLUGIN_ID_COUNT: u32 = 65_536;

/// The `plugin_user` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginUser {
    /// A user of its own per plugin as root; plugboard's user (in a user namespace) otherwise.
    Auto,
    /// Every plugin as this user and group.
    Fixed { uid: u32, gid: u32 },
    /// plugboard's own user.
    Host,
}

impl std::str::FromStr for PluginUser {
    type Err = String;

    fn from_str(text: &str) -> Result<PluginUser, String> {
        let text = text.trim();
        match text {
            "auto" => return Ok(PluginUser::Auto),
            "host" => return Ok(PluginUser::Host),
            "" => {
                return Err(
                    "plugin_user is empty; use `auto`, `host`, a user name, or UID[:GID]"
                        .to_owned(),
                )
            }
            _ => {}
        }
        let (uid, gid) = if let Some((uid, gid)) = text.split_once(':') {
            let parse = |part: &str, what: &str| {
                part.parse::<u32>().map_err(|_| {
                    format!("plugin_user `{text}`: the {what} `{part}` is not a number; write UID:GID, a user name, `auto` or `host`")
                })
            };
            (parse(uid, "uid")?, parse(gid, "gid")?)
        } else if let Ok(uid) = text.parse::<u32>() {
            (uid, uid)
        } else {
            lookup_user(text)?
        };
        if uid == 0 || gid == 0 {
            return Err(format!(
                "plugin_user `{text}` is root (uid {uid}, gid {gid}); plugins must run without privilege, choose another user or `auto`"
            ));
        }
        if uid == u32::MAX || gid == u32::MAX {
            return Err(format!(
                "plugin_user `{text}`: {} is not a valid id",
                u32::MAX
            ));
        }
        Ok(PluginUser::Fixed { uid, gid })
    }
}

/// Finds a user's uid and primary gid in the system's user database.
fn lookup_user(name: &str) -> Result<(u32, u32), String> {
    let c_name = std::ffi::CString::new(name)
        .map_err(|_| format!("plugin_user `{name}` contains a NUL byte"))?;
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value to be overwritten by getpwnam_r.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to memory that lives for the call, with its true length.
    let result = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if result != 0 || found.is_null() {
        return Err(format!(
            "plugin_user `{name}`: no such user on this machine; create it (for example `useradd --system --no-create-home {name}`) or write UID:GID"
        ));
    }
    Ok((entry.pw_uid, entry.pw_gid))
}

/// Who this host's plugins run as, with the ids handed out so far.
#[derive(Debug)]
pub struct Identities {
    policy: PluginUser,
    host_is_root: bool,
    given: Mutex<HashMap<String, u32>>,
    /// Where the ids handed out are kept, so that a plugin keeps its id across restarts even
    /// when another plugin's id would now take its slot first.
    record: Option<std::path::PathBuf>,
}

impl Identities {
    /// The identities `policy` gives on this host, remembered in memory only.
    pub fn new(policy: PluginUser) -> Identities {
        Identities {
            policy,
            // SAFETY: geteuid cannot fail and touches no memory.
            host_is_root: unsafe { libc::geteuid() } == 0,
            given: Mutex::new(HashMap::new()),
            record: None,
        }
    }

    /// The identities `policy` gives, with those handed out before read from `record` (lines
    /// `PLUGIN_ID UID`) and each new one added to it. A file that cannot be read is started
    /// anew, with a warning.
    pub fn recorded(policy: PluginUser, record: std::path::PathBuf) -> Identities {
        let mut given = HashMap::new();
        match std::fs::read_to_string(&record) {
            Ok(text) => {
                for line in text.lines() {
                    let mut words = line.split_whitespace();
                    if let (Some(plugin), Some(Ok(id)), None) = (
                        words.next(),
                        words.next().map(str::parse::<u32>),
                        words.next(),
                    ) {
                        if (PLUGIN_ID_BASE..PLUGIN_ID_BASE + PLUGIN_ID_COUNT).contains(&id) {
                            given.insert(plugin.to_owned(), id);
                        }
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(
                file = %record.display(),
                "cannot read the plugins' users ({error}); plugins may get other users than before"
            ),
        }
        Identities {
            given: Mutex::new(given),
            record: Some(record),
            ..Identities::new(policy)
        }
    }

    /// Writes every id handed out to the record, whole or not at all.
    fn save(&self, given: &HashMap<String, u32>) {
        let Some(record) = &self.record else { return };
        let mut lines: Vec<String> = given
            .iter()
            .map(|(plugin, id)| format!("{plugin} {id}\n"))
            .collect();
        lines.sort();
        let partial = record.with_extension("partial");
        let written = (|| {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)?;
            file.write_all(lines.concat().as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&partial, record)
        })();
        if let Err(error) = written {
            tracing::warn!(
                file = %record.display(),
                "cannot record the plugins' users ({error}); a plugin may get another user at the next start"
            );
        }
    }

    /// The setting this was made from.
    pub fn policy(&self) -> &PluginUser {
        &self.policy
    }

    /// True when plugins run as plugboard's own user.
    pub fn keeps_host_user(&self) -> bool {
        match self.policy {
            PluginUser::Host => true,
            PluginUser::Fixed { .. } => false,
            PluginUser::Auto => !self.host_is_root,
        }
    }

    /// True when plugboard is root.
    pub fn host_is_root(&self) -> bool {
        self.host_is_root
    }

    /// The uid and gid `plugin_id` runs as, or `None` for plugboard's own.
    pub fn for_plugin(&self, plugin_id: &str) -> Option<(u32, u32)> {
        match self.policy {
            PluginUser::Host => None,
            PluginUser::Fixed { uid, gid } => Some((uid, gid)),
            PluginUser::Auto if !self.host_is_root => None,
            PluginUser::Auto => {
                let mut given = self
                    .given
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(id) = given.get(plugin_id) {
                    return Some((*id, *id));
                }
                // The slot its id hashes to, or the next free one: stable for a plugin as long
                // as no other plugin's id takes its slot first.
                let mut slot = fnv1a(plugin_id) % PLUGIN_ID_COUNT;
                let taken: std::collections::HashSet<u32> = given.values().copied().collect();
                while taken.contains(&(PLUGIN_ID_BASE + slot)) {
                    slot = (slot + 1) % PLUGIN_ID_COUNT;
                }
                let id = PLUGIN_ID_BASE + slot;
                given.insert(plugin_id.to_owned(), id);
                self.save(&given);
                Some((id, id))
            }
        }
    }
}

fn fnv1a(text: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_parses_and_refuses_root() {
        assert_eq!("auto".parse(), Ok(PluginUser::Auto));
        assert_eq!("host".parse(), Ok(PluginUser::Host));
        assert_eq!(
            "1234".parse(),
            Ok(PluginUser::Fixed {
                uid: 1234,
                gid: 1234
            })
        );
        assert_eq!(
            "1234:99".parse(),
            Ok(PluginUser::Fixed { uid: 1234, gid: 99 })
        );
        let root = "0".parse::<PluginUser>().unwrap_err();
        assert!(root.contains("is root"), "{root}");
        let named_root = "root".parse::<PluginUser>().unwrap_err();
        assert!(named_root.contains("is root"), "{named_root}");
        let missing = "no-such-user-here".parse::<PluginUser>().unwrap_err();
        assert!(missing.contains("no such user"), "{missing}");
        let bad = "12:x".parse::<PluginUser>().unwrap_err();
        assert!(bad.contains("not a number"), "{bad}");
    }

    #[test]
    fn each_plugin_gets_its_own_stable_id_as_root() {
        let identities = Identities {
            host_is_root: true,
            ..Identities::new(PluginUser::Auto)
        };
        let first = identities.for_plugin("alpha").expect("an id as root");
        let second = identities.for_plugin("beta").expect("an id as root");
        assert_ne!(first, second);
        assert_eq!(identities.for_plugin("alpha"), Some(first), "stable");
        assert!(first.0 >= PLUGIN_ID_BASE && first.0 < PLUGIN_ID_BASE + PLUGIN_ID_COUNT);
        // A clash of slots moves the second plugin to the next free one.
        let clash = Identities {
            host_is_root: true,
            given: Mutex::new(HashMap::from([(
                "other".to_owned(),
                PLUGIN_ID_BASE + fnv1a("alpha") % PLUGIN_ID_COUNT,
            )])),
            ..Identities::new(PluginUser::Auto)
        };
        let moved = clash.for_plugin("alpha").expect("an id");
        assert_eq!(
            moved.0,
            PLUGIN_ID_BASE + (fnv1a("alpha") + 1) % PLUGIN_ID_COUNT
        );
        let not_root = Identities {
            host_is_root: false,
            ..Identities::new(PluginUser::Auto)
        };
        assert_eq!(not_root.for_plugin("alpha"), None);
    }

    #[test]
    fn the_ids_handed_out_are_kept_across_restarts() {
        let folder = tempfile::tempdir().unwrap();
        let record = folder.path().join(".users");
        let first = Identities {
            host_is_root: true,
            ..Identities::recorded(PluginUser::Auto, record.clone())
        };
        // `beta` takes the slot `alpha` would want, then `alpha` moves on.
        let wanted = PLUGIN_ID_BASE + fnv1a("alpha") % PLUGIN_ID_COUNT;
        first
            .given
            .lock()
            .unwrap()
            .insert("beta".to_owned(), wanted);
        let alpha = first.for_plugin("alpha").unwrap();
        assert_ne!(alpha.0, wanted);
        // After a restart `alpha` asks first, and still gets its own id, not the free slot.
        let second = Identities {
            host_is_root: true,
            ..Identities::recorded(PluginUser::Auto, record.clone())
        };
        assert_eq!(second.for_plugin("alpha"), Some(alpha));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&record).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
