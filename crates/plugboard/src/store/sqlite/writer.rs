//! The single writer: one thread owns the only writing connection of this process and commits
//! whatever callers sent it since the last commit in one transaction (group commit).
//!
//! Each operation runs inside its own savepoint, so one that fails rolls back alone. Callers get
//! their answer only after the transaction that carried their operation committed: an
//! acknowledged write is in the database file.

use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::StoreError;

/// The most operations committed in one transaction. Bounds how long one commit holds the lock
/// that other processes writing to the same file wait for.
const MAX_OPS_PER_COMMIT: usize = 2_000;

type BoxedOp = Box<dyn PendingOp>;

/// A handle to the writer thread. Cloning it is cheap; the thread stops when every handle is
/// dropped.
#[derive(Clone)]
pub(super) struct Writer {
    sender: mpsc::Sender<BoxedOp>,
}

impl Writer {
    /// Starts the writer thread on `connection`.
    pub(super) fn start(
        connection: Connection,
    ) -> Result<(Writer, thread::JoinHandle<()>), String> {
        let (sender, receiver) = mpsc::channel::<BoxedOp>();
        let handle = thread::Builder::new()
            .name("plugboard-sqlite-writer".to_owned())
            .spawn(move || run(connection, receiver))
            .map_err(|error| format!("cannot start the SQLite writer thread: {error}"))?;
        Ok((Writer { sender }, handle))
    }

    /// Runs `op` in the next transaction and returns its answer once that transaction committed.
    pub(super) async fn call<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let pending = Op {
            work: Some(op),
            outcome: None,
            reply,
        };
        self.sender
            .send(Box::new(pending))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

trait PendingOp: Send {
    fn run(&mut self, connection: &Connection);
    fn answer(self: Box<Self>, commit: Result<(), String>);
}

struct Op<T, F> {
    work: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> PendingOp for Op<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, connection: &Connection) {
        let Some(work) = self.work.take() else { return };
        if let Err(error) = run_cached(connection, "SAVEPOINT op") {
            self.outcome = Some(Err(StoreError::Backend {
                op: "savepoint",
                message: error.to_string(),
            }));
            return;
        }
        let outcome = work(connection);
        let end = if outcome.is_ok() {
            run_cached(connection, "RELEASE op")
        } else {
            run_cached(connection, "ROLLBACK TO op")
                .and_then(|()| run_cached(connection, "RELEASE op"))
        };
        let outcome = match end {
            Ok(()) => outcome,
            Err(error) => Err(StoreError::Backend {
                op: "savepoint",
                message: error.to_string(),
            }),
        };
        self.outcome = Some(outcome);
    }

    fn answer(self: Box<Self>, commit: Result<(), String>) {
        let outcome = match (commit, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(StoreError::Backend {
                op: "write",
                message: "the operation did not run".to_owned(),
            }),
            (Err(message), _) => Err(StoreError::Backend {
                op: "commit",
                message,
            }),
        };
        // The caller may have stopped waiting; its answer is then of no use to anyone.
        let _ = self.reply.send(outcome);
    }
}

/// Runs one statement without parameters from the connection's statement cache: the savepoint
/// statements run twice per operation, and parsing them each time shows in profiles.
fn run_cached(connection: &Connection, statement: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(statement)?.execute([])?;
    Ok(())
}

fn run(connection: Connection, receiver: mpsc::Receiver<BoxedOp>) {
    let mut batch: Vec<BoxedOp> = Vec::with_capacity(64);
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        while batch.len() < MAX_OPS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let commit = commit_batch(&connection, &mut batch);
        for op in batch.drain(..) {
            op.answer(commit.clone());
        }
    }
    // Every handle is gone: close the connection, which checkpoints the WAL.
    if let Err((_, error)) = connection.close() {
        tracing::warn!(%error, "closing the SQLite writer connection failed");
    }
}

fn commit_batch(connection: &Connection, batch: &mut [BoxedOp]) -> Result<(), String> {
    run_cached(connection, "BEGIN IMMEDIATE")
        .map_err(|error| format!("cannot start a write transaction: {error}"))?;
    for op in batch.iter_mut() {
        op.run(connection);
    }
    if let Err(error) = run_cached(connection, "COMMIT") {
        let _ = connection.execute_batch("ROLLBACK");
        return Err(format!("commit failed: {error}"));
    }
    Ok(())
}
