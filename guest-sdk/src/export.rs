//! The entry points: [`Task`], [`RawTask`], [`Poller`] and their macros.

use serde_json::Value;

use crate::bindings::imports::aslan::host::types::{AgainAfter, Decision as RawDecision};
use crate::{parse_json, Context, TaskError};

/// A task guest (world `task`): the Task state's resource
/// `arn:aslan:states:::wasm:NAME`. Export it with [`export_task!`](crate::export_task).
pub trait Task {
    /// Runs the task. `input` is the Task's effective input (its
    /// `Parameters` applied); `Ok` is the result, `Err` the state's error.
    fn run(input: Value) -> Result<Value, TaskError>;
}

/// A task guest that handles its input and result as JSON text, unparsed:
/// for guests that pass JSON through, or that must stay small (no JSON
/// parser is linked unless the guest uses one). Export it with
/// [`export_raw_task!`](crate::export_raw_task).
pub trait RawTask {
    /// Runs the task on the input's JSON text; `Ok` must be JSON text (the
    /// host fails the Task with `States.Runtime` otherwise).
    fn run(input: String) -> Result<String, TaskError>;
}

/// A poller guest (world `poller`): custom polling for a `.sync` task,
/// attached to a state by the engine's configuration. Export it with
/// [`export_poller!`](crate::export_poller), which makes
/// [`poll`](Poller::poll) the component's export `decide`.
pub trait Poller {
    /// Decides once; the host calls it once per poll. `request` is
    /// `{"Resource", "Parameters", "Started"}`: the Task's resource, its
    /// effective Parameters and what the start produced (`eks:runJob.sync`:
    /// `{"Namespace", "Name", "Uid"}` of the Job). `state` is `None` on the
    /// first poll, then the state of the [`Decision::Again`] before (it
    /// survives restarts of the engine).
    fn poll(ctx: &Context, request: &Value, state: Option<Value>) -> Decision;
}

/// A poller's decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The task succeeded with this result (the Task state's output before
    /// `ResultSelector` and `ResultPath`).
    Done(Value),
    /// The task succeeded with this result, given as JSON text that is
    /// handed to the host unchanged (for example [`Job::into_json`](crate::Job::into_json)).
    DoneJson(String),
    /// The task failed with this error.
    Failed(TaskError),
    /// Not done yet: poll again after `after_ms` milliseconds (the host
    /// clamps it to an hour), handing `state` to the next poll (at most 256
    /// KiB of JSON).
    Again {
        /// Milliseconds until the next poll.
        after_ms: u32,
        /// What the next poll receives as its `state`.
        state: Value,
    },
}

impl Decision {
    /// [`Decision::Failed`] with an error named `error` and its `cause`.
    pub fn failed(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Decision::Failed(TaskError::new(error, cause))
    }

    /// [`Decision::Again`] after `after_ms` with `state`.
    pub fn again(after_ms: u32, state: Value) -> Self {
        Decision::Again { after_ms, state }
    }

    /// The WIT `decision` this is, JSON serialized compactly
    /// (`{"attempt":1}`, no spaces).
    ///
    /// ```
    /// use aslan_guest::{json, Decision};
    /// use aslan_guest::raw::types::{AgainAfter, Decision as Raw};
    /// assert_eq!(
    ///     Decision::again(250, json!({"attempt": 1})).into_raw(),
    ///     Raw::Again(AgainAfter { after_ms: 250, state: r#"{"attempt":1}"#.into() }),
    /// );
    /// ```
    pub fn into_raw(self) -> RawDecision {
        match self {
            Decision::Done(value) => RawDecision::Done(value.to_string()),
            Decision::DoneJson(text) => RawDecision::Done(text),
            Decision::Failed(error) => RawDecision::Failed(error),
            Decision::Again { after_ms, state } => RawDecision::Again(AgainAfter {
                after_ms,
                state: state.to_string(),
            }),
        }
    }
}

impl From<TaskError> for Decision {
    fn from(error: TaskError) -> Self {
        Decision::Failed(error)
    }
}

impl From<Result<Decision, TaskError>> for Decision {
    /// `Ok(decision)` is that decision, `Err(error)` is [`Decision::Failed`]:
    /// write the poll as a function returning `Result` and use `?`.
    fn from(result: Result<Decision, TaskError>) -> Self {
        result.unwrap_or_else(Decision::Failed)
    }
}

/// The body of an exported `run`, for [`export_task!`](crate::export_task).
#[doc(hidden)]
pub fn run_task<T: Task>(input: String) -> Result<String, TaskError> {
    let input = parse_json(&input)?;
    T::run(input).map(|result| result.to_string())
}

/// The body of an exported `run`, for [`export_raw_task!`](crate::export_raw_task).
#[doc(hidden)]
pub fn run_raw_task<T: RawTask>(input: String) -> Result<String, TaskError> {
    T::run(input)
}

/// The body of the exported `decide`, for [`export_poller!`](crate::export_poller).
#[doc(hidden)]
pub fn decide<P: Poller>(ctx: Context, request: String, state: Option<String>) -> RawDecision {
    let request = match parse_json(&request) {
        Ok(request) => request,
        Err(e) => return RawDecision::Failed(TaskError::runtime(format!("the poll's request: {}", e.cause))),
    };
    let state = match state.as_deref().map(parse_json).transpose() {
        Ok(state) => state,
        Err(e) => return RawDecision::Failed(TaskError::runtime(format!("the poll's state: {}", e.cause))),
    };
    P::poll(&ctx, &request, state).into_raw()
}

/// Exports a [`Task`] as the component's `run` (world `task`).
///
/// Call it once, in the guest crate, with a type (a path to it) that
/// implements [`Task`]:
///
/// ```
/// struct Echo;
/// impl aslan_guest::Task for Echo {
///     fn run(input: aslan_guest::Value) -> Result<aslan_guest::Value, aslan_guest::TaskError> {
///         Ok(input)
///     }
/// }
/// aslan_guest::export_task!(Echo);
/// ```
///
/// The export exists on `wasm32` targets only; elsewhere the macro only
/// checks that the type implements [`Task`].
#[macro_export]
macro_rules! export_task {
    ($task:ty) => {
        $crate::__export_run!($crate::__private::run_task::<$task>);
    };
}

/// Exports a [`RawTask`] as the component's `run` (world `task`).
///
/// ```
/// struct Echo;
/// impl aslan_guest::RawTask for Echo {
///     fn run(input: String) -> Result<String, aslan_guest::TaskError> {
///         Ok(input)
///     }
/// }
/// aslan_guest::export_raw_task!(Echo);
/// ```
#[macro_export]
macro_rules! export_raw_task {
    ($task:ty) => {
        $crate::__export_run!($crate::__private::run_raw_task::<$task>);
    };
}

/// Exports `run` (world `task`) calling `$run`, a
/// `fn(String) -> Result<String, TaskError>`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_run {
    ($run:expr) => {
        const _: () = {
            #[allow(dead_code)] // natively, where nothing calls the export
            struct AslanGuestTask;
            #[allow(dead_code)]
            impl $crate::__private::TaskGuest for AslanGuestTask {
                fn run(input: ::std::string::String) -> $crate::__private::RunResult {
                    $run(input)
                }
            }
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::task::__export_task_world!(
                AslanGuestTask with_types_in $crate::bindings::task
            );
        };
    };
}

/// Exports a [`Poller`] as the component's `decide` (world `poller`): the
/// host calls it once per poll, and it calls [`Poller::poll`].
///
/// ```
/// use aslan_guest::{json, Context, Decision, Poller, Value};
/// struct EveryMinute;
/// impl Poller for EveryMinute {
///     fn poll(_ctx: &Context, _request: &Value, _state: Option<Value>) -> Decision {
///         Decision::again(60_000, json!({}))
///     }
/// }
/// aslan_guest::export_poller!(EveryMinute);
/// ```
///
/// A request or state that is not JSON (the host never sends one) fails
/// the Task with `States.Runtime` without calling the poller.
#[macro_export]
macro_rules! export_poller {
    ($poller:ty) => {
        const _: () = {
            #[allow(dead_code)] // natively, where nothing calls the export
            struct AslanGuestPoller;
            #[allow(dead_code)]
            impl $crate::__private::PollerGuest for AslanGuestPoller {
                fn decide(
                    ctx: $crate::Context,
                    request: ::std::string::String,
                    state: ::core::option::Option<::std::string::String>,
                ) -> $crate::__private::RawDecision {
                    $crate::__private::decide::<$poller>(ctx, request, state)
                }
            }
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::poller::__export_poller_world!(
                AslanGuestPoller with_types_in $crate::bindings::poller
            );
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Upper;
    impl Task for Upper {
        fn run(input: Value) -> Result<Value, TaskError> {
            match input["s"].as_str() {
                Some(s) => Ok(json!({"s": s.to_uppercase()})),
                None => Err(TaskError::new("Upper.NoString", "no s")),
            }
        }
    }

    struct Counter;
    impl Poller for Counter {
        fn poll(ctx: &Context, request: &Value, state: Option<Value>) -> Decision {
            let n = state.map(|s| s["n"].as_u64().unwrap()).unwrap_or(0);
            if n == 2 {
                return Decision::Done(json!({"key": ctx.idempotency_key, "resource": request["Resource"]}));
            }
            if request["Resource"] == "fail" {
                return Decision::failed("E", "c");
            }
            Decision::again(10, json!({"n": n + 1}))
        }
    }

    fn ctx() -> Context {
        Context {
            execution_arn: "arn:aws:states:us-east-1:123456789012:execution:M:e".into(),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:M".into(),
            state_name: "Run".into(),
            attempt: 0,
            region: "us-east-1".into(),
            account: "123456789012".into(),
            idempotency_key: "k-1".into(),
        }
    }

    #[test]
    fn task_adapter() {
        assert_eq!(run_task::<Upper>(r#"{"s": "ab"}"#.into()), Ok(r#"{"s":"AB"}"#.into()));
        assert_eq!(
            run_task::<Upper>("{}".into()),
            Err(TaskError::new("Upper.NoString", "no s"))
        );
        assert_eq!(run_task::<Upper>("{".into()).unwrap_err().error, "States.Runtime");
    }

    #[test]
    fn poller_adapter() {
        let request = r#"{"Resource": "r"}"#.to_string();
        assert_eq!(
            decide::<Counter>(ctx(), request.clone(), None),
            RawDecision::Again(AgainAfter {
                after_ms: 10,
                state: r#"{"n":1}"#.into()
            })
        );
        assert_eq!(
            decide::<Counter>(ctx(), request.clone(), Some(r#"{"n":2}"#.into())),
            RawDecision::Done(r#"{"key":"k-1","resource":"r"}"#.into())
        );
        assert_eq!(
            decide::<Counter>(ctx(), r#"{"Resource":"fail"}"#.into(), None),
            RawDecision::Failed(TaskError::new("E", "c"))
        );
        let bad_state = decide::<Counter>(ctx(), request, Some("{".into()));
        assert!(
            matches!(bad_state, RawDecision::Failed(e) if e.error == "States.Runtime" && e.cause.starts_with("the poll's state: "))
        );
        let bad_request = decide::<Counter>(ctx(), "[".into(), None);
        assert!(matches!(bad_request, RawDecision::Failed(e) if e.cause.starts_with("the poll's request: ")));
    }

    #[test]
    fn decisions() {
        assert_eq!(
            Decision::DoneJson("{ \"a\" : 1 }".into()).into_raw(),
            RawDecision::Done("{ \"a\" : 1 }".into())
        );
        assert_eq!(
            Decision::Done(json!({"a": [1, 2]})).into_raw(),
            RawDecision::Done(r#"{"a":[1,2]}"#.into())
        );
        assert_eq!(
            Decision::from(TaskError::runtime("x")),
            Decision::Failed(TaskError::runtime("x"))
        );
        assert_eq!(
            Decision::from(Err(TaskError::runtime("y"))),
            Decision::failed("States.Runtime", "y")
        );
        assert_eq!(
            Decision::from(Ok(Decision::again(1, json!(null)))),
            Decision::again(1, Value::Null)
        );
    }

    // The macros compile natively (without the wasm32 exports).
    crate::export_task!(Upper);
    mod raw_export {
        struct Same;
        impl crate::RawTask for Same {
            fn run(input: String) -> Result<String, crate::TaskError> {
                Ok(input)
            }
        }
        crate::export_raw_task!(Same);
    }
    crate::export_poller!(Counter);
}
