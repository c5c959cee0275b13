//! Packages uploaded through the API: they wait in `plugins/.staging/uploads/` for their
//! `plugin.install` or `plugin.update` job, and go once that job has ended.
//!
//! The API keeps an upload in the store (`Store::upload_put`) and enqueues the job with the
//! upload's file name as its `source`. The job may run on any node: it writes the file there from
//! the store's copy first. The job removes both when it ends for good:
//! it succeeded, failed without a retry left, was cancelled or timed out. A job that will be
//! tried again keeps them. What a stopped or killed node left behind goes with the rest of
//! `.staging/` when `serve` reconciles at start; copies in the store whose job never ended (it
//! was cancelled while queued, or timed out) are pruned after [`UPLOAD_RETENTION`], at start and
//! hourly while `serve` runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::store::Store;

/// How long the store keeps an upload whose job never ended (cancelled while queued, say).
pub const UPLOAD_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The folder uploads are written to, inside a node's `plugins/` folder.
pub fn uploads_dir(plugins_dir: &Path) -> PathBuf {
    plugins_dir.join(".staging").join("uploads")
}

/// An uploaded package a job is working from, removed when dropped unless kept for a retry.
pub(super) struct UploadedSource {
    /// Where it is (or is written to) on this node.
    path: PathBuf,
    /// Its name in the store.
    name: String,
    keep: bool,
}

impl UploadedSource {
    /// The upload `source` names, when it is one: a file `upload-…` in the uploads folder of this
    /// node or of the node that received it (the same name on this node).
    pub(super) fn of(source: &str, plugins_dir: &Path) -> Option<UploadedSource> {
        let source = Path::new(source);
        let name = source.file_name()?.to_str()?;
        let folder = source.parent()?;
        if !name.starts_with("upload-") || !folder.ends_with(Path::new(".staging/uploads")) {
            return None;
        }
        // Built only for an upload: dropping one removes its file.
        Some(UploadedSource {
            path: uploads_dir(plugins_dir).join(name),
            name: name.to_owned(),
            keep: false,
        })
    }

    /// The file on this node.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the file on this node from the store's copy (whichever node received it).
    ///
    /// # Errors
    /// What to tell the admin, and whether another attempt may do better: the upload is gone
    /// (its job ended, or it was pruned; not retryable), the store could not be read
    /// (retryable), or it cannot be written here (retryable).
    pub(super) async fn fetch(&self, store: &dyn Store) -> Result<(), (String, bool)> {
        let gone = || {
            "the uploaded package is gone (its job already ended, or it waited longer than the uploads are kept); upload it again".to_owned()
        };
        let (sha256, data) = store
            .upload_get(&self.name)
            .await
            .map_err(|error| {
                (
                    format!("cannot read the uploaded package from the store: {error}"),
                    true,
                )
            })?
            .ok_or_else(|| (gone(), false))?;
        let actual: String = Sha256::digest(&data)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        if actual != sha256 {
            return Err((
                format!(
                    "the stored copy of the upload has sha256 {actual}, not {sha256} as received; upload it again"
                ),
                false,
            ));
        }
        // Written beside it and renamed: the file is whole whenever it is there.
        let folder = self.path.parent().unwrap_or(Path::new("."));
        let partial = self.path.with_extension("partial");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::create_dir_all(folder)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)?;
            file.write_all(&data)?;
            file.sync_all()?;
            std::fs::rename(&partial, &self.path)
        };
        write().map_err(|error| {
            let _ = std::fs::remove_file(&partial);
            (
                format!("cannot write {}: {error}", self.path.display()),
                true,
            )
        })
    }

    /// Keeps the file (and the store's copy) for the job's next attempt.
    pub(super) fn keep(&mut self) {
        self.keep = true;
    }

    /// Once the job is done with it: forgets the store's copy unless kept; the file goes on drop.
    pub(super) async fn release(self, store: &dyn Store) {
        if !self.keep {
            if let Err(error) = store.upload_delete(&self.name).await {
                tracing::warn!(upload = %self.name, %error, "forgetting an uploaded package failed; it is pruned later");
            }
        }
    }
}

impl Drop for UploadedSource {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_in_the_uploads_folder_are_removed_and_a_kept_one_stays() {
        let plugins = tempfile::tempdir().unwrap();
        let elsewhere = plugins.path().join("package.tar.gz");
        std::fs::write(&elsewhere, "an archive the admin named").unwrap();
        assert!(UploadedSource::of(elsewhere.to_str().unwrap(), plugins.path()).is_none());
        assert!(elsewhere.is_file(), "a source that is no upload stays");

        let folder = uploads_dir(plugins.path());
        std::fs::create_dir_all(&folder).unwrap();
        let upload = folder.join("upload-0123");
        std::fs::write(&upload, "uploaded").unwrap();
        let mut kept = UploadedSource::of(upload.to_str().unwrap(), plugins.path()).unwrap();
        kept.keep();
        drop(kept);
        assert!(upload.is_file(), "kept for a retry");
        let done = UploadedSource::of(upload.to_str().unwrap(), plugins.path()).unwrap();
        assert_eq!(done.path(), upload);
        drop(done);
        assert!(!upload.exists(), "removed once its job has ended");

        // An upload another node received has the same name here.
        let there = UploadedSource::of(
            "/elsewhere/plugins/.staging/uploads/upload-0456",
            plugins.path(),
        )
        .unwrap();
        assert_eq!(there.path(), folder.join("upload-0456"));
        assert!(UploadedSource::of("/elsewhere/plugins/upload-0456", plugins.path()).is_none());
        assert!(UploadedSource::of("/x/.staging/uploads/package.tar.gz", plugins.path()).is_none());
    }
}
