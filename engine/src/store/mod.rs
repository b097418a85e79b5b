//! The sled store: state machines, executions, history, snapshots, timers
//! and in-flight tasks, in one sled tree with one-letter key prefixes so that
//! a step's writes commit in one atomic batch.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `c` | `c` | next execution id (u64 BE) |
//! | `m` | `m` name | [`StateMachineRecord`] (JSON) |
//! | `d` | `d` name `\0` revision (u64 BE) | definition text of that revision |
//! | `x` | `x` id (u64 BE) | [`ExecutionRecord`] (JSON) |
//! | `a` | `a` execution ARN | id (u64 BE) |
//! | `l` | `l` state machine name `\0` !start (i64 BE) id | `()`: executions by machine, newest first |
//! | `s` | `s` id | snapshot of a running execution (JSON) |
//! | `h` | `h` id first event id (u64 BE each) | a step's history events (JSON array, as the API returns them) |
//! | `t` | `t` fire-at (u64 BE, offset) id token | `()` |
//! | `k` | `k` id token | in-flight task: [`TaskRecord`] (JSON) |
//! | `q` | `q` task token | [`TokenEntry`] (JSON): which execution and task a task token belongs to |
//! | `z` | `z` id token | a cancelled task whose integration's cancel has not finished: [`TaskRecord`] |
//! | `v` | `v` activity name | [`ActivityRecord`] (JSON) |
//! | `r` | `r` Map Run ARN | [`MapRunRecord`] (JSON) |
//! | `i` | `i` Map Run ARN | the children's inputs (JSON array), written once |
//! | `o` | `o` Map Run ARN `\0` index (u32 BE) | an ended child's output (JSON) |
//! | `p` | `p` execution ARN `\0` Map Run ARN | `()`: an execution's Map Runs |
//! | `J` | `J` execution ARN `\0` task token (u64 BE) seq (u32 BE) | a code workflow's journal entry (JSON) |
//! | `K` | `K` task token | the answer to a code workflow's callback token (JSON) |
//!
//! A Map Run's children are executions like any other, listed under `l`
//! with the Map Run's ARN in place of the machine's name.
//!
//! Durability: [`Store::flush`] writes sled's buffers and then calls
//! `fdatasync` on sled's log file (sled 0.34's own flush only issues
//! `sync_file_range`, which flushes neither metadata nor the device cache).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

pub mod maprun;
pub use maprun::MapRunRecord;

/// A state machine as the API describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StateMachineRecord {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Current definition text.
    pub definition: String,
    /// `roleArn`.
    pub role_arn: String,
    /// `STANDARD` or `EXPRESS`.
    pub sm_type: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last update, ms since the epoch.
    pub updated_ms: i64,
    /// Bumped by every UpdateStateMachine.
    pub revision: u64,
}

/// An execution as the API describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecutionRecord {
    /// Internal id (key of history and snapshot).
    pub id: u64,
    /// ARN.
    pub arn: String,
    /// Name.
    pub name: String,
    /// The state machine's ARN.
    pub sm_arn: String,
    /// The state machine's name.
    pub sm_name: String,
    /// The definition revision it runs.
    pub revision: u64,
    /// Mock test case, for Step Functions Local's `ARN#TestCase` convention.
    pub test_case: Option<String>,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// Input JSON text.
    pub input: String,
    /// Output JSON text, once succeeded.
    pub output: Option<String>,
    /// Error name, once failed.
    pub error: Option<String>,
    /// Cause, once failed.
    pub cause: Option<String>,
    /// Start, ms since the epoch.
    pub start_ms: i64,
    /// Stop, ms since the epoch.
    pub stop_ms: Option<i64>,
    /// Times redriven.
    pub redrive_count: u32,
    /// Last redrive, ms since the epoch.
    pub redrive_ms: Option<i64>,
    /// A Distributed Map's child: its Map Run's ARN and its index there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_run: Option<(String, u32)>,
}

/// Where an in-flight task stands, as the executor persists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum TaskPhase {
    /// Handed to its integration; after a restart it is started again
    /// (at-least-once, with the same idempotency key).
    Dispatched,
    /// Between polls: after a restart, polling resumes from `state` at
    /// `next_ms`; the work is not started again.
    Polling {
        /// The integration's poll state.
        state: Value,
        /// When to poll next, ms since the epoch.
        next_ms: i64,
    },
    /// Waiting for SendTaskSuccess/Failure; nothing runs.
    Parked,
    /// An Activity task waiting for a worker's GetActivityTask.
    Queued,
    /// An Activity task a worker took; waiting for its answer.
    Handed,
}

/// An in-flight task.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskRecord {
    /// What the core asked for.
    pub invocation: crate::asl::TaskInvocation,
    /// Where it stands.
    pub phase: TaskPhase,
    /// `TaskStarted` was recorded (so a restart does not record it again).
    #[serde(default)]
    pub started: bool,
    /// In a cancel record (`z`): the execution it belonged to, which may
    /// have ended by the time the cancel runs: (execution ARN, state machine
    /// ARN, role ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<(String, String, String)>,
}

/// The task-token index entry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenEntry {
    /// Execution id.
    pub id: u64,
    /// The core's token of the task.
    pub token: u64,
    /// The task timed out: SendTask* answers `TaskTimedOut`.
    #[serde(default)]
    pub timed_out: bool,
    /// A code workflow's callback token (`create-callback`): the answer is
    /// kept for the workflow, which it wakes; the task goes on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub callback: bool,
}

/// An Activity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActivityRecord {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

/// An execution's status, as the API names it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Running.
    Running,
    /// Ended with an output.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Ran past the machine's `TimeoutSeconds`.
    TimedOut,
    /// Stopped by StopExecution.
    Aborted,
}

impl ExecutionStatus {
    /// The API's name: `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }

    /// Parses the API's name.
    pub fn parse(s: &str) -> Option<ExecutionStatus> {
        [
            ExecutionStatus::Running,
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// FAILED, TIMED_OUT and ABORTED executions can be redriven.
    pub fn is_redrivable(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        )
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ExecutionStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value did not decode.
    #[error("corrupt stored value: {0}")]
    Codec(#[from] serde_json::Error),
}

/// Key builders.
pub mod key {
    /// The id counter.
    pub const COUNTER: &[u8] = b"c";

    fn with(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
        k.push(prefix);
        for p in parts {
            k.extend_from_slice(p);
        }
        k
    }
    /// `m` name.
    pub fn machine(name: &str) -> Vec<u8> {
        with(b'm', &[name.as_bytes()])
    }
    /// `d` name `\0` revision.
    pub fn definition(name: &str, revision: u64) -> Vec<u8> {
        with(b'd', &[name.as_bytes(), b"\0", &revision.to_be_bytes()])
    }
    /// `x` id.
    pub fn execution(id: u64) -> Vec<u8> {
        with(b'x', &[&id.to_be_bytes()])
    }
    /// `a` ARN.
    pub fn arn(arn: &str) -> Vec<u8> {
        with(b'a', &[arn.as_bytes()])
    }
    /// `l` machine `\0` (newest first).
    pub fn listing_prefix(sm_name: &str) -> Vec<u8> {
        with(b'l', &[sm_name.as_bytes(), b"\0"])
    }
    /// `l` machine `\0` !start id.
    pub fn listing(sm_name: &str, start_ms: i64, id: u64) -> Vec<u8> {
        let inv = u64::MAX - (start_ms as u64);
        with(
            b'l',
            &[sm_name.as_bytes(), b"\0", &inv.to_be_bytes(), &id.to_be_bytes()],
        )
    }
    /// `s` id.
    pub fn snapshot(id: u64) -> Vec<u8> {
        with(b's', &[&id.to_be_bytes()])
    }
    /// `h` id.
    pub fn history_prefix(id: u64) -> Vec<u8> {
        with(b'h', &[&id.to_be_bytes()])
    }
    /// `h` id first-event-of-the-step.
    pub fn history(id: u64, event: u64) -> Vec<u8> {
        with(b'h', &[&id.to_be_bytes(), &event.to_be_bytes()])
    }
    /// `t` at id token.
    pub fn timer(at_ms: i64, id: u64, token: u64) -> Vec<u8> {
        let at = (at_ms as u64) ^ (1 << 63);
        with(b't', &[&at.to_be_bytes(), &id.to_be_bytes(), &token.to_be_bytes()])
    }
    /// Decodes a timer key into (at, id, token).
    pub fn parse_timer(k: &[u8]) -> Option<(i64, u64, u64)> {
        if k.len() != 25 {
            return None;
        }
        let n = |r: std::ops::Range<usize>| u64::from_be_bytes(k[r].try_into().unwrap_or_default());
        Some(((n(1..9) ^ (1 << 63)) as i64, n(9..17), n(17..25)))
    }
    /// `J` execution ARN `\0` token: a code workflow's journal.
    pub fn journal_prefix(execution_arn: &str, token: u64) -> Vec<u8> {
        with(b'J', &[execution_arn.as_bytes(), b"\0", &token.to_be_bytes()])
    }
    /// `J` execution ARN `\0` token seq: one journal entry.
    pub fn journal(execution_arn: &str, token: u64, seq: u32) -> Vec<u8> {
        with(
            b'J',
            &[
                execution_arn.as_bytes(),
                b"\0",
                &token.to_be_bytes(),
                &seq.to_be_bytes(),
            ],
        )
    }
    /// `K` task token: the answer to a code workflow's callback.
    pub fn callback_answer(task_token: &str) -> Vec<u8> {
        with(b'K', &[task_token.as_bytes()])
    }
    /// `k` id token.
    pub fn task(id: u64, token: u64) -> Vec<u8> {
        with(b'k', &[&id.to_be_bytes(), &token.to_be_bytes()])
    }
    /// `q` task token.
    pub fn token(task_token: &str) -> Vec<u8> {
        with(b'q', &[task_token.as_bytes()])
    }
    /// `z` id token.
    pub fn cancel(id: u64, token: u64) -> Vec<u8> {
        with(b'z', &[&id.to_be_bytes(), &token.to_be_bytes()])
    }
    /// `v` name.
    pub fn activity(name: &str) -> Vec<u8> {
        with(b'v', &[name.as_bytes()])
    }
    /// `W` name: a registered WebAssembly module.
    pub fn module(name: &str) -> Vec<u8> {
        with(b'W', &[name.as_bytes()])
    }
    /// `B` sha256: a module's bytes.
    pub fn module_bytes(sha256: &str) -> Vec<u8> {
        with(b'B', &[sha256.as_bytes()])
    }
    /// `g` module `\0`: the guest state of a module.
    pub fn guest_state_prefix(module: &str) -> Vec<u8> {
        with(b'g', &[module.as_bytes(), b"\0"])
    }
    /// `g` module `\0` key.
    pub fn guest_state(module: &str, k: &str) -> Vec<u8> {
        with(b'g', &[module.as_bytes(), b"\0", k.as_bytes()])
    }
    /// Decodes a task (or cancel) key into (id, token).
    pub fn parse_task(k: &[u8]) -> Option<(u64, u64)> {
        if k.len() != 17 {
            return None;
        }
        let n = |r: std::ops::Range<usize>| u64::from_be_bytes(k[r].try_into().unwrap_or_default());
        Some((n(1..9), n(9..17)))
    }
}

/// The store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// sled's log file, for `fdatasync` (none for temporary stores).
    log: Option<std::sync::Arc<std::fs::File>>,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    ///
    /// sled locks the folder; a previous user that is just closing (its
    /// background flusher still exiting) is waited for up to two seconds,
    /// then the folder is reported as in use.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let mut tries = 0;
        loop {
            match sled::Config::new().path(dir).flush_every_ms(Some(200)).open() {
                Ok(db) => {
                    let log = std::fs::File::open(dir.join("db")).map_err(sled::Error::Io)?;
                    return Ok(Store {
                        db,
                        log: Some(std::sync::Arc::new(log)),
                    });
                }
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A throwaway in-memory store (tests).
    pub fn temporary() -> Result<Store, StoreError> {
        Ok(Store {
            db: sled::Config::new().temporary(true).open()?,
            log: None,
        })
    }

    /// Applies a batch atomically.
    pub fn apply(&self, batch: sled::Batch) -> Result<(), StoreError> {
        Ok(self.db.apply_batch(batch)?)
    }

    /// Makes everything applied so far durable: sled writes its buffers to
    /// its log file, then `fdatasync` on that file reaches stable storage.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        if let Some(log) = self.log.clone() {
            tokio::task::spawn_blocking(move || log.sync_data())
                .await
                .map_err(|e| sled::Error::Io(std::io::Error::other(e)))?
                .map_err(sled::Error::Io)?;
        }
        Ok(())
    }

    /// Applies a batch and makes it durable before returning (state machine
    /// and Activity changes, which do not go through the executor).
    pub async fn commit_now(&self, batch: sled::Batch) -> Result<(), StoreError> {
        self.apply(batch)?;
        self.flush().await
    }

    fn get_json<T: for<'de> Deserialize<'de>>(&self, k: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db.get(k)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// The next execution id to hand out.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self
            .db
            .get(key::COUNTER)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(1))
    }

    /// A registered WebAssembly module's record (JSON) by name.
    pub fn module_record(&self, name: &str) -> Result<Option<Value>, StoreError> {
        self.get_json(&key::module(name))
    }

    /// Every registered module's record, by name.
    pub fn module_records(&self) -> Result<Vec<Value>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(b"W") {
            let (_, v) = kv?;
            out.push(serde_json::from_slice(&v)?);
        }
        Ok(out)
    }

    /// A module's bytes by digest.
    pub fn module_bytes(&self, sha256: &str) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.db.get(key::module_bytes(sha256))?)
    }

    /// Registers (or replaces) a module durably: its record and its bytes.
    pub async fn put_module(&self, name: &str, record: &Value, sha256: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.insert(key::module(name), serde_json::to_vec(record)?);
        b.insert(key::module_bytes(sha256), bytes);
        self.commit_now(b).await
    }

    /// Removes a module's record durably (its bytes stay while another
    /// record names them); whether it was there.
    pub async fn delete_module(&self, name: &str) -> Result<bool, StoreError> {
        let Some(rec) = self.module_record(name)? else {
            return Ok(false);
        };
        let mut b = sled::Batch::default();
        b.remove(key::module(name));
        let sha = rec["sha256"].as_str().unwrap_or_default().to_string();
        let shared = self
            .module_records()?
            .iter()
            .any(|r| r["name"] != name && r["sha256"] == sha.as_str());
        if !shared {
            b.remove(key::module_bytes(&sha));
        }
        self.commit_now(b).await?;
        Ok(true)
    }

    /// A guest's stored value.
    pub fn guest_state(&self, module: &str, k: &str) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.db.get(key::guest_state(module, k))?)
    }

    /// Stores a guest's value (durable with the next flush, within 200 ms).
    pub fn set_guest_state(&self, module: &str, k: &str, value: &[u8]) -> Result<(), StoreError> {
        self.db.insert(key::guest_state(module, k), value)?;
        Ok(())
    }

    /// Removes a guest's value.
    pub fn remove_guest_state(&self, module: &str, k: &str) -> Result<(), StoreError> {
        self.db.remove(key::guest_state(module, k))?;
        Ok(())
    }

    /// How many values a guest has stored.
    pub fn guest_state_count(&self, module: &str) -> usize {
        self.db.scan_prefix(key::guest_state_prefix(module)).count()
    }

    /// A state machine by name.
    pub fn machine(&self, name: &str) -> Result<Option<StateMachineRecord>, StoreError> {
        self.get_json(&key::machine(name))
    }

    /// Every state machine, by name.
    pub fn machines(&self) -> Result<Vec<StateMachineRecord>, StoreError> {
        self.db
            .scan_prefix(b"m")
            .map(|r| Ok(serde_json::from_slice(&r?.1)?))
            .collect()
    }

    /// A definition revision's text.
    pub fn definition(&self, name: &str, revision: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get(key::definition(name, revision))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The first definition revision of `name` not yet used. Revisions of a
    /// deleted machine stay (its executions may still run), so a machine
    /// created again under the same name continues the numbering.
    pub fn next_revision(&self, name: &str) -> Result<u64, StoreError> {
        let mut prefix = vec![b'd'];
        prefix.extend_from_slice(name.as_bytes());
        prefix.push(0);
        match self.db.scan_prefix(&prefix).keys().next_back() {
            Some(k) => {
                let k = k?;
                Ok(u64::from_be_bytes(k[k.len() - 8..].try_into().unwrap_or_default()) + 1)
            }
            None => Ok(1),
        }
    }

    /// Writes a state machine (and its current definition revision),
    /// durably.
    pub async fn put_machine(&self, rec: &StateMachineRecord) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.insert(key::machine(&rec.name), serde_json::to_vec(rec)?);
        b.insert(key::definition(&rec.name, rec.revision), rec.definition.as_bytes());
        self.commit_now(b).await
    }

    /// Deletes a state machine record (its executions stay readable), durably.
    pub async fn delete_machine(&self, name: &str) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.remove(key::machine(name));
        self.commit_now(b).await
    }

    /// An Activity by name.
    pub fn activity(&self, name: &str) -> Result<Option<ActivityRecord>, StoreError> {
        self.get_json(&key::activity(name))
    }

    /// Every Activity, by name.
    pub fn activities(&self) -> Result<Vec<ActivityRecord>, StoreError> {
        self.db
            .scan_prefix(b"v")
            .map(|r| Ok(serde_json::from_slice(&r?.1)?))
            .collect()
    }

    /// Writes an Activity, durably.
    pub async fn put_activity(&self, rec: &ActivityRecord) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.insert(key::activity(&rec.name), serde_json::to_vec(rec)?);
        self.commit_now(b).await
    }

    /// Deletes an Activity, durably.
    pub async fn delete_activity(&self, name: &str) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.remove(key::activity(name));
        self.commit_now(b).await
    }

    /// The task-token index entry for a token.
    pub fn token_entry(&self, task_token: &str) -> Result<Option<TokenEntry>, StoreError> {
        self.get_json(&key::token(task_token))
    }

    /// A code workflow's journal entries, in order.
    pub fn journal(&self, execution_arn: &str, token: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.db
            .scan_prefix(key::journal_prefix(execution_arn, token))
            .values()
            .map(|v| Ok(v?.to_vec()))
            .collect()
    }

    /// The answer to a code workflow's callback token, if given.
    pub fn callback_answer(&self, task_token: &str) -> Result<Option<Value>, StoreError> {
        self.get_json(&key::callback_answer(task_token))
    }

    /// Whether `k` is stored.
    pub fn contains(&self, k: &[u8]) -> Result<bool, StoreError> {
        Ok(self.db.contains_key(k)?)
    }

    /// A code workflow's journal entries with their keys.
    pub fn journal_entries(&self, execution_arn: &str, token: u64) -> Vec<(sled::IVec, sled::IVec)> {
        self.db
            .scan_prefix(key::journal_prefix(execution_arn, token))
            .filter_map(Result::ok)
            .collect()
    }

    /// How many journal entries the store holds, of every code workflow.
    pub fn journal_entry_count(&self) -> usize {
        self.db.scan_prefix(b"J").count()
    }

    /// The keys of a code workflow's journal.
    pub fn journal_keys(&self, execution_arn: &str, token: u64) -> Vec<sled::IVec> {
        self.db
            .scan_prefix(key::journal_prefix(execution_arn, token))
            .keys()
            .filter_map(Result::ok)
            .collect()
    }

    /// An execution by id.
    pub fn execution(&self, id: u64) -> Result<Option<ExecutionRecord>, StoreError> {
        self.get_json(&key::execution(id))
    }

    /// An execution by ARN.
    pub fn execution_by_arn(&self, arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        match self.db.get(key::arn(arn))? {
            Some(v) => {
                let id = u64::from_be_bytes(v.as_ref().try_into().unwrap_or_default());
                self.execution(id)
            }
            None => Ok(None),
        }
    }

    /// A machine's executions, newest first, starting after `after` (a listing key).
    pub fn executions_of(&self, sm_name: &str) -> impl Iterator<Item = Result<(Vec<u8>, u64), StoreError>> + '_ {
        self.db.scan_prefix(key::listing_prefix(sm_name)).map(|r| {
            let (k, _) = r?;
            let id = u64::from_be_bytes(k[k.len() - 8..].try_into().unwrap_or_default());
            Ok((k.to_vec(), id))
        })
    }

    /// History events of an execution, oldest first.
    pub fn history(&self, id: u64) -> Result<Vec<Value>, StoreError> {
        let mut out = Vec::new();
        for r in self.db.scan_prefix(key::history_prefix(id)) {
            let step: Vec<Value> = serde_json::from_slice(&r?.1)?;
            out.extend(step);
        }
        Ok(out)
    }

    /// One page of an execution's history without parsing the rest:
    /// `max` events from position `start` (0-based; counted from the last
    /// event when `reverse`), and the history's length. Stored steps are
    /// split into their events by [`json_array_elements`] and only the
    /// page's events are parsed, so a console polling the tail of a long
    /// history, or a client paging through one step of 10,000 events (an
    /// inline Map), pays a scan of the steps it touches, not a parse of
    /// the whole history per page.
    pub fn history_page(
        &self,
        id: u64,
        start: usize,
        max: usize,
        reverse: bool,
    ) -> Result<(Vec<Value>, usize), StoreError> {
        // Events are numbered 1..=len without gaps; a step's key holds the
        // id of its first event.
        let first_id = |k: &[u8]| u64::from_be_bytes(k[9..17].try_into().unwrap_or_default());
        // The last step gives the length; its scan serves the page too when
        // the page reaches into it (a poll of the tail always does).
        let (last_first, mut last_ranges) = match self.db.scan_prefix(key::history_prefix(id)).next_back() {
            None => return Ok((Vec::new(), 0)),
            Some(r) => {
                let (k, v) = r?;
                (first_id(&k), Some(json_array_elements(&v)))
            }
        };
        let len = (last_first - 1) as usize + last_ranges.as_ref().map_or(0, Vec::len);
        if start >= len || max == 0 {
            return Ok((Vec::new(), len));
        }
        // The page holds the events with ids lo..=hi, in the asked order.
        let (lo, hi) = if reverse {
            let hi = (len - start) as u64;
            (hi.saturating_sub(max as u64 - 1).max(1), hi)
        } else {
            let lo = start as u64 + 1;
            (lo, (lo + max as u64 - 1).min(len as u64))
        };
        let first_key = key::history(id, 0);
        // The step holding event `lo` starts at or before it.
        let from = match self.db.range(first_key.clone()..=key::history(id, lo)).next_back() {
            Some(r) => r?.0.to_vec(),
            None => first_key,
        };
        let mut out = Vec::with_capacity((hi - lo + 1) as usize);
        for r in self.db.range(from..=key::history(id, hi)) {
            let (k, v) = r?;
            let step_first = first_id(&k);
            let ranges = match step_first == last_first {
                true => last_ranges.take(),
                false => None,
            };
            for (i, range) in ranges
                .unwrap_or_else(|| json_array_elements(&v))
                .into_iter()
                .enumerate()
            {
                let event = step_first + i as u64;
                if (lo..=hi).contains(&event) {
                    out.push(serde_json::from_slice(&v[range])?);
                }
            }
        }
        if reverse {
            out.reverse();
        }
        Ok((out, len))
    }

    /// One execution's snapshot.
    pub fn snapshot(&self, id: u64) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.db.get(key::snapshot(id))?)
    }

    /// Every stored snapshot: (id, bytes).
    pub fn snapshots(&self) -> impl Iterator<Item = Result<(u64, sled::IVec), StoreError>> + '_ {
        self.db.scan_prefix(b"s").map(|r| {
            let (k, v) = r?;
            Ok((u64::from_be_bytes(k[1..9].try_into().unwrap_or_default()), v))
        })
    }

    /// Every persisted timer: (at, id, token).
    pub fn timers(&self) -> Result<Vec<(i64, u64, u64)>, StoreError> {
        let mut out = Vec::new();
        for r in self.db.scan_prefix(b"t") {
            if let Some(t) = key::parse_timer(&r?.0) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Every in-flight task: (id, token, [`TaskRecord`] JSON).
    pub fn tasks(&self) -> Result<Vec<(u64, u64, sled::IVec)>, StoreError> {
        self.scan_tasks(b"k")
    }

    /// Every cancelled task whose cancel has not finished: (id, token, [`TaskRecord`] JSON).
    pub fn cancels(&self) -> Result<Vec<(u64, u64, sled::IVec)>, StoreError> {
        self.scan_tasks(b"z")
    }

    fn scan_tasks(&self, prefix: &[u8]) -> Result<Vec<(u64, u64, sled::IVec)>, StoreError> {
        let mut out = Vec::new();
        for r in self.db.scan_prefix(prefix) {
            let (k, v) = r?;
            if let Some((id, token)) = key::parse_task(&k) {
                out.push((id, token, v));
            }
        }
        Ok(out)
    }
}

/// The byte ranges of the elements of a JSON array (a stored history
/// step), found by tracking nesting and strings, without parsing them.
/// Malformed input gives whatever ranges it seems to hold; parsing them
/// then reports the error.
pub fn json_array_elements(buf: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut start) = (0usize, false, false, None);
    for (i, &b) in buf.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'{' | b'[' => {
                if depth == 1 {
                    start = Some(i);
                }
                depth += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                match (depth, start.take()) {
                    (1, Some(s)) => out.push(s..i + 1),
                    // The array's end closes a last scalar element.
                    (0, Some(s)) => out.push(s..i),
                    (_, s) => start = s,
                }
            }
            b'"' => {
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
                in_string = true;
            }
            b',' if depth == 1 => {
                if let Some(s) = start.take() {
                    out.push(s..i);
                }
            }
            _ if depth == 1 && start.is_none() && !b.is_ascii_whitespace() => start = Some(i),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_elements_are_found_without_parsing() {
        let text = br#"[ {"a": "x}\"]", "b": [1, {"c": 2}]}, 7, "s,]", [], {}, 8 ]"#;
        let got: Vec<&str> = json_array_elements(text)
            .into_iter()
            .map(|r| std::str::from_utf8(&text[r]).unwrap().trim())
            .collect();
        assert_eq!(
            got,
            [
                r#"{"a": "x}\"]", "b": [1, {"c": 2}]}"#,
                "7",
                r#""s,]""#,
                "[]",
                "{}",
                "8"
            ]
        );
        assert!(json_array_elements(b"[]").is_empty());
    }

    #[test]
    fn history_pages_match_slices_of_the_whole_history() {
        let store = Store::temporary().unwrap();
        // Steps of 1 to 4 events, as group commits write them, next to a
        // neighbour execution whose events must not leak into the pages.
        let mut next = 1u64;
        let mut batch = sled::Batch::default();
        for size in [1usize, 3, 2, 4, 1, 1, 3] {
            let step: Vec<Value> = (0..size as u64).map(|i| serde_json::json!({"id": next + i})).collect();
            batch.insert(key::history(7, next), serde_json::to_vec(&step).unwrap());
            next += size as u64;
        }
        batch.insert(key::history(8, 1), b"[{\"id\": 1}]".to_vec());
        batch.insert(key::history(6, 1), b"[{\"id\": 1}]".to_vec());
        store.apply(batch).unwrap();
        let all = store.history(7).unwrap();
        assert_eq!(all.len(), 15);
        for reverse in [false, true] {
            let mut ordered = all.clone();
            if reverse {
                ordered.reverse();
            }
            for start in 0..=16 {
                for max in 0..=16 {
                    let (page, len) = store.history_page(7, start, max, reverse).unwrap();
                    assert_eq!(len, 15);
                    let want: Vec<Value> = ordered.iter().skip(start).take(max).cloned().collect();
                    assert_eq!(page, want, "start {start} max {max} reverse {reverse}");
                }
            }
        }
        assert_eq!(store.history_page(9, 0, 10, false).unwrap(), (vec![], 0));
    }

    #[test]
    fn keys_round_trip_and_sort() {
        assert_eq!(
            key::parse_timer(&key::timer(1_700_000_000_000, 7, 9)),
            Some((1_700_000_000_000, 7, 9))
        );
        assert!(key::timer(5, 1, 1) < key::timer(6, 0, 0));
        assert!(key::timer(-5, 1, 1) < key::timer(0, 0, 0));
        assert_eq!(key::parse_task(&key::task(3, 4)), Some((3, 4)));
        // Listing keys: newest first.
        assert!(key::listing("sm", 2000, 1) < key::listing("sm", 1000, 2));
    }

    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    #[test]
    fn machines_and_counter() {
        let s = Store::temporary().unwrap();
        assert_eq!(s.next_id().unwrap(), 1);
        let rec = StateMachineRecord {
            name: "a".into(),
            arn: "arn".into(),
            definition: "{}".into(),
            role_arn: "r".into(),
            sm_type: "STANDARD".into(),
            created_ms: 1,
            updated_ms: 1,
            revision: 1,
        };
        futures_lite_block_on(s.put_machine(&rec)).unwrap();
        assert_eq!(s.machine("a").unwrap(), Some(rec.clone()));
        assert_eq!(s.definition("a", 1).unwrap().as_deref(), Some("{}"));
        assert_eq!(s.machines().unwrap().len(), 1);
        futures_lite_block_on(s.delete_machine("a")).unwrap();
        assert_eq!(s.machine("a").unwrap(), None);
    }
}
