//! Where `aslan run --history` writes its events: JSON lines, serialized
//! and written on a thread of their own so that the run does not wait on
//! them. Events reach the thread in batches through a bounded channel: a
//! slow reader of the output slows the run down instead of growing a queue.

use aslan::asl::history::HistoryEvent;
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Events per batch handed to the writer thread.
const BATCH: usize = 1024;
/// Batches in flight before the run waits for the writer.
const IN_FLIGHT: usize = 4;

/// The writer: [`HistoryWriter::push`] from the run, then
/// [`HistoryWriter::finish`] once it has ended.
pub struct HistoryWriter {
    inner: Mutex<Inner>,
}

struct Inner {
    batch: Vec<HistoryEvent>,
    tx: Option<SyncSender<Vec<HistoryEvent>>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl HistoryWriter {
    /// Starts the writer thread over `w`.
    pub fn start(mut w: impl Write + Send + 'static) -> HistoryWriter {
        let (tx, rx) = sync_channel::<Vec<HistoryEvent>>(IN_FLIGHT);
        let thread = std::thread::spawn(move || {
            let mut buf = Vec::with_capacity(1 << 17);
            for batch in rx {
                for ev in &batch {
                    ev.write_json_line(&mut buf);
                    if buf.len() >= 1 << 16 {
                        w.write_all(&buf)?;
                        buf.clear();
                    }
                }
            }
            w.write_all(&buf)?;
            w.flush()
        });
        HistoryWriter {
            inner: Mutex::new(Inner {
                batch: Vec::with_capacity(BATCH),
                tx: Some(tx),
                thread: Some(thread),
            }),
        }
    }

    /// Queues one event. After a write error the events are dropped; the
    /// error comes out of [`HistoryWriter::finish`].
    pub fn push(&self, ev: HistoryEvent) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.batch.push(ev);
        if inner.batch.len() >= BATCH {
            let batch = std::mem::replace(&mut inner.batch, Vec::with_capacity(BATCH));
            if let Some(tx) = &inner.tx {
                // A send fails only when the thread has stopped on an error.
                let _ = tx.send(batch);
            }
        }
    }

    /// Writes what is queued, waits for the thread and reports its first
    /// write error.
    pub fn finish(&self) -> io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let batch = std::mem::take(&mut inner.batch);
        if let Some(tx) = inner.tx.take() {
            let _ = tx.send(batch);
        }
        match inner.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the history writer panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for HistoryWriter {
    /// Writes what is still queued should the run end on another path than
    /// [`HistoryWriter::finish`].
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
