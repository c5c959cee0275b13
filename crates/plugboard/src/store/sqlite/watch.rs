//! Wake-ups from other processes: inotify on the database's WAL file.
//!
//! Every commit to a WAL-mode database writes to `<file>-wal`, whoever makes it. Watching the
//! directory for modifications of that file tells this process, within microseconds and without
//! polling, that another process (a second `plugboard`, a benchmark driver) may have enqueued
//! jobs. Commits of this process wake it too; the claim that follows then finds nothing and
//! writes nothing, so there is no feedback loop.

use std::ffi::OsString;
use std::path::Path;

use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};
use tokio::sync::broadcast;

use crate::store::StoreNotice;

/// Starts watching; returns `None` (and says so) where inotify is unavailable, in which case
/// other processes' jobs are found by the workers' fallback poll.
pub(super) fn start(
    database: &Path,
    notices: broadcast::Sender<StoreNotice>,
) -> Option<tokio::task::JoinHandle<()>> {
    let directory = match database.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let mut wal_name: OsString = database.file_name()?.to_owned();
    wal_name.push("-wal");
    let inotify = match Inotify::init() {
        Ok(inotify) => inotify,
        Err(error) => {
            tracing::warn!(%error, "inotify is unavailable; jobs enqueued by other processes are picked up by polling");
            return None;
        }
    };
    if let Err(error) = inotify.watches().add(&directory, WatchMask::MODIFY) {
        tracing::warn!(%error, directory = %directory.display(), "cannot watch the data directory; jobs enqueued by other processes are picked up by polling");
        return None;
    }
    let stream = match inotify.into_event_stream(vec![0u8; 4096]) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "cannot read inotify events; jobs enqueued by other processes are picked up by polling");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        let mut stream = stream.ready_chunks(64);
        while let Some(events) = stream.next().await {
            let wal_changed = events.iter().any(|event| match event {
                Ok(event) => event.name.as_deref() == Some(wal_name.as_os_str()),
                Err(_) => false,
            });
            if wal_changed {
                let _ = notices.send(StoreNotice::JobsAvailable { queue: None });
            }
        }
    }))
}
