//! Job changes: every job carries the position of its latest change, so a reader can ask for
//! "every job that changed after this point" and resume from the last one it saw.
//!
//! There is no change log: a change rewrites the job's row and moves it to the end of the change
//! order. A reader that falls behind therefore sees each job once, in its latest state, and
//! never a state older than one it already saw. Positions ([`ChangeCursor`]) only grow, and a
//! reader never skips a change committed after the position it holds:
//! - SQLite numbers changes from a counter bumped inside the writing transaction; writes are
//!   serialized, so numbers follow commit order.
//! - PostgreSQL stamps a change with the writing transaction's id and lets readers see only
//!   changes of transactions older than every transaction still running (the snapshot's
//!   `xmin`), so a transaction that commits late cannot land behind a reader.

use std::fmt;
use std::str::FromStr;

use super::{Job, JobId};

/// A position in the order of job changes: the change number, then the job id (one write may
/// change several jobs under one number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ChangeCursor {
    pub seq: i64,
    pub id: i64,
}

impl ChangeCursor {
    /// Before every change: reading from here returns every job there is.
    pub const START: ChangeCursor = ChangeCursor { seq: 0, id: 0 };

    /// After every job changed under `seq` and before anything later.
    pub fn after_seq(seq: i64) -> ChangeCursor {
        ChangeCursor { seq, id: i64::MAX }
    }
}

impl fmt::Display for ChangeCursor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}-{}", self.seq, self.id)
    }
}

impl FromStr for ChangeCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<ChangeCursor, String> {
        let invalid = || {
            format!(
                "`{text}` is not a change position; pass the `id` of a change event as it came \
                 (two numbers joined by `-`), or 0-0 for every job"
            )
        };
        let (seq, id) = text.split_once('-').ok_or_else(invalid)?;
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(seq) || !digits(id) {
            return Err(invalid());
        }
        let seq = seq.parse::<i64>().map_err(|_| invalid())?;
        let id = id.parse::<i64>().map_err(|_| invalid())?;
        if seq < 0 || id < 0 {
            return Err(invalid());
        }
        Ok(ChangeCursor { seq, id })
    }
}

/// A job in the state its latest change left it, with that change's position.
#[derive(Debug, Clone, PartialEq)]
pub struct JobChange {
    pub cursor: ChangeCursor,
    pub job: Job,
}

/// Which changes a reader wants; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    pub job: Option<JobId>,
    pub tenant: Option<String>,
    pub plugin: Option<String>,
    pub queue: Option<String>,
    pub kind: Option<String>,
}

impl ChangeFilter {
    /// The same test the stores apply in SQL, for changes already read.
    pub fn matches(&self, job: &Job) -> bool {
        self.job.is_none_or(|id| job.id == id)
            && (self.tenant.is_none() || job.tenant == self.tenant)
            && (self.plugin.is_none() || job.plugin == self.plugin)
            && self.queue.as_ref().is_none_or(|queue| &job.queue == queue)
            && self.kind.as_ref().is_none_or(|kind| &job.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_print_and_parse_back() {
        let cursor = ChangeCursor { seq: 42, id: 7 };
        assert_eq!(cursor.to_string(), "42-7");
        assert_eq!("42-7".parse::<ChangeCursor>(), Ok(cursor));
        assert_eq!("0-0".parse::<ChangeCursor>(), Ok(ChangeCursor::START));
        for bad in ["", "42", "a-b", "-1-2", "1--2", "1-2-3"] {
            let error = bad.parse::<ChangeCursor>().unwrap_err();
            assert!(error.contains("change position"), "{bad}: {error}");
        }
    }

    #[test]
    fn cursors_order_by_number_then_job() {
        let a = ChangeCursor { seq: 1, id: 9 };
        let b = ChangeCursor { seq: 2, id: 1 };
        assert!(a < b);
        assert!(ChangeCursor::after_seq(1) < b);
        assert!(a < ChangeCursor::after_seq(1));
    }
}
