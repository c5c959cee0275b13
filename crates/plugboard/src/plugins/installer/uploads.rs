//! Packages uploaded through the API: they wait in `plugins/.staging/uploads/` for their
//! `plugin.install` or `plugin.update` job, and go once that job has ended.
//!
//! The API writes an upload there and enqueues the job with the file as its `source`. The job
//! removes the file when it ends on this node for good: it succeeded, failed without a retry
//! left, was cancelled or timed out. A job that will be tried again keeps it. What a stopped or
//! killed node left behind goes with the rest of `.staging/` when `serve` reconciles at start.

use std::path::{Path, PathBuf};

/// The folder uploads are written to, inside a node's `plugins/` folder.
pub fn uploads_dir(plugins_dir: &Path) -> PathBuf {
    plugins_dir.join(".staging").join("uploads")
}

/// An uploaded package a job is working from, removed when dropped unless kept for a retry.
pub(super) struct UploadedSource {
    path: PathBuf,
    keep: bool,
}

impl UploadedSource {
    /// The upload `source` names, when it is one: a file directly inside `uploads_dir`.
    pub(super) fn of(source: &str, plugins_dir: &Path) -> Option<UploadedSource> {
        let path = PathBuf::from(source);
        // Built only for an upload: dropping one removes its file.
        if path.parent() != Some(uploads_dir(plugins_dir).as_path()) {
            return None;
        }
        Some(UploadedSource { path, keep: false })
    }

    /// True when the file is not there any more (a restart in between removed it).
    pub(super) fn is_gone(&self) -> bool {
        !self.path.exists()
    }

    /// Keeps the file for the job's next attempt.
    pub(super) fn keep(&mut self) {
        self.keep = true;
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
        assert!(!done.is_gone());
        drop(done);
        assert!(!upload.exists(), "removed once its job has ended");
    }
}
