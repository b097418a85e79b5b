//! Code workflows (world `workflow`): a whole durable workflow written as
//! code.
//!
//! Implement [`Workflow`] and call [`export_workflow!`](crate::export_workflow)
//! once. The host runs [`Workflow::run`] from the start at every
//! activation and answers the calls it already made from the execution's
//! journal, so `run` must be deterministic: take time, randomness and
//! identifiers from this module ([`now_ms`], [`random_u64`], [`uuid`]),
//! never from the standard library (whose clocks stand at 0 in a
//! workflow), and make the same calls, with the same arguments, for the
//! same results. A workflow that diverges fails with
//! `Wasm.NonDeterminism`.
//!
//! ```
//! use aslan_guest::workflow::{self, Workflow};
//! use aslan_guest::{json, TaskError, Value};
//!
//! struct Nightly;
//!
//! impl Workflow for Nightly {
//!     fn run(input: Value) -> Result<Value, TaskError> {
//!         let started = workflow::now_ms();
//!         // Three executions of an ASL state machine, running at once.
//!         let runs: Vec<_> = (0..3)
//!             .map(|i| workflow::start_execution("Report", &json!({ "part": i })))
//!             .collect::<Result<_, _>>()?;
//!         workflow::sleep_ms(60_000); // durable: survives a restart
//!         let mut outputs = Vec::new();
//!         for run in &runs {
//!             outputs.push(run.wait()?);
//!         }
//!         Ok(json!({ "started": started, "input": input, "outputs": outputs }))
//!     }
//! }
//!
//! aslan_guest::export_workflow!(Nightly);
//! ```

use crate::bindings::workflow::aslan::host::durable as raw;
use crate::{parse_json, TaskError, Value};

/// A code workflow.
pub trait Workflow {
    /// Runs the workflow with the execution's input; `Ok` is its output,
    /// `Err` its error and cause.
    fn run(input: Value) -> Result<Value, TaskError>;
}

/// Milliseconds since the Unix epoch, as the host saw them the first time
/// this call ran (recorded).
pub fn now_ms() -> u64 {
    raw::now_ms()
}

/// 64 random bits (recorded).
pub fn random_u64() -> u64 {
    raw::random_u64()
}

/// A random UUID (recorded).
pub fn uuid() -> String {
    raw::uuid()
}

/// Sleeps durably for `ms` milliseconds: the workflow is unloaded and
/// replayed when the time is up, across restarts of the engine too.
pub fn sleep_ms(ms: u64) {
    raw::sleep_ms(ms)
}

/// An execution of a state machine that this workflow started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Its ARN.
    pub arn: String,
}

impl Execution {
    /// Waits for it to end: its output, or its error and cause
    /// (`States.Aborted`, `States.Timeout` when stopped or timed out).
    pub fn wait(&self) -> Result<Value, TaskError> {
        let text = raw::await_execution(&self.arn)?;
        parse_json(&text)
    }
}

/// Starts an execution of the state machine `state_machine` (its name or
/// ARN) with `input`, without waiting for it. It is started once, however
/// often the workflow is replayed.
pub fn start_execution(state_machine: &str, input: &Value) -> Result<Execution, TaskError> {
    let arn = raw::start_execution(state_machine, &input.to_string())?;
    Ok(Execution { arn })
}

/// Starts an execution and waits for it: [`start_execution`], then
/// [`Execution::wait`].
pub fn call(state_machine: &str, input: &Value) -> Result<Value, TaskError> {
    start_execution(state_machine, input)?.wait()
}

/// A task token that SendTaskSuccess or SendTaskFailure answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The token to hand to whoever answers (64 hex digits).
    pub token: String,
}

impl Callback {
    /// Waits for the answer: SendTaskSuccess's output, or SendTaskFailure's
    /// error and cause. The workflow is unloaded while it waits.
    pub fn wait(&self) -> Result<Value, TaskError> {
        let text = raw::await_callback(&self.token)?;
        parse_json(&text)
    }
}

/// A new callback: hand its token to whoever will answer (a Job's
/// environment, a message), then [`Callback::wait`]. The token is recorded,
/// so a replay gets the same one.
pub fn create_callback() -> Callback {
    Callback {
        token: raw::create_callback(),
    }
}

/// Waits for the first of `executions` to end: its index and outcome.
/// The order is recorded, so a replay sees the same one first.
pub fn wait_any(executions: &[Execution]) -> (usize, Result<Value, TaskError>) {
    let arns: Vec<String> = executions.iter().map(|e| e.arn.clone()).collect();
    let (i, r) = raw::await_any(&arns);
    (i as usize, r.and_then(|t| parse_json(&t)))
}

#[doc(hidden)]
pub fn run_workflow<W: Workflow>(input: String) -> Result<String, TaskError> {
    let input = parse_json(&input)?;
    W::run(input).map(|v| v.to_string())
}

/// Exports a [`Workflow`] as the component's `entry.run` (world
/// `workflow`).
///
/// ```
/// struct Echo;
/// impl aslan_guest::workflow::Workflow for Echo {
///     fn run(input: aslan_guest::Value) -> Result<aslan_guest::Value, aslan_guest::TaskError> {
///         Ok(input)
///     }
/// }
/// aslan_guest::export_workflow!(Echo);
/// ```
#[macro_export]
macro_rules! export_workflow {
    ($workflow:ty) => {
        const _: () = {
            #[allow(dead_code)] // natively, where nothing calls the export
            struct AslanGuestWorkflow;
            #[allow(dead_code)]
            impl $crate::__private::WorkflowGuest for AslanGuestWorkflow {
                fn run(input: ::std::string::String) -> $crate::__private::RunResult {
                    $crate::workflow::run_workflow::<$workflow>(input)
                }
            }
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::workflow::__export_workflow_world!(
                AslanGuestWorkflow with_types_in $crate::bindings::workflow
            );
        };
    };
}
