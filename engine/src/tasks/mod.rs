//! Task integrations behind one interface, [`TaskHandler`].
//!
//! - [`mock`]: Step Functions Local's MockConfigFile, for running Task
//!   states without any service.
//! - [`Unsupported`]: the fallback; it fails the state with `States.Runtime`
//!   naming the resource.

pub mod mock;

use crate::asl::{StateError, TaskInvocation};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// The future a task handler returns.
pub type TaskFuture = Pin<Box<dyn Future<Output = Result<Value, StateError>> + Send>>;

/// Which execution a task belongs to.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The state machine's name.
    pub state_machine_name: String,
    /// The execution's name.
    pub execution_name: String,
    /// The mock test case chosen for the execution, if any (Step Functions
    /// Local's `stateMachineArn#TestCase` convention).
    pub test_case: Option<String>,
    /// Stable across re-dispatches of the same invocation after a restart:
    /// integrations use it to make their effects happen once where the
    /// target allows (deterministic Job names, `clientRequestToken`).
    pub idempotency_key: String,
}

/// Runs Task states' resources. Errors use AWS's names (`States.TaskFailed`,
/// `EKS.404`, ...), as Retry and Catch match on them.
pub trait TaskHandler: Send + Sync {
    /// Runs one invocation.
    fn invoke(&self, inv: TaskInvocation, ctx: TaskContext) -> TaskFuture;
}

/// Fails every task: the resource is not (yet) supported.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unsupported;

impl TaskHandler for Unsupported {
    fn invoke(&self, inv: TaskInvocation, _ctx: TaskContext) -> TaskFuture {
        Box::pin(std::future::ready(Err(unsupported(&inv))))
    }
}

/// The `States.Runtime` error for a resource nothing handles.
pub fn unsupported(inv: &TaskInvocation) -> StateError {
    StateError::runtime(format!(
        "The resource '{}' of Task state '{}' is not supported by this engine (no integration or mock handles it)",
        inv.resource, inv.state_name
    ))
}
