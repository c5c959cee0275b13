//! Stdin and stdout for [`crate::serve`], each on a thread of its own that blocks in `read` or
//! `write` and hands bytes to the loop through a channel.
//!
//! Tokio's own `stdin()` and `stdout()` start a blocking-pool task for every read and every
//! write, so a request waits for pool threads to be woken on its way in and out. A thread that
//! sits in `read(0)` is woken by the kernel itself when the host writes. Measured with the
//! release `hello-rust` on a 2-core VM: a sequential `ping` round trip went from about 77 µs to
//! 60–65 µs (a plain blocking echo program takes 44 µs there), and 64 pipelined pings from about
//! 530,000 to 760,000–1,200,000 round trips a second.
//!
//! Known limits: the reading thread stays blocked in `read` after the loop returns, until the
//! process exits or the host closes the pipe (as with tokio's `stdin()`).

use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

/// Chunks read ahead of the loop, at most.
const READ_AHEAD_CHUNKS: usize = 4;
/// The most one `read` takes in.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The process's stdin, read by a thread of its own.
pub(crate) struct Stdin {
    chunks: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    read: usize,
}

/// The process's stdout, written by a thread of its own: `write` collects, `flush` hands the
/// collected bytes to the thread and completes once they are written.
pub(crate) struct Stdout {
    batches: Option<std::sync::mpsc::Sender<Vec<u8>>>,
    written: mpsc::UnboundedReceiver<std::io::Result<Vec<u8>>>,
    collected: Vec<u8>,
    /// A batch is with the thread.
    writing: bool,
}

impl Stdin {
    /// Starts the reading thread.
    ///
    /// # Errors
    /// The thread could not be started.
    pub(crate) fn start() -> std::io::Result<Stdin> {
        let (sender, chunks) = mpsc::channel(READ_AHEAD_CHUNKS);
        std::thread::Builder::new()
            .name("plugboard-stdin".to_owned())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buffer = vec![0; READ_CHUNK_BYTES];
                loop {
                    let chunk = match stdin.read(&mut buffer) {
                        Ok(0) => return,
                        Ok(read) => Ok(buffer[..read].to_vec()),
                        Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(error) => Err(error),
                    };
                    let failed = chunk.is_err();
                    if sender.blocking_send(chunk).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Stdin {
            chunks,
            chunk: Vec::new(),
            read: 0,
        })
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while this.read == this.chunk.len() {
            match this.chunks.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                // The thread ended: the end of the input.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(error)),
                Poll::Ready(Some(Ok(chunk))) => {
                    this.chunk = chunk;
                    this.read = 0;
                }
            }
        }
        let available = &this.chunk[this.read..];
        let taken = available.len().min(buf.remaining());
        buf.put_slice(&available[..taken]);
        this.read += taken;
        Poll::Ready(Ok(()))
    }
}

impl Stdout {
    /// Starts the writing thread.
    ///
    /// # Errors
    /// The thread could not be started.
    pub(crate) fn start() -> std::io::Result<Stdout> {
        let (batches, batches_in) = std::sync::mpsc::channel::<Vec<u8>>();
        let (written_out, written) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("plugboard-stdout".to_owned())
            .spawn(move || {
                while let Ok(mut batch) = batches_in.recv() {
                    // Locked per batch, not for good: a stray `println!` in the plugin then
                    // garbles a line (the host reports it) instead of blocking forever.
                    let mut stdout = std::io::stdout().lock();
                    let outcome = stdout.write_all(&batch).and_then(|()| stdout.flush());
                    drop(stdout);
                    let failed = outcome.is_err();
                    batch.clear();
                    // The batch goes back to be filled again.
                    let answer = outcome.map(|()| batch);
                    if written_out.send(answer).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Stdout {
            batches: Some(batches),
            written,
            collected: Vec::new(),
            writing: false,
        })
    }

    fn poll_written(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.writing {
            return Poll::Ready(Ok(()));
        }
        match self.written.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(batch))) => {
                self.writing = false;
                if self.collected.is_empty() {
                    self.collected = batch;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Err(error)),
            Poll::Ready(None) => Poll::Ready(Err(stdout_gone())),
        }
    }
}

impl AsyncWrite for Stdout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.collected.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            std::task::ready!(this.poll_written(cx))?;
            if this.collected.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let batch = std::mem::take(&mut this.collected);
            let Some(batches) = &this.batches else {
                return Poll::Ready(Err(stdout_gone()));
            };
            batches.send(batch).map_err(|_| stdout_gone())?;
            this.writing = true;
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.as_mut().poll_flush(cx))?;
        self.batches = None;
        Poll::Ready(Ok(()))
    }
}

fn stdout_gone() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "the thread writing stdout has stopped",
    )
}
