//! `arn:aslan:states:::workflow:NAME`: a code workflow (a module of world
//! `workflow`) as a Task resource, durable by journal and replay.
//!
//! A state machine whose only state is such a Task *is* the code workflow:
//! StartExecution, DescribeExecution, GetExecutionHistory (each journaled
//! call is a `HostCallRecorded` event), StopExecution, timeouts and
//! redrive work as for any execution. `aslan run flow.wasm` and
//! CreateStateMachine with [`definition`] make that machine; an ASL
//! machine may also call a code workflow as one of its Tasks.
//!
//! Each activation instantiates the guest and runs its `run` from the
//! start with the invocation's journal ([`super::journal`]). A sleep or an
//! await that must wait ends the activation as a durable poll step
//! ([`Outcome::Poll`]): the executor commits it with a timer, and the next
//! activation (after a restart too) replays the journal to the same point.
//! The journal belongs to the invocation (the execution and the task's
//! token): a retry of the Task is a new invocation and starts a new
//! journal, and the executor removes a journal when its task ends.

use super::journal::{self, JournalConflict, JournalFailed, NonDeterminism, Replay, Suspend, Wake, NON_DETERMINISM};
use super::run::{classify, WasmHost};
use super::tasks::{caller, module_of};
use crate::asl::StateError;
use crate::tasks::workflow::{Durable, JournalAt, MemoryDurable};
use crate::tasks::{Integration, Outcome, Pattern, Resource, Task, TaskFuture};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

/// The resource prefix of code workflows.
pub const RESOURCE_PREFIX: &str = "arn:aslan:states:::workflow:";

/// The state machine definition that runs the code workflow `module`: one
/// Task state, named `Workflow`.
pub fn definition(module: &str) -> String {
    json!({
        "Comment": format!("The code workflow {module}"),
        "StartAt": "Workflow",
        "States": {
            "Workflow": {
                "Type": "Task",
                "Resource": format!("{RESOURCE_PREFIX}{module}"),
                "End": true
            }
        }
    })
    .to_string()
}

/// Serves `arn:aslan:states:::workflow:NAME`.
pub struct Workflows {
    host: Arc<WasmHost>,
    durable: Arc<OnceLock<Arc<dyn Durable>>>,
    memory: Arc<dyn Durable>,
}

impl Workflows {
    /// The integration over `host`'s modules, journaling through what the
    /// executor binds to `durable` (in memory until one does).
    pub fn new(host: Arc<WasmHost>, durable: Arc<OnceLock<Arc<dyn Durable>>>) -> Workflows {
        Workflows {
            host,
            durable,
            memory: Arc::new(MemoryDurable::default()),
        }
    }

    fn durable(&self) -> Arc<dyn Durable> {
        self.durable.get().cloned().unwrap_or_else(|| self.memory.clone())
    }

    fn activate(&self, task: Task, state: Option<Value>) -> TaskFuture {
        let host = self.host.clone();
        let durable = self.durable();
        Box::pin(async move {
            let m = match module_of(&host, &task) {
                Ok(m) => m,
                Err(failed) => return failed,
            };
            let key = task.ctx.idempotency_key.clone();
            let raw = durable.journal(&task.ctx.execution_arn, task.invocation.token);
            let bytes = raw.as_ref().map_or(0, |r| r.iter().map(Vec::len).sum());
            let entries = match raw.and_then(journal::parse_entries) {
                Ok(e) => e,
                Err(e) => return Outcome::Failed(StateError::runtime(format!("the workflow's journal: {e}"))),
            };
            task.ctx.started();
            let at = JournalAt {
                execution_arn: task.ctx.execution_arn.clone(),
                token: task.invocation.token,
                key,
                seq: 0,
            };
            let replay =
                Box::new(Replay::new(at, entries, durable, Wake::from_state(state.as_ref())).with_bytes(bytes));
            let again = state.unwrap_or_else(|| json!({}));
            let input = task.invocation.parameters.to_string();
            let who = caller(&task);
            let run = host.run_workflow(&m, &who, input, replay);
            tokio::select! {
                r = run => outcome(r, again),
                // Ended from outside: the executor has already moved on.
                _ = task.ctx.cancelled() => Outcome::Failed(StateError::new(
                    crate::asl::error::TASK_FAILED, "cancelled")),
            }
        })
    }
}

type RunResult = Result<
    (
        wasmtime::Result<Result<String, super::bindings::types::TaskError>>,
        String,
    ),
    StateError,
>;

/// What an activation came to; `again` is the poll state it started from
/// (for a run that lost a race to another).
fn outcome(r: RunResult, again: Value) -> Outcome {
    let (r, output) = match r {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(e),
    };
    match r {
        Ok(Ok(text)) => match serde_json::from_str(&text) {
            Ok(v) => Outcome::Succeeded(v),
            Err(e) => Outcome::Failed(StateError::runtime(format!("the workflow's output is not JSON: {e}"))),
        },
        Ok(Err(e)) => Outcome::Failed(StateError::new(e.error, e.cause)),
        Err(e) => {
            if let Some(s) = e.downcast_ref::<Suspend>() {
                return Outcome::Poll {
                    after_ms: s.after_ms,
                    state: s.state.clone(),
                };
            }
            if let Some(n) = e.downcast_ref::<NonDeterminism>() {
                return Outcome::Failed(StateError::new(NON_DETERMINISM, n.0.clone()));
            }
            if e.downcast_ref::<JournalConflict>().is_some() {
                return Outcome::Poll {
                    after_ms: 0,
                    state: again,
                };
            }
            if let Some(j) = e.downcast_ref::<JournalFailed>() {
                return Outcome::Failed(StateError::runtime(j.to_string()));
            }
            Outcome::Failed(classify(&e, &output))
        }
    }
}

const PATTERNS: &[Pattern] = &[Pattern::RequestResponse];

impl Integration for Workflows {
    fn patterns(&self, resource: &Resource) -> Option<&'static [Pattern]> {
        (resource.service() == "workflow" && !resource.action().is_empty()).then_some(PATTERNS)
    }

    fn start(&self, task: Task) -> TaskFuture {
        self.activate(task, None)
    }

    fn poll(&self, task: Task, state: Value) -> TaskFuture {
        self.activate(task, Some(state))
    }
}
