//! What a code workflow needs from the executor that runs it: a durable
//! journal, and child executions.
//!
//! A code workflow (a WebAssembly guest of world `workflow`, served by
//! [`crate::wasm::workflow`]) is a Task whose integration journals every
//! host call. The journal must be committed in the executor's group commit
//! before the guest sees a call's result, and the workflow may start state
//! machine executions and wait for them. [`Durable`] is that service. The
//! durable executor binds its implementation to the [`Registry`](super::Registry)
//! when it starts ([`Registry::bind_durable`](super::Registry::bind_durable));
//! without one (`aslan run`), [`MemoryDurable`] keeps the journal in memory
//! and child executions are refused.

use crate::asl::StateError;
use crate::exec::{Clock, SystemClock};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// How [`Durable::append`]'s error starts when another activation of the
/// same task wrote that entry first: the activation ends and the task runs
/// again from the journal.
pub const CONFLICT: &str = "journal conflict";

/// A boxed future of the [`Durable`] calls.
pub type DurableFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Where a journal entry goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalAt {
    /// The execution the task belongs to.
    pub execution_arn: String,
    /// The task's token in that execution.
    pub token: u64,
    /// The invocation's idempotency key (child executions are named
    /// after it).
    pub key: String,
    /// The entry's position, from 0.
    pub seq: u32,
}

/// How a child execution stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildStatus {
    /// Still running.
    Running,
    /// Ended: its output, or its error and cause.
    Ended(Result<Value, StateError>),
}

/// The executor's services to code workflows; see the [module
/// documentation](self).
pub trait Durable: Send + Sync {
    /// The journal of the task `token` of `execution_arn`, in order (each
    /// entry as it was appended).
    fn journal(&self, execution_arn: &str, token: u64) -> Result<Vec<Vec<u8>>, String>;

    /// Appends an entry and resolves once it is durable, with `note` added
    /// to the execution's history (a `HostCallRecorded` event) and, when
    /// given, `callback` registered as a task token of the task (answered
    /// with SendTaskSuccess/SendTaskFailure). Fails when the task is no
    /// longer running, or `at.seq` is not the journal's next position.
    fn append(
        &self,
        at: JournalAt,
        entry: Vec<u8>,
        note: Value,
        callback: Option<String>,
    ) -> DurableFuture<Result<(), String>>;

    /// The answer to a callback token, once SendTaskSuccess (`{"ok":
    /// output}`) or SendTaskFailure (`{"err": {"error", "cause"}}`) gave it.
    fn callback_answer(&self, token: &str) -> Result<Option<Value>, String>;

    /// Starts an execution of `state_machine` (a name or an ARN) named
    /// `name`; starting it again with the same input gives the same ARN.
    fn start_execution(
        &self,
        state_machine: String,
        name: String,
        input: String,
    ) -> DurableFuture<Result<String, StateError>>;

    /// How an execution stands.
    fn execution_status(&self, arn: String) -> DurableFuture<Result<ChildStatus, StateError>>;

    /// The executor's clock (ms since the Unix epoch): when sleeps end.
    fn now_ms(&self) -> i64;
}

/// One invocation's entries, in order.
type Journal = Vec<Vec<u8>>;

/// A [`Durable`] in memory, for a run in one process: the journal lasts as
/// long as the process, child executions are refused, and callbacks are
/// never answered (there is no API to answer them).
pub struct MemoryDurable {
    journals: Mutex<HashMap<(String, u64), Journal>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryDurable {
    /// On the system clock.
    fn default() -> Self {
        MemoryDurable::with_clock(Arc::new(SystemClock))
    }
}

impl MemoryDurable {
    /// A journal in memory whose sleeps run on `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryDurable {
        MemoryDurable {
            journals: Mutex::default(),
            clock,
        }
    }
}

fn no_server() -> StateError {
    StateError::runtime("a code workflow can start state machine executions only on a server (aslan serve)")
}

impl Durable for MemoryDurable {
    fn journal(&self, execution_arn: &str, token: u64) -> Result<Vec<Vec<u8>>, String> {
        Ok(self
            .journals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(execution_arn.to_string(), token))
            .cloned()
            .unwrap_or_default())
    }

    fn append(
        &self,
        at: JournalAt,
        entry: Vec<u8>,
        _note: Value,
        callback: Option<String>,
    ) -> DurableFuture<Result<(), String>> {
        if callback.is_some() {
            return Box::pin(std::future::ready(Err(
                "a code workflow can create callbacks only on a server (aslan serve), whose API answers them".into(),
            )));
        }
        let mut j = self.journals.lock().unwrap_or_else(|e| e.into_inner());
        let list = j.entry((at.execution_arn, at.token)).or_default();
        let r = if list.len() == at.seq as usize {
            list.push(entry);
            Ok(())
        } else {
            Err(format!(
                "journal entry {} out of order (the journal has {})",
                at.seq,
                list.len()
            ))
        };
        Box::pin(std::future::ready(r))
    }

    fn callback_answer(&self, _: &str) -> Result<Option<Value>, String> {
        Ok(None)
    }

    fn start_execution(&self, _: String, _: String, _: String) -> DurableFuture<Result<String, StateError>> {
        Box::pin(std::future::ready(Err(no_server())))
    }

    fn execution_status(&self, _: String) -> DurableFuture<Result<ChildStatus, StateError>> {
        Box::pin(std::future::ready(Err(no_server())))
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
