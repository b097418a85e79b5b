//! Task integrations behind one interface, [`TaskHandler`].
//!
//! - [`mock`]: Step Functions Local's MockConfigFile, for running Task
//!   states without any service.
//! - [`Unsupported`]: the fallback; it fails the state with `States.Runtime`
//!   naming the resource.

pub mod mock;

use crate::asl::{Event, StateError, TaskInvocation};
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

/// Runs one invocation and turns its outcome into the core's [`Event`]. A
/// handler that panics, whether while starting the call or while it runs,
/// fails its task with `States.TaskFailed`: never the host.
pub async fn run_task(handler: &dyn TaskHandler, inv: TaskInvocation, ctx: TaskContext) -> Event {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::task::Poll;
    let token = inv.token;
    let caught = match catch_unwind(AssertUnwindSafe(|| handler.invoke(inv, ctx))) {
        Ok(mut fut) => {
            std::future::poll_fn(
                move |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                    Ok(Poll::Ready(r)) => Poll::Ready(Some(r)),
                    Ok(Poll::Pending) => Poll::Pending,
                    Err(_) => Poll::Ready(None),
                },
            )
            .await
        }
        Err(_) => None,
    };
    match caught {
        Some(Ok(output)) => Event::TaskSucceeded { token, output },
        Some(Err(error)) => Event::TaskFailed { token, error },
        None => Event::TaskFailed {
            token,
            error: StateError::new(crate::asl::error::TASK_FAILED, "the task handler panicked"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Panics {
        at_call: bool,
    }

    impl TaskHandler for Panics {
        fn invoke(&self, inv: TaskInvocation, _ctx: TaskContext) -> TaskFuture {
            if self.at_call {
                panic!("boom at call");
            }
            Box::pin(async move {
                if inv.parameters == json!("ok") {
                    return Ok(json!(1));
                }
                panic!("boom while running")
            })
        }
    }

    fn inv(parameters: Value) -> TaskInvocation {
        TaskInvocation {
            token: 7,
            resource: "arn:aws:states:::x".into(),
            parameters,
            state_name: "T".into(),
            task_token: "t".into(),
            timeout_seconds: None,
            heartbeat_seconds: None,
            attempt: 0,
            invocation: 0,
            credentials: None,
        }
    }

    fn ctx() -> TaskContext {
        TaskContext {
            state_machine_name: "sm".into(),
            execution_name: "e".into(),
            test_case: None,
            idempotency_key: "k".into(),
        }
    }

    #[tokio::test]
    async fn panics_fail_the_task_not_the_host() {
        let ok = run_task(&Panics { at_call: false }, inv(json!("ok")), ctx()).await;
        assert!(matches!(ok, Event::TaskSucceeded { token: 7, output } if output == json!(1)));
        for h in [Panics { at_call: true }, Panics { at_call: false }] {
            match run_task(&h, inv(json!("panic")), ctx()).await {
                Event::TaskFailed { token: 7, error } => assert_eq!(error.error, "States.TaskFailed"),
                e => panic!("{e:?}"),
            }
        }
    }
}
