//! Following a job's log: replay from a sequence number, then live lines, in order, each once.
//!
//! Store notices say when to look again; the store is the source of truth, so a missed or lagged
//! notice costs at most one poll interval, never a line.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use super::QueueError;
use crate::store::{Job, JobId, LogLine, Store, StoreNotice};

const PAGE: usize = 500;
const POLL: Duration = Duration::from_secs(1);

pub(super) fn follow_logs(
    store: Arc<dyn Store>,
    id: JobId,
    after_seq: i64,
) -> mpsc::Receiver<Result<LogLine, QueueError>> {
    let (sender, receiver) = mpsc::channel(256);
    tokio::spawn(async move {
        // Subscribe before the first read so that no line appended in between goes unnoticed.
        let mut notices = store.subscribe();
        let mut last = after_seq;
        loop {
            // Read the status before the lines: a job seen finished here has all its lines stored.
            let finished = match store.job_get(id).await {
                Ok(Some(job)) => job.status.is_finished(),
                Ok(None) => {
                    let _ = sender.send(Err(QueueError::NotFound(id))).await;
                    return;
                }
                Err(error) => {
                    let _ = sender.send(Err(error.into())).await;
                    return;
                }
            };
            loop {
                match store.log_list(id, last, PAGE).await {
                    Ok(lines) => {
                        let full = lines.len() == PAGE;
                        for line in lines {
                            last = line.seq;
                            if sender.send(Ok(line)).await.is_err() {
                                return;
                            }
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error.into())).await;
                        return;
                    }
                }
            }
            if finished {
                return;
            }
            wait_for_news(&mut notices, id, &sender).await;
            if sender.is_closed() {
                return;
            }
        }
    });
    receiver
}

async fn wait_for_news(
    notices: &mut broadcast::Receiver<StoreNotice>,
    id: JobId,
    sender: &mpsc::Sender<Result<LogLine, QueueError>>,
) {
    let deadline = tokio::time::sleep(POLL);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return,
            () = sender.closed() => return,
            notice = notices.recv() => match notice {
                Ok(StoreNotice::LogAppended { job_id, .. }) if job_id == id => return,
                Ok(StoreNotice::JobChanged { id: job_id, .. }) if job_id == id => return,
                Ok(StoreNotice::JobsAvailable { queue: None }) => return,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => {
                    // No more notices: fall back to the poll interval.
                    (&mut deadline).await;
                    return;
                }
            },
        }
    }
}

/// How often [`wait_finished`] reads a job it has heard nothing about: changes made by another
/// node reach this one as no notice on SQLite and as no finish notice on PostgreSQL.
const FINISH_POLL: Duration = Duration::from_millis(250);

/// Waits until job `id` has finished and answers it in its final state, showing `seen` each
/// state read on the way (progress, for one). Store notices of this process say when to read it
/// again; without one it is read every [`FINISH_POLL`].
pub(super) async fn wait_finished(
    store: Arc<dyn Store>,
    id: JobId,
    mut seen: impl FnMut(&Job) + Send,
) -> Result<Job, QueueError> {
    // Subscribe before the first read so that a finish in between is not missed.
    let mut notices = store.subscribe();
    loop {
        match store.job_get(id).await? {
            Some(job) if job.status.is_finished() => return Ok(job),
            Some(job) => seen(&job),
            None => return Err(QueueError::NotFound(id)),
        }
        let deadline = tokio::time::Instant::now() + FINISH_POLL;
        loop {
            let notice = tokio::select! {
                notice = notices.recv() => notice,
                () = tokio::time::sleep_until(deadline) => break,
            };
            match notice {
                Ok(StoreNotice::JobsChanged) => break,
                Ok(StoreNotice::JobChanged { id: changed, .. }) if changed == id => break,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => {
                    tokio::time::sleep_until(deadline).await;
                    break;
                }
            }
        }
    }
}
