//! `aslan-guest`: write Aslan WebAssembly guests in Rust.
//!
//! Aslan runs WebAssembly components that speak the WIT package
//! `aslan:host@0.1.0` (the repository's `wit/` directory). A guest is either
//!
//! - a **task** (world `task`): a Task state's resource,
//!   `"Resource": "arn:aslan:states:::wasm:NAME"`, that turns the Task's
//!   input into a result or an error; or
//! - a **poller** (world `poller`): custom polling for a `.sync`
//!   integration (`eks:runJob.sync`, `eks:createCluster.sync`, ...): the
//!   host calls its export `decide` once per poll, and it decides `Done`,
//!   `Failed` or `Again`; or
//! - a **code workflow** (world `workflow`): a whole durable workflow,
//!   made durable by a journal of its host calls ([`workflow`]).
//!
//! This crate carries the `wit-bindgen` bindings of both worlds and a Rust
//! API over them: the host functions with [`serde_json::Value`] in and out
//! ([`kubernetes`], [`eks`], [`log`], [`state`]), typed helpers for what the
//! guests read ([`Cluster`], [`Job`], [`PodList`]), and the entry points:
//! implement [`Task`] (or [`RawTask`]) or [`Poller`] and call
//! [`export_task!`] (or [`export_raw_task!`]) or [`export_poller!`] once.
//!
//! # Example: a poller
//!
//! A poller that waits for a Job to complete, polling every 5 seconds and
//! counting its polls in its state:
//!
//! ```
//! use aslan_guest::{json, kubernetes, log, str_field, Cluster, Context, Decision, Poller, TaskError, Value};
//!
//! struct WaitForJob;
//!
//! impl Poller for WaitForJob {
//!     fn poll(_ctx: &Context, request: &Value, state: Option<Value>) -> Decision {
//!         match decide(request, state) {
//!             Ok(decision) => decision,
//!             Err(error) => Decision::Failed(error),
//!         }
//!     }
//! }
//!
//! fn decide(request: &Value, state: Option<Value>) -> Result<Decision, TaskError> {
//!     let cluster = Cluster::from_parameters(&request["Parameters"])?;
//!     let namespace = str_field(&request["Started"], "Namespace")?;
//!     let name = str_field(&request["Started"], "Name")?;
//!     let polls = state.as_ref().and_then(|s| s["polls"].as_u64()).unwrap_or(0);
//!
//!     let job = kubernetes::read_job(&cluster, namespace, name)?;
//!     log::info(&format!("job {namespace}/{name}: poll {polls}"));
//!     if job.is_complete() {
//!         return Ok(Decision::DoneJson(job.into_json()));
//!     }
//!     if let Some(reason) = job.failed_reason() {
//!         return Ok(Decision::failed("EKS.JobFailed", format!("Job {namespace}/{name} failed: {reason}")));
//!     }
//!     Ok(Decision::again(5_000, json!({ "polls": polls + 1 })))
//! }
//!
//! aslan_guest::export_poller!(WaitForJob);
//! ```
//!
//! A task is the same with [`Task`] and [`export_task!`]:
//!
//! ```
//! use aslan_guest::{json, TaskError, Task, Value};
//!
//! struct Greet;
//!
//! impl Task for Greet {
//!     fn run(input: Value) -> Result<Value, TaskError> {
//!         let name = aslan_guest::str_field(&input, "Name")?;
//!         Ok(json!({ "Greeting": format!("Hello, {name}!") }))
//!     }
//! }
//!
//! aslan_guest::export_task!(Greet);
//! ```
//!
//! # Building
//!
//! A guest is a `cdylib` crate that depends on this one:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib", "rlib"]   # rlib: lets `cargo test` run natively
//!
//! [dependencies]
//! aslan-guest = { path = "../../guest-sdk" }
//! ```
//!
//! `cargo build --release --target wasm32-wasip2` gives a component
//! straight away (it imports WASI, which the host provides).
//! `--target wasm32-unknown-unknown` gives a core module without WASI
//! imports that `wit-component` (or `wasm-tools component new`) turns into
//! a component; a panic then traps without a message. See
//! `scripts/guests/rust.sh`.
//!
//! # How the exports work
//!
//! The interfaces are generated once (world `imports`); the `task` and
//! `poller` worlds reuse them with `wit-bindgen`'s `with` option. Their
//! export macros are public, and `wit-bindgen` then describes a world's
//! export only where the macro is invoked: a guest that calls
//! [`export_poller!`] declares `decide` (which calls [`Poller::poll`]) and
//! not `run`. The exports are compiled for `wasm32` only, so a guest
//! crate's unit tests run natively; there every host function panics
//! (`unreachable!`) if called.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod bindings;
mod error;
mod export;
mod job;

pub mod eks;
pub mod kubernetes;
pub mod log;
pub mod state;
pub mod workflow;

/// The Task invocation a poller serves: execution, state, attempt, region,
/// account and a stable idempotency key.
pub use bindings::imports::aslan::host::types::Context;
pub use error::TaskError;
pub use export::{Decision, Poller, RawTask, Task};
pub use job::{Job, PodList, Waiting};
pub use kubernetes::Cluster;

pub use serde_json::{self, json, Value};

/// The raw `wit-bindgen` bindings of the interfaces, JSON as text. The
/// functions of this crate's modules wrap them.
pub mod raw {
    pub use crate::bindings::imports::aslan::host::{eks, kubernetes, log, state, types};
}

/// Parses JSON text, failing with `States.Runtime`.
///
/// ```
/// assert_eq!(aslan_guest::parse_json(r#"{"a":1}"#).unwrap()["a"], 1);
/// assert_eq!(aslan_guest::parse_json("{").unwrap_err().error, "States.Runtime");
/// ```
pub fn parse_json(text: &str) -> Result<Value, TaskError> {
    serde_json::from_str(text).map_err(|e| TaskError::runtime(format!("invalid JSON: {e}")))
}

/// The string member `key` of a JSON object, failing with `States.Runtime`
/// when `value` is not an object, or has no such member, or it is not a
/// string.
///
/// ```
/// use aslan_guest::{json, str_field};
/// let input = json!({"Namespace": "default", "Replicas": 3});
/// assert_eq!(str_field(&input, "Namespace").unwrap(), "default");
/// assert_eq!(str_field(&input, "Replicas").unwrap_err().cause, r#"expected a string field "Replicas""#);
/// ```
pub fn str_field<'a>(value: &'a Value, key: &str) -> Result<&'a str, TaskError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| TaskError::runtime(format!("expected a string field \"{key}\"")))
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::imports::aslan::host::types::Decision as RawDecision;
    pub use crate::bindings::poller::Guest as PollerGuest;
    pub use crate::bindings::task::Guest as TaskGuest;
    pub use crate::bindings::workflow::exports::aslan::host::entry::Guest as WorkflowGuest;
    pub use crate::export::{decide, run_raw_task, run_task};
    /// What `run` returns.
    pub type RunResult = Result<String, crate::TaskError>;
}
