//! The task seam: how Task states reach the world.
//!
//! - [`Resource`] parses a Task's `Resource` into service, action and
//!   [`Pattern`] (request-response, `.sync`, `.sync:2`, `.waitForTaskToken`,
//!   Activity).
//! - An [`Integration`] serves some resources. It [`starts`](Integration::start)
//!   an invocation and answers with an [`Outcome`]: succeeded, failed,
//!   *poll again later with this state* (a durable poll step: the executor
//!   commits the state and arms a durable timer, and after a restart it
//!   resumes polling from the stored state without starting the work again),
//!   or *parked* (a task token was handed out; nothing runs until
//!   SendTaskSuccess/Failure). While it runs it may say the work has
//!   [`started`](TaskContext::started) or send a
//!   [`heartbeat`](TaskContext::heartbeat), and it must stop when its
//!   [`cancellation`](TaskContext::cancelled) fires; when a task is ended from
//!   outside (StopExecution, a timeout, a failed sibling branch),
//!   [`Integration::cancel`] undoes what it started.
//! - The [`Registry`] routes resources to integrations, consults a
//!   MockConfigFile first when there is one ([`mock`]), and checks at
//!   validation that every Task asks its integration for a pattern it
//!   supports.
//!
//! Activities are served by the executor itself (workers fetch them with
//! GetActivityTask), so no integration claims them.

#[cfg(any(feature = "kubernetes", feature = "s3"))]
pub mod aws;
pub mod catalog;
#[cfg(feature = "eks")]
pub mod eks;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
pub mod mock;
mod registry;
mod resource;
#[cfg(feature = "s3")]
pub mod s3;
pub mod workflow;

pub use registry::Registry;
pub use resource::{Pattern, Resource};

use crate::asl::{StateError, TaskInvocation};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
pub use tokio_util::sync::CancellationToken;

/// What an invocation (or one poll of it) came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The task's result.
    Succeeded(Value),
    /// The task failed with an AWS-named error (`States.TaskFailed`,
    /// `EKS.404`, ...), which Retry and Catch match on.
    Failed(StateError),
    /// Not done yet: call [`Integration::poll`] with `state` after
    /// `after_ms`. The state is committed with the task record first, so it
    /// must hold everything the next poll needs (a Job's name, a cluster's
    /// ARN): a restart resumes from it. It also means the work has started.
    Poll {
        /// Milliseconds until the next poll.
        after_ms: u64,
        /// What the next poll needs.
        state: Value,
    },
    /// The task waits for SendTaskSuccess/SendTaskFailure with its task
    /// token (`.waitForTaskToken`). Nothing runs, and nothing is dispatched
    /// again after a restart.
    Parked,
}

/// The future an integration returns.
pub type TaskFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// The future of [`Integration::cancel`].
pub type CancelFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Something an integration reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The work has started: `TaskStarted` is recorded now.
    Started,
    /// SendTaskHeartbeat's equivalent: resets `HeartbeatSeconds`.
    Heartbeat,
}

/// Everything an integration knows about the invocation it serves.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The execution's ARN.
    pub execution_arn: String,
    /// The execution's name.
    pub execution_name: String,
    /// The state machine's ARN.
    pub state_machine_arn: String,
    /// The state machine's name.
    pub state_machine_name: String,
    /// The execution's region.
    pub region: String,
    /// The execution's account.
    pub account: String,
    /// The execution role (`roleArn` of the state machine).
    pub role_arn: String,
    /// The Task state's name.
    pub state_name: String,
    /// 0 for the first attempt, then one more per retry.
    pub attempt: u32,
    /// The mock test case chosen for the execution, if any (Step Functions
    /// Local's `stateMachineArn#TestCase` convention).
    pub test_case: Option<String>,
    /// Stable across re-dispatches of the same invocation after a restart,
    /// and a valid Kubernetes name (at most 63 characters of `[a-z0-9-]`,
    /// starting and ending with an alphanumeric): integrations use it to make
    /// their effects happen once (Job names, `clientRequestToken`).
    pub idempotency_key: String,
    /// Fires when the task is no longer wanted.
    pub cancel: CancellationToken,
    signals: Option<mpsc::UnboundedSender<Signal>>,
}

impl TaskContext {
    /// A context for an invocation of `execution_arn`: the region and
    /// account come from the ARN, and the idempotency key from the ARN and
    /// the invocation's token.
    pub fn new(execution_arn: &str, state_machine_arn: &str, role_arn: &str, inv: &TaskInvocation) -> TaskContext {
        let mut parts = [""; 8];
        for (slot, p) in parts.iter_mut().zip(execution_arn.split(':')) {
            *slot = p;
        }
        let part = |i: usize| parts[i].to_string();
        TaskContext {
            execution_arn: execution_arn.to_string(),
            execution_name: part(7),
            state_machine_arn: state_machine_arn.to_string(),
            state_machine_name: part(6),
            region: part(3),
            account: part(4),
            role_arn: role_arn.to_string(),
            state_name: inv.state_name.to_string(),
            attempt: inv.attempt,
            test_case: None,
            idempotency_key: idempotency_key(parts[6], execution_arn, inv.token),
            cancel: CancellationToken::new(),
            signals: None,
        }
    }

    /// Routes [`TaskContext::started`] and [`TaskContext::heartbeat`] to `tx`.
    pub fn with_signals(mut self, tx: mpsc::UnboundedSender<Signal>) -> Self {
        self.signals = Some(tx);
        self
    }

    /// Says the work has started; `TaskStarted` is recorded now rather than
    /// when the task finishes.
    pub fn started(&self) {
        if let Some(tx) = &self.signals {
            let _ = tx.send(Signal::Started);
        }
    }

    /// Sends a heartbeat (resets the state's `HeartbeatSeconds`).
    pub fn heartbeat(&self) {
        if let Some(tx) = &self.signals {
            let _ = tx.send(Signal::Heartbeat);
        }
    }

    /// Resolves when the task is no longer wanted.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }
}

/// Custom polling logic attached to `.sync` states (the WebAssembly
/// pollers): when [`attached`](PollHook::attached), the registry sends a
/// started task's polls here instead of to its integration.
pub trait PollHook: Send + Sync {
    /// Whether `task`'s polls come here.
    fn attached(&self, task: &Task) -> bool;

    /// One poll. `request` is `{"Resource", "Parameters", "Started"}`;
    /// `state` is the hook's own state from its poll before (none at
    /// first). [`Outcome::Poll`] carries the hook's next state; the
    /// registry stores it next to the integration's.
    fn poll(&self, task: Task, request: Value, state: Option<Value>) -> TaskFuture;
}

/// A Kubernetes-safe idempotency key: `aslan-`, up to 30 characters of the
/// state machine's name made DNS-safe, and 24 hex digits of a SHA-256 over
/// the execution ARN and the invocation token. At most 61 characters.
pub fn idempotency_key(state_machine: &str, execution_arn: &str, token: u64) -> String {
    use sha2::{Digest, Sha256};
    // `aslan-`, the name with runs of other characters as one `-`, `-`,
    // then the hex digits: one allocation.
    let mut key = String::with_capacity(6 + 31 + 24);
    key.push_str("aslan-");
    for c in state_machine.chars().take(30) {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            key.push(c);
        } else if !key.ends_with('-') {
            key.push('-');
        }
    }
    if !key.ends_with('-') {
        key.push('-');
    }
    let mut h = Sha256::new();
    h.update(execution_arn.as_bytes());
    h.update(b"#");
    h.update(token.to_le_bytes());
    crate::asl::push_hex(&mut key, &h.finalize()[..12]);
    key
}

/// One invocation, as an integration sees it.
#[derive(Debug, Clone)]
pub struct Task {
    /// What the core asked for: parameters, timeouts, the task token.
    pub invocation: TaskInvocation,
    /// The parsed resource.
    pub resource: Resource,
    /// Identity, signals and cancellation.
    pub ctx: TaskContext,
}

/// A service that Task states can use: Kubernetes, EKS, a wasm guest, a
/// closure in an embedding program.
pub trait Integration: Send + Sync {
    /// The patterns this integration supports for `resource`, or `None` when
    /// it does not serve the resource at all.
    fn patterns(&self, resource: &Resource) -> Option<&'static [Pattern]>;

    /// Problems with a Task's `Parameters` as the definition writes them
    /// (unknown fields, say), reported at validation. `.$` fields are only
    /// known at run time.
    fn validate_parameters(&self, resource: &Resource, parameters: &Value) -> Vec<String> {
        let _ = (resource, parameters);
        Vec::new()
    }

    /// Starts an invocation.
    fn start(&self, task: Task) -> TaskFuture;

    /// Polls a started invocation (after [`Outcome::Poll`]).
    fn poll(&self, task: Task, state: Value) -> TaskFuture {
        let _ = (task, state);
        Box::pin(std::future::ready(Outcome::Failed(StateError::runtime(
            "the integration asked to be polled but does not poll",
        ))))
    }

    /// Undoes what [`Integration::start`] began, when the task is ended from
    /// outside. `state` is the last poll state, if any. Runs at least once
    /// per cancelled task that had started (again after a restart if the
    /// engine stopped before it finished).
    fn cancel(&self, task: Task, state: Option<Value>) -> CancelFuture {
        let _ = (task, state);
        Box::pin(std::future::ready(()))
    }

    /// What a started invocation is, as a [`PollHook`] sees it (the
    /// `Started` of a poller's request), from the state its start
    /// committed. By default the state itself.
    fn started_view(&self, resource: &Resource, state: &Value) -> Value {
        let _ = resource;
        state.clone()
    }
}

/// Awaits a task's start or poll (`fut`, whose handler was given the
/// sending side of `signals`), handing each signal it sends to `forward`
/// while it runs, and those sent just before it ended before returning
/// its outcome: an executor sees `TaskStarted` before the result.
pub async fn forwarding_signals<Fwd: Future<Output = ()>>(
    fut: impl Future<Output = Outcome>,
    mut signals: mpsc::UnboundedReceiver<Signal>,
    mut forward: impl FnMut(Signal) -> Fwd,
) -> Outcome {
    tokio::pin!(fut);
    let outcome = loop {
        tokio::select! {
            o = &mut fut => break o,
            Some(signal) = signals.recv() => forward(signal).await,
        }
    };
    while let Ok(signal) = signals.try_recv() {
        forward(signal).await;
    }
    outcome
}

/// Runs a start or poll future, turning a panic (while making the future
/// or while it runs) into `States.TaskFailed`: a misbehaving integration
/// fails its task, never the host.
pub async fn catch_panics(f: impl FnOnce() -> TaskFuture) -> Outcome {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::task::Poll;
    let caught = match catch_unwind(AssertUnwindSafe(f)) {
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
    caught.unwrap_or_else(|| {
        Outcome::Failed(StateError::new(
            crate::asl::error::TASK_FAILED,
            "the task integration panicked",
        ))
    })
}

/// The `States.Runtime` error for a resource nothing handles.
pub fn unsupported(inv: &TaskInvocation) -> StateError {
    StateError::runtime(format!(
        "The resource '{}' of Task state '{}' is not supported by this engine (no integration or mock handles it)",
        inv.resource, inv.state_name
    ))
}

/// An integration from a closure, for embedding programs and tests:
/// request-response only, for every resource whose ARN starts with `prefix`.
pub struct FnIntegration<F> {
    prefix: String,
    f: Arc<F>,
}

impl<F, Fut> FnIntegration<F>
where
    F: Fn(Task) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, StateError>> + Send + 'static,
{
    /// Serves resources starting with `prefix` with `f`.
    pub fn new(prefix: impl Into<String>, f: F) -> Self {
        FnIntegration {
            prefix: prefix.into(),
            f: Arc::new(f),
        }
    }
}

impl<F, Fut> Integration for FnIntegration<F>
where
    F: Fn(Task) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, StateError>> + Send + 'static,
{
    fn patterns(&self, resource: &Resource) -> Option<&'static [Pattern]> {
        resource
            .arn()
            .starts_with(&self.prefix)
            .then_some(&[Pattern::RequestResponse, Pattern::WaitForTaskToken][..])
    }

    fn start(&self, task: Task) -> TaskFuture {
        let fut = (self.f)(task);
        Box::pin(async move {
            match fut.await {
                Ok(v) => Outcome::Succeeded(v),
                Err(e) => Outcome::Failed(e),
            }
        })
    }
}

#[cfg(test)]
mod tests;
