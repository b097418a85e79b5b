//! The journal of a code workflow, and its replay.
//!
//! Every host call a workflow makes (Kubernetes, EKS and the `durable`
//! interface; not `log`) is one [`Entry`]: the call's name, a hash of its
//! request, the request itself (cut to [`MAX_STORED_REQUEST`] bytes) and
//! its outcome. A call is appended, and committed through the executor's
//! group commit, before the guest sees its result.
//!
//! A workflow runs from the start at every activation. While the journal
//! has entries left, a call is *replayed*: it must be the call the entry
//! records, with the same request (else [`NonDeterminism`]), and it gets
//! the recorded outcome without being made again. Past the end, calls are
//! *live*. A guest that finishes while entries are left has diverged too.

use super::bindings::types::TaskError;
use crate::tasks::workflow::{Durable, JournalAt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// Requests longer than this are stored as their length only (the hash
/// still covers all of it).
pub const MAX_STORED_REQUEST: usize = 8 * 1024;
/// Outcomes longer than this fail the call (the workflow can catch it).
pub const MAX_OUTCOME: usize = 1024 * 1024;
/// The most entries one invocation's journal may hold (AWS's history limit).
pub const MAX_ENTRIES: usize = 25_000;
/// The most bytes one invocation's journal may hold (an activation loads
/// all of it).
pub const MAX_JOURNAL_BYTES: usize = 64 << 20;

/// `Wasm.NonDeterminism`: a replayed guest made a different call than its
/// journal records.
pub const NON_DETERMINISM: &str = "Wasm.NonDeterminism";

/// The entry that completes a waiting call (`{"of": SEQ}`).
pub const COMPLETED: &str = "durable.completed";

/// One journaled host call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The interface and function: `kubernetes.create-job`,
    /// `durable.sleep-ms`, ...
    pub call: String,
    /// The hex SHA-256 of the request's JSON text.
    pub hash: String,
    /// The request, or `{"bytes": N}` when it was longer than
    /// [`MAX_STORED_REQUEST`].
    pub request: Value,
    /// `{"ok": value}` or `{"err": {"error", "cause"}}`.
    pub outcome: Value,
}

/// The guest diverged from its journal (a trap that fails the task with
/// [`NON_DETERMINISM`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NonDeterminism(pub String);

/// The workflow must wait: the activation ends here (a trap the
/// integration turns into a durable poll step).
#[derive(Debug, thiserror::Error)]
#[error("the workflow waits ({after_ms} ms)")]
pub struct Suspend {
    /// When to run the workflow again.
    pub after_ms: u64,
    /// The poll state for that activation.
    pub state: Value,
}

/// The journal could not be written (the task is no longer running, or
/// the store failed): the activation ends, and the task with it.
#[derive(Debug, thiserror::Error)]
#[error("the journal could not be written: {0}")]
pub struct JournalFailed(pub String);

/// Another activation of the same task wrote the entry first: this one
/// ends, and the task runs again from the journal.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JournalConflict(pub String);

/// What a poll state says the activation may go past.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wake {
    /// The await at this journal position is being polled.
    pub awaiting: Option<u32>,
    /// Polls made so far while awaiting (for the backoff).
    pub polls: u32,
}

impl Wake {
    /// From a stored poll state (`{"awaiting": N, "polls": K}` while
    /// awaiting).
    pub fn from_state(state: Option<&Value>) -> Wake {
        let n = |k: &str| state.and_then(|s| s.get(k)).and_then(Value::as_u64);
        Wake {
            awaiting: n("awaiting").and_then(|v| u32::try_from(v).ok()),
            polls: n("polls").map_or(0, |p| p.min(1_000) as u32),
        }
    }
}

/// The hex SHA-256 of `request`'s JSON text.
pub fn hash(request: &Value) -> String {
    use sha2::{Digest, Sha256};
    let text = serde_json::to_vec(request).unwrap_or_default();
    let mut s = String::with_capacity(64);
    crate::asl::push_hex(&mut s, &Sha256::digest(&text));
    s
}

/// `ok` as a journal outcome.
pub fn ok(v: Value) -> Value {
    json!({ "ok": v })
}

/// A guest-visible result as a journal outcome.
pub fn outcome<T: Into<Value>>(r: Result<T, TaskError>) -> Value {
    match r {
        Ok(v) => json!({ "ok": v.into() }),
        Err(e) => json!({ "err": { "error": e.error, "cause": e.cause } }),
    }
}

/// A journal outcome back as a guest-visible result of a string.
pub fn string_result(o: &Value) -> Result<String, TaskError> {
    match o.get("err") {
        Some(e) => Err(TaskError {
            error: e["error"].as_str().unwrap_or_default().to_string(),
            cause: e["cause"].as_str().unwrap_or_default().to_string(),
        }),
        None => Ok(o["ok"].as_str().unwrap_or_default().to_string()),
    }
}

/// One activation's view of the journal: the entries, the cursor, and
/// where new entries go.
pub struct Replay {
    /// Where the next entry goes (its `seq` is the cursor).
    pub at: JournalAt,
    entries: Vec<Entry>,
    cursor: usize,
    durable: Arc<dyn Durable>,
    /// What the poll state that started this activation allows.
    pub wake: Wake,
    /// Time spent waiting for the executor (commits, child executions):
    /// host time, not the guest's.
    pub waited: std::time::Duration,
    /// The journal's size in bytes, as stored.
    bytes: usize,
}

impl Replay {
    /// The replay of `entries`, appending through `durable` at `at`.
    pub fn new(at: JournalAt, entries: Vec<Entry>, durable: Arc<dyn Durable>, wake: Wake) -> Replay {
        Replay {
            at,
            entries,
            cursor: 0,
            durable,
            wake,
            waited: std::time::Duration::ZERO,
            bytes: 0,
        }
    }

    /// Says how many bytes the loaded journal takes (for its limit).
    pub fn with_bytes(mut self, bytes: usize) -> Replay {
        self.bytes = bytes;
        self
    }

    /// Whether calls are still being replayed (the guest's logs are then
    /// not written again).
    pub fn replaying(&self) -> bool {
        self.cursor < self.entries.len()
    }

    /// The position of the next call.
    pub fn cursor(&self) -> u32 {
        self.cursor as u32
    }

    /// The durable services.
    pub fn durable(&self) -> &Arc<dyn Durable> {
        &self.durable
    }

    /// The recorded outcome of the next call, if it is replayed; an error
    /// when it is not the call the journal records.
    pub fn next(&mut self, call: &str, request: &Value) -> Result<Option<Value>, NonDeterminism> {
        let Some(e) = self.entries.get(self.cursor) else {
            return Ok(None);
        };
        let h = hash(request);
        if e.call != call || e.hash != h {
            return Err(NonDeterminism(format!(
                "the guest diverged from its journal at entry {}: the journal records {} with request {}, but the guest called {} with request {}",
                self.cursor,
                e.call,
                e.request,
                call,
                stored(request)
            )));
        }
        self.cursor += 1;
        Ok(Some(e.outcome.clone()))
    }

    /// The start of a call that waits (a sleep, an await): replays its
    /// entry or journals it (with the outcome `"waiting"`), then gives its
    /// position and, when the journal also holds its completion (a
    /// [`COMPLETED`] entry), the completion's outcome.
    pub async fn wait_call(&mut self, call: &str, request: &Value) -> wasmtime::Result<(u32, Option<Value>)> {
        let seq = self.cursor();
        if self.next(call, request)?.is_none() {
            self.record(call, request, ok(json!("waiting"))).await?;
            return Ok((seq, None));
        }
        let done = json!({ "of": seq });
        Ok((seq, self.next(COMPLETED, &done)?))
    }

    /// Journals the completion of the waiting call at `of`.
    pub async fn complete(&mut self, of: u32, outcome: Value) -> wasmtime::Result<Value> {
        self.record(COMPLETED, &json!({ "of": of }), outcome).await
    }

    /// Appends a live call's entry; returns the outcome as stored (an
    /// outcome over [`MAX_OUTCOME`] bytes becomes a `States.Runtime` error)
    /// once it is durable. The guest must see exactly that.
    pub async fn record(&mut self, call: &str, request: &Value, outcome: Value) -> wasmtime::Result<Value> {
        self.record_with(call, request, outcome, None).await
    }

    /// [`record`](Replay::record), registering `callback` as a task token
    /// in the same commit.
    pub async fn record_with(
        &mut self,
        call: &str,
        request: &Value,
        outcome: Value,
        callback: Option<String>,
    ) -> wasmtime::Result<Value> {
        let size = serde_json::to_vec(&outcome).map_or(0, |v| v.len());
        let outcome = if size > MAX_OUTCOME {
            let mut o = json!({ "err": {
                "error": crate::asl::error::RUNTIME,
                "cause": format!("the result of {call} is {size} bytes; a journaled result is at most {MAX_OUTCOME}"),
            }});
            // await-any's answer keeps which execution it was.
            if let Some(i) = outcome.get("index") {
                o["index"] = i.clone();
            }
            o
        } else {
            outcome
        };
        if self.entries.len() >= MAX_ENTRIES {
            return Err(super::store::LimitExceeded(format!(
                "the workflow's journal reached its limit of {MAX_ENTRIES} entries"
            ))
            .into());
        }
        let entry = Entry {
            call: call.to_string(),
            hash: hash(request),
            request: stored(request),
            outcome,
        };
        let bytes = serde_json::to_vec(&entry)?;
        if self.bytes + bytes.len() > MAX_JOURNAL_BYTES {
            return Err(super::store::LimitExceeded(format!(
                "the workflow's journal reached its limit of {} MiB",
                MAX_JOURNAL_BYTES >> 20
            ))
            .into());
        }
        let mut note = json!({
            "sequence": self.cursor,
            "call": entry.call,
            "request": entry.request.to_string(),
        });
        match entry.outcome.get("err") {
            Some(e) => {
                note["error"] = e["error"].clone();
                note["cause"] = e["cause"].clone();
            }
            None => note["result"] = Value::String(super::run::clip(entry.outcome["ok"].to_string(), 32 * 1024)),
        }
        let at = JournalAt {
            seq: self.cursor as u32,
            ..self.at.clone()
        };
        let bytes_len = bytes.len();
        let t = std::time::Instant::now();
        let appended = self.durable.append(at, bytes, note, callback).await;
        self.waited += t.elapsed();
        appended.map_err(|e| -> wasmtime::Error {
            if e.starts_with(crate::tasks::workflow::CONFLICT) {
                JournalConflict(e).into()
            } else {
                JournalFailed(e).into()
            }
        })?;
        let outcome = entry.outcome.clone();
        self.bytes += bytes_len;
        self.entries.push(entry);
        self.cursor += 1;
        Ok(outcome)
    }

    /// Checks the end of a run: entries left over mean the guest diverged.
    pub fn finish(&self) -> Result<(), NonDeterminism> {
        match self.entries.get(self.cursor) {
            None => Ok(()),
            Some(e) => Err(NonDeterminism(format!(
                "the guest diverged from its journal: it finished, but the journal records {} more call(s), from entry {} ({} with request {})",
                self.entries.len() - self.cursor,
                self.cursor,
                e.call,
                e.request
            ))),
        }
    }
}

/// The request as stored: itself, or its length when long.
fn stored(request: &Value) -> Value {
    let n = serde_json::to_vec(request).map_or(0, |v| v.len());
    if n > MAX_STORED_REQUEST {
        json!({ "bytes": n })
    } else {
        request.clone()
    }
}

/// Parses stored entries.
pub fn parse_entries(raw: Vec<Vec<u8>>) -> Result<Vec<Entry>, String> {
    raw.iter()
        .enumerate()
        .map(|(i, b)| serde_json::from_slice(b).map_err(|e| format!("journal entry {i} cannot be read: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::workflow::MemoryDurable;

    fn at() -> JournalAt {
        JournalAt {
            execution_arn: "arn".into(),
            token: 1,
            key: "k".into(),
            seq: 0,
        }
    }

    #[tokio::test]
    async fn replays_in_order_and_detects_divergence() {
        let d: Arc<dyn Durable> = Arc::new(MemoryDurable::default());
        let mut r = Replay::new(at(), vec![], d.clone(), Wake::default());
        assert_eq!(r.next("durable.now-ms", &json!({})).unwrap(), None);
        r.record("durable.now-ms", &json!({}), ok(json!(5))).await.unwrap();
        r.record("durable.sleep-ms", &json!({"ms": 10}), ok(Value::Null))
            .await
            .unwrap();
        let entries = parse_entries(d.journal("arn", 1).unwrap()).unwrap();
        assert_eq!(entries.len(), 2);

        let mut again = Replay::new(at(), entries.clone(), d.clone(), Wake::default());
        assert!(again.replaying());
        assert_eq!(again.next("durable.now-ms", &json!({})).unwrap(), Some(ok(json!(5))));
        let e = again.next("durable.sleep-ms", &json!({"ms": 11})).unwrap_err();
        assert!(e.0.contains("entry 1") && e.0.contains("durable.sleep-ms"), "{e}");

        let mut short = Replay::new(at(), entries, d, Wake::default());
        short.next("durable.now-ms", &json!({})).unwrap();
        let e = short.finish().unwrap_err();
        assert!(e.0.contains("1 more call(s), from entry 1"), "{e}");
    }

    #[test]
    fn long_requests_are_stored_as_their_length() {
        let big = json!({"body": "x".repeat(MAX_STORED_REQUEST)});
        assert!(stored(&big).get("bytes").is_some());
        assert_eq!(stored(&json!({"a": 1})), json!({"a": 1}));
    }
}
