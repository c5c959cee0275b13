//! Following job changes: every stream of a node shares one reader of the store.
//!
//! The hub reads `Store::job_changes` after its position whenever the store says jobs changed
//! (and every [`POLL`] while anyone listens, for changes made on other nodes), and broadcasts each
//! page to the streams. A stream first catches up from its own position with its own reads, then
//! takes the hub's pages, skipping what it already has; a stream that falls behind the broadcast
//! catches up from the store again. So a thousand open streams cost one read per change, not a
//! thousand, and no stream misses or repeats a change:
//! - a stream subscribes before it reads, so a page the hub broadcasts after that reaches it,
//!   and a page broadcast before that was readable before its first read;
//! - positions only grow, so "skip what is not after my position" removes exactly the repeats.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, Notify, OnceCell};

use super::QueueError;
use crate::store::{ChangeCursor, ChangeFilter, JobChange, Store, StoreError, StoreNotice};

/// How often the hub looks for changes made elsewhere while streams are open.
const POLL: Duration = Duration::from_millis(250);
/// The least time between two reads of the hub, however busy the store.
const MIN_GAP: Duration = Duration::from_millis(20);
/// How often an idle hub (no streams) moves its position to the head, so that the next stream
/// does not wait for it to read a long backlog.
const IDLE: Duration = Duration::from_secs(5);
const PAGE: usize = 500;
/// Pages the broadcast holds for a slow stream before that stream must catch up from the store.
const BACKLOG: usize = 256;

type Page = Arc<Vec<Arc<SharedChange>>>;

/// A change as streams receive it. The hub's pages are shared by every stream of the node, and so
/// is one rendering of each change (what a stream sends), made by the first stream that needs it.
#[derive(Debug)]
pub struct SharedChange {
    change: JobChange,
    rendered: OnceLock<Arc<str>>,
}

impl SharedChange {
    fn new(change: JobChange) -> SharedChange {
        SharedChange {
            change,
            rendered: OnceLock::new(),
        }
    }

    /// The change as `render` makes it, made once for every stream that sends this change.
    pub fn rendered(&self, render: impl FnOnce(&JobChange) -> String) -> Arc<str> {
        self.rendered
            .get_or_init(|| render(&self.change).into())
            .clone()
    }
}

impl Deref for SharedChange {
    type Target = JobChange;

    fn deref(&self) -> &JobChange {
        &self.change
    }
}

/// One node's reader of job changes; see the module documentation.
pub(super) struct ChangeHub {
    store: Arc<dyn Store>,
    sender: broadcast::Sender<Page>,
    started: OnceCell<()>,
    /// Wakes an idle hub when a stream opens.
    opened: Notify,
}

impl ChangeHub {
    pub(super) fn new(store: Arc<dyn Store>) -> ChangeHub {
        ChangeHub {
            store,
            sender: broadcast::channel(BACKLOG).0,
            started: OnceCell::new(),
            opened: Notify::new(),
        }
    }

    /// Subscribes to the hub's pages, starting the hub on first use.
    async fn subscribe(self: &Arc<Self>) -> Result<broadcast::Receiver<Page>, StoreError> {
        self.started
            .get_or_try_init(|| async {
                let from = self.store.job_change_head().await?;
                tokio::spawn(run(Arc::downgrade(self), from));
                Ok::<(), StoreError>(())
            })
            .await?;
        let receiver = self.sender.subscribe();
        self.opened.notify_one();
        Ok(receiver)
    }
}

/// The hub's loop: ends when the hub is dropped (its queue is gone).
async fn run(hub: std::sync::Weak<ChangeHub>, mut cursor: ChangeCursor) {
    let mut notices = match hub.upgrade() {
        Some(hub) => hub.store.subscribe(),
        None => return,
    };
    loop {
        let Some(strong) = hub.upgrade() else { return };
        if strong.sender.receiver_count() == 0 {
            // Nobody listens: keep the position near the head without reading changes.
            let woken = tokio::time::timeout(IDLE, strong.opened.notified()).await;
            if woken.is_err() {
                if let Ok(head) = strong.store.job_change_head().await {
                    // Only while still nobody listens: a stream that opened in between may need
                    // the changes between the old position and the head.
                    if strong.sender.receiver_count() == 0 && head > cursor {
                        cursor = head;
                    }
                }
            }
            continue;
        }
        match read_new(&strong, &mut cursor).await {
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(error = %error, "reading job changes failed; trying again in a second");
                drop(strong);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        drop(strong);
        tokio::time::sleep(MIN_GAP).await;
        wait_for_change(&mut notices).await;
    }
}

/// Reads and broadcasts every change after `cursor`.
async fn read_new(hub: &ChangeHub, cursor: &mut ChangeCursor) -> Result<(), StoreError> {
    loop {
        let page = hub
            .store
            .job_changes(*cursor, ChangeFilter::default(), PAGE)
            .await?;
        let full = page.len() == PAGE;
        if let Some(last) = page.last() {
            *cursor = last.cursor;
            let _ = hub.sender.send(Arc::new(
                page.into_iter()
                    .map(|change| Arc::new(SharedChange::new(change)))
                    .collect(),
            ));
        }
        if !full {
            return Ok(());
        }
    }
}

/// Returns on a notice about jobs, or after [`POLL`].
async fn wait_for_change(notices: &mut broadcast::Receiver<StoreNotice>) {
    let deadline = tokio::time::sleep(POLL);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return,
            notice = notices.recv() => match notice {
                Ok(StoreNotice::LogAppended { .. }) => continue,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => {
                    (&mut deadline).await;
                    return;
                }
            },
        }
    }
}

/// Follows changes matching `filter` after `after`, in order, each once. With `until_finished`
/// (a stream of one job) the stream ends after the job reaches a finished status.
pub(super) fn follow(
    hub: Arc<ChangeHub>,
    filter: ChangeFilter,
    after: ChangeCursor,
    until_finished: bool,
) -> mpsc::Receiver<Result<Arc<SharedChange>, QueueError>> {
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(async move {
        let stream = Stream {
            hub: hub.clone(),
            filter,
            sender,
            until_finished,
        };
        if let Err(error) = stream.run(after).await {
            let _ = stream.sender.send(Err(error)).await;
        }
    });
    receiver
}

struct Stream {
    hub: Arc<ChangeHub>,
    filter: ChangeFilter,
    sender: mpsc::Sender<Result<Arc<SharedChange>, QueueError>>,
    until_finished: bool,
}

/// Whether a stream goes on after a change.
enum Next {
    More,
    Done,
}

impl Stream {
    async fn run(&self, after: ChangeCursor) -> Result<(), QueueError> {
        let mut pages = self.hub.subscribe().await?;
        let mut last = after;
        if let Next::Done = self.catch_up(&mut last).await? {
            return Ok(());
        }
        if self.until_finished && self.already_finished(last).await? {
            return Ok(());
        }
        loop {
            let page = tokio::select! {
                () = self.sender.closed() => return Ok(()),
                page = pages.recv() => page,
            };
            match page {
                Ok(page) => {
                    for change in page.iter() {
                        if change.cursor <= last {
                            continue;
                        }
                        last = change.cursor;
                        if let Next::Done = self.deliver(change.clone()).await {
                            return Ok(());
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Next::Done = self.catch_up(&mut last).await? {
                        return Ok(());
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }

    /// For a stream of one job resumed at or after its last change: whether that job has
    /// finished, so that there is nothing left to wait for.
    async fn already_finished(&self, last: ChangeCursor) -> Result<bool, QueueError> {
        if self.filter.job.is_none() {
            return Ok(false);
        }
        let latest = self
            .hub
            .store
            .job_changes(ChangeCursor::START, self.filter.clone(), 1)
            .await?;
        Ok(latest
            .first()
            .is_some_and(|change| change.cursor <= last && change.job.status.is_finished()))
    }

    /// Reads from the store until no more changes are readable.
    async fn catch_up(&self, last: &mut ChangeCursor) -> Result<Next, QueueError> {
        loop {
            let page = self
                .hub
                .store
                .job_changes(*last, self.filter.clone(), PAGE)
                .await?;
            let full = page.len() == PAGE;
            for change in page {
                *last = change.cursor;
                if let Next::Done = self.deliver(Arc::new(SharedChange::new(change))).await {
                    return Ok(Next::Done);
                }
            }
            if !full {
                return Ok(Next::More);
            }
        }
    }

    async fn deliver(&self, change: Arc<SharedChange>) -> Next {
        if !self.filter.matches(&change.job) {
            return Next::More;
        }
        let finished = change.job.status.is_finished();
        if self.sender.send(Ok(change)).await.is_err() {
            return Next::Done;
        }
        if self.until_finished && finished {
            Next::Done
        } else {
            Next::More
        }
    }
}
