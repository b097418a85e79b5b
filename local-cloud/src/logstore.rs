//! Container logs: one bounded buffer per (namespace, pod, container), with line timestamps and
//! a change signal for `follow=true`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The most bytes kept per container (older bytes are dropped, as log rotation would).
pub const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct Inner {
    data: Vec<u8>,
    /// Bytes dropped from the front.
    dropped: u64,
    /// (absolute offset of a line start, when it was written).
    line_starts: Vec<(u64, jiff::Timestamp)>,
    at_line_start: bool,
    finished: bool,
}

/// One container's log.
pub struct LogBuf {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
}

/// A copy of a log.
pub struct Snapshot {
    pub data: Vec<u8>,
    /// Absolute offset of `data[0]`.
    pub start: u64,
}

impl LogBuf {
    fn new() -> LogBuf {
        LogBuf {
            inner: Mutex::new(Inner {
                at_line_start: true,
                ..Inner::default()
            }),
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends output.
    pub fn append(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let now = jiff::Timestamp::now();
        let mut g = self.lock();
        let mut off = g.dropped + g.data.len() as u64;
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            if g.at_line_start {
                g.line_starts.push((off, now));
            }
            g.at_line_start = chunk.ends_with(b"\n");
            off += chunk.len() as u64;
        }
        g.data.extend_from_slice(bytes);
        if g.data.len() > MAX_LOG_BYTES {
            let cut = g.data.len() - MAX_LOG_BYTES;
            g.data.drain(..cut);
            g.dropped += cut as u64;
            let floor = g.dropped;
            let keep_from = g.line_starts.partition_point(|(o, _)| *o < floor);
            g.line_starts.drain(..keep_from);
        }
        let total = g.dropped + g.data.len() as u64;
        drop(g);
        self.changed.send_replace(total);
    }

    /// Marks the container as exited.
    pub fn finish(&self) {
        self.lock().finished = true;
        self.changed.send_modify(|v| *v += 0);
    }

    pub fn snapshot(&self) -> Snapshot {
        let g = self.lock();
        Snapshot {
            data: g.data.clone(),
            start: g.dropped,
        }
    }

    /// Bytes from absolute offset `from`, and whether the container has exited.
    pub fn read_from(&self, from: u64) -> (Vec<u8>, u64, bool) {
        let g = self.lock();
        let from = from.max(g.dropped);
        let idx = (from - g.dropped) as usize;
        let data = g.data.get(idx..).map(<[u8]>::to_vec).unwrap_or_default();
        (data, from, g.finished)
    }

    /// The timestamp of the line containing absolute offset `off`.
    pub fn line_time(&self, off: u64) -> Option<jiff::Timestamp> {
        let g = self.lock();
        let i = g.line_starts.partition_point(|(o, _)| *o <= off);
        i.checked_sub(1).map(|i| g.line_starts[i].1)
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

type Key = (String, String, String);

/// Every container log.
#[derive(Default)]
pub struct LogStore {
    bufs: Mutex<HashMap<Key, Arc<LogBuf>>>,
}

impl LogStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<LogBuf>>> {
        self.bufs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh buffer for a container that starts now.
    pub fn start(&self, ns: &str, pod: &str, container: &str) -> Arc<LogBuf> {
        let b = Arc::new(LogBuf::new());
        self.lock().insert((ns.into(), pod.into(), container.into()), b.clone());
        b
    }

    pub fn get(&self, ns: &str, pod: &str, container: &str) -> Option<Arc<LogBuf>> {
        self.lock()
            .get(&(ns.to_string(), pod.to_string(), container.to_string()))
            .cloned()
    }

    /// Forgets a pod's logs.
    pub fn remove_pod(&self, ns: &str, pod: &str) {
        self.lock().retain(|(n, p, _), _| !(n == ns && p == pod));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_timestamped_and_read_back() {
        let b = LogBuf::new();
        b.append(b"one\ntw");
        b.append(b"o\nthree\n");
        let s = b.snapshot();
        assert_eq!(s.data, b"one\ntwo\nthree\n");
        assert!(b.line_time(5).is_some());
        assert_eq!(b.read_from(4).0, b"two\nthree\n");
    }
}
