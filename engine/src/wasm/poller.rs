//! Pollers: custom polling logic for `.sync` tasks, attached per state.
//!
//! The configuration file attaches a `poller` module to a state:
//!
//! ```toml
//! [[pollers]]
//! state_machine = "Jobs"   # the state machine's name
//! state = "Run the Job"    # an eks:runJob.sync (or eks:create*.sync) state
//! module = "job-poller"
//! ```
//!
//! The integration starts the work as usual (creates the Job). Then,
//! instead of its own wait, the [`Registry`](crate::tasks::Registry) calls
//! the guest's `decide` with `{"Resource", "Parameters", "Started"}` and the
//! guest's state from the poll before, until it decides `done` or
//! `failed`. `again` is a durable poll step: the executor commits the
//! guest's state with the task and arms a timer, so after a restart the
//! poll resumes from that state and the Job is not created again.
//! Cancelling the task still runs the integration's cancel (the Job is
//! deleted).

use super::bindings::types::{Context, Decision};
use super::run::WasmHost;
use super::tasks::caller;
use super::{PollerConfig, MODULE_NOT_FOUND};
use crate::asl::StateError;
use crate::tasks::{Outcome, Pattern, PollHook, Task, TaskFuture};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// The largest state a poller may hand to its next poll.
pub const MAX_STATE_BYTES: usize = 256 * 1024;
/// The longest wait between polls a poller may ask for.
pub const MAX_AFTER_MS: u64 = 3_600_000;

/// The pollers attached to states.
pub struct Pollers {
    host: Arc<WasmHost>,
    by_state: HashMap<(String, String), String>,
}

impl Pollers {
    /// Pollers from the configuration's `[[pollers]]`.
    pub fn new(host: Arc<WasmHost>, config: &[PollerConfig]) -> Pollers {
        let by_state = config
            .iter()
            .map(|p| ((p.state_machine.clone(), p.state.clone()), p.module.clone()))
            .collect();
        Pollers { host, by_state }
    }

    fn module_for(&self, task: &Task) -> Option<&String> {
        if !matches!(task.resource.pattern(), Pattern::Sync | Pattern::Sync2) {
            return None;
        }
        self.by_state
            .get(&(task.ctx.state_machine_name.clone(), task.ctx.state_name.clone()))
    }
}

fn context(task: &Task) -> Context {
    let c = &task.ctx;
    Context {
        execution_arn: c.execution_arn.clone(),
        state_machine_arn: c.state_machine_arn.clone(),
        state_name: c.state_name.clone(),
        attempt: c.attempt,
        region: c.region.clone(),
        account: c.account.clone(),
        idempotency_key: c.idempotency_key.clone(),
    }
}

/// What a decision means for the task.
pub fn outcome(module: &str, d: Decision) -> Outcome {
    let not_json = |what: &str, e: serde_json::Error| {
        Outcome::Failed(StateError::runtime(format!(
            "poller {module} decided with a {what} that is not JSON: {e}"
        )))
    };
    match d {
        Decision::Done(text) => match serde_json::from_str(&text) {
            Ok(v) => Outcome::Succeeded(v),
            Err(e) => not_json("result", e),
        },
        Decision::Failed(e) => Outcome::Failed(StateError::new(e.error, e.cause)),
        Decision::Again(a) => {
            if a.state.len() > MAX_STATE_BYTES {
                return Outcome::Failed(StateError::runtime(format!(
                    "poller {module} handed on a state of {} bytes; the limit is {MAX_STATE_BYTES}",
                    a.state.len()
                )));
            }
            match serde_json::from_str(&a.state) {
                Ok(state) => Outcome::Poll {
                    after_ms: u64::from(a.after_ms).min(MAX_AFTER_MS),
                    state,
                },
                Err(e) => not_json("state", e),
            }
        }
    }
}

impl PollHook for Pollers {
    fn attached(&self, task: &Task) -> bool {
        self.module_for(task).is_some()
    }

    fn poll(&self, task: Task, request: Value, state: Option<Value>) -> TaskFuture {
        let host = self.host.clone();
        let name = self.module_for(&task).cloned().unwrap_or_default();
        Box::pin(async move {
            let Some(m) = host.module(&name) else {
                return Outcome::Failed(StateError::new(
                    MODULE_NOT_FOUND,
                    format!(
                        "No WebAssembly module is registered as {name:?} (the poller of state {:?})",
                        task.ctx.state_name
                    ),
                ));
            };
            let previous = state.clone().unwrap_or(Value::Null);
            let who = caller(&task);
            let run = host.poll(
                &m,
                &who,
                context(&task),
                request.to_string(),
                state.map(|s| s.to_string()),
            );
            tokio::select! {
                r = run => match r {
                    Ok(d) => outcome(&name, d),
                    Err(e) => Outcome::Failed(e),
                },
                // Cancelled: keep the state, as the built-in waits do; the
                // executor ends the task and runs the integration's cancel.
                _ = task.ctx.cancelled() => Outcome::Poll { after_ms: 0, state: previous },
            }
        })
    }
}
