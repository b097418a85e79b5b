//! `arn:aslan:states:::wasm:NAME`: a `task` module as a Task resource.
//!
//! The Task's effective input (its `Parameters` applied) goes to the
//! guest's `run` as JSON; `ok` is the task's result, `err` its error and
//! cause. Only the request-response pattern is supported. A name no
//! module is registered under fails the Task with `Wasm.ModuleNotFound`.

use super::run::{Caller, WasmHost};
use super::MODULE_NOT_FOUND;
use crate::asl::StateError;
use crate::tasks::{Integration, Outcome, Pattern, Resource, Task, TaskFuture};
use std::sync::Arc;

/// Serves `arn:aslan:states:::wasm:NAME`.
pub struct WasmTasks {
    host: Arc<WasmHost>,
}

impl WasmTasks {
    /// The integration over `host`'s modules.
    pub fn new(host: Arc<WasmHost>) -> WasmTasks {
        WasmTasks { host }
    }
}

const PATTERNS: &[Pattern] = &[Pattern::RequestResponse];

/// The module a Task's resource names (`...:wasm:NAME`,
/// `...:workflow:NAME`), or the task's `Wasm.ModuleNotFound` failure.
pub fn module_of(host: &WasmHost, task: &Task) -> Result<Arc<super::WasmModule>, Outcome> {
    let name = task.resource.action();
    host.module(name).ok_or_else(|| {
        Outcome::Failed(StateError::new(
            MODULE_NOT_FOUND,
            format!("No WebAssembly module is registered as {name:?}"),
        ))
    })
}

/// The caller of a task, for the guest's store.
pub fn caller(task: &Task) -> Caller {
    Caller {
        region: task.ctx.region.clone(),
        origin: format!("{} {}", task.ctx.execution_arn, task.ctx.state_name),
    }
}

impl Integration for WasmTasks {
    fn patterns(&self, resource: &Resource) -> Option<&'static [Pattern]> {
        (resource.service() == "wasm" && !resource.action().is_empty()).then_some(PATTERNS)
    }

    fn start(&self, task: Task) -> TaskFuture {
        let host = self.host.clone();
        Box::pin(async move {
            let m = match module_of(&host, &task) {
                Ok(m) => m,
                Err(failed) => return failed,
            };
            let input = task.invocation.parameters.to_string();
            let who = caller(&task);
            let run = host.run_task(&m, &who, input);
            tokio::select! {
                r = run => match r.and_then(|out| {
                    serde_json::from_str(&out).map_err(|e| StateError::runtime(e.to_string()))
                }) {
                    Ok(v) => Outcome::Succeeded(v),
                    Err(e) => Outcome::Failed(e),
                },
                _ = task.ctx.cancelled() => Outcome::Failed(StateError::new(
                    crate::asl::error::TASK_FAILED, "cancelled")),
            }
        })
    }
}
