//! The compiled state machine and the validator that builds it.
//!
//! [`Machine::compile`] walks a definition once, reports every problem it
//! finds (as AWS's ValidateStateMachineDefinition does) and, when there is
//! none, returns a [`Machine`]: every state of every nested state list in one
//! flat arena, with `Next` targets resolved to indexes and every path,
//! template and rule precompiled.
//!
//! The compiler lives in submodules: `compiler` holds the walk over state
//! lists, the fields every state shares and the small field parsers;
//! `states` and `map` compile each state type's own fields; `retry` compiles
//! `Retry` and `Catch`.

use super::choice::Rule;
use super::diag::{esc, Diagnostic};
use super::error;
use super::intrinsics::Call;
use super::jsonata::Jt;
use super::path::Path;
use super::template::{Scope, Template};
use chrono::{DateTime, FixedOffset};
use compiler::Compiler;
use serde_json::Value;
use std::sync::Arc;

mod compiler;
mod jsonata;
pub use jsonata::valid_variable;
mod distributed;
mod map;
mod retry;
mod states;
#[cfg(test)]
mod tests;

/// Index of a state in [`Machine::states`].
pub type StateId = u32;
/// Index of a state list in [`Machine::lists`].
pub type ListId = u32;

/// A validated, compiled state machine.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Every state, of the top level and of every branch and iterator.
    pub states: Vec<State>,
    /// Every state list; list 0 is the top level.
    pub lists: Vec<StateList>,
    /// The machine's `TimeoutSeconds`.
    pub timeout_seconds: Option<u64>,
}

/// A `StartAt` + `States` scope: the top level, a Parallel branch or a Map
/// iterator.
#[derive(Debug, Clone)]
pub struct StateList {
    /// The first state.
    pub start: StateId,
}

/// A state.
#[derive(Debug, Clone)]
pub struct State {
    /// Its name.
    pub name: Arc<str>,
    /// Type-specific fields.
    pub kind: Kind,
    /// `InputPath`.
    pub input_path: PathSpec,
    /// `OutputPath`.
    pub output_path: PathSpec,
    /// `ResultPath`.
    pub result_path: ResultPathSpec,
    /// `Parameters` (or a Map's `ItemSelector` lives in [`Kind::Map`]).
    pub parameters: Option<Template>,
    /// `ResultSelector`.
    pub result_selector: Option<Template>,
    /// `Retry`.
    pub retry: Vec<Retrier>,
    /// `Catch`.
    pub catch: Vec<Catcher>,
    /// `Next`; `None` with `End: true` (and for Choice, Succeed and Fail).
    pub next: Option<StateId>,
    /// The fields of a JSONata state; `None` for a JSONPath state.
    pub jsonata: Option<Box<JsonataFields>>,
    /// The `Assign` fields of a JSONPath state and its Choice rules; `None`
    /// when it has none (and for a JSONata state).
    pub path_assign: Option<Box<PathAssign>>,
}

/// `Assign` in a JSONPath state: payload templates whose `name.$` members
/// read a path or an intrinsic (`$` is the state's result, or its effective
/// input where it has no result; see `docs/jsonata.md`).
#[derive(Debug, Clone, Default)]
pub struct PathAssign {
    /// The state's own `Assign`.
    pub state: Option<Template>,
    /// Each Choice rule's `Assign`, in the order of `Choices`.
    pub rules: Vec<Option<Template>>,
}

/// The JSONata fields shared by state types (`QueryLanguage: JSONata`).
/// Type-specific expressions live in their kinds ([`Seconds::Expr`],
/// [`WaitSpec::SecondsExpr`], [`Dynamic::Expr`], [`MapSpec::items`], the
/// Choice rules' conditions and [`Catcher::output`]).
#[derive(Debug, Clone, Default)]
pub struct JsonataFields {
    /// `Arguments` (Task, Parallel).
    pub arguments: Option<Jt>,
    /// `Output`.
    pub output: Option<Jt>,
    /// `Assign`: an object whose members are the variables to set.
    pub assign: Option<Jt>,
    /// Each Choice rule's `Output`, in the order of `Choices`.
    pub rule_outputs: Vec<Option<Jt>>,
    /// Each Choice rule's `Assign`, in the order of `Choices`.
    pub rule_assigns: Vec<Option<Jt>>,
}

/// `InputPath`/`OutputPath`: `$` (the default), `null` or a path.
#[derive(Debug, Clone)]
pub enum PathSpec {
    /// The whole document.
    Root,
    /// `null`: an empty object.
    Null,
    /// Another path.
    Path(Path),
}

/// `ResultPath`.
#[derive(Debug, Clone)]
pub enum ResultPathSpec {
    /// `$` (the default): the result replaces the input.
    Root,
    /// `null`: the result is discarded and the input passes through.
    Discard,
    /// A Reference Path inside the input.
    Path(Path),
}

/// Type-specific parts of a state.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Pass, with its optional `Result`.
    Pass {
        /// `Result`.
        result: Option<Value>,
    },
    /// Task.
    Task(Box<TaskSpec>),
    /// Choice.
    Choice {
        /// `Choices` with their targets.
        choices: Vec<(Rule, StateId)>,
        /// `Default`.
        default: Option<StateId>,
    },
    /// Wait.
    Wait(WaitSpec),
    /// Succeed.
    Succeed,
    /// Fail.
    Fail {
        /// `Error` or `ErrorPath`.
        error: Option<Dynamic>,
        /// `Cause` or `CausePath`.
        cause: Option<Dynamic>,
    },
    /// Parallel.
    Parallel {
        /// `Branches`.
        branches: Vec<ListId>,
    },
    /// Map (inline).
    Map(Box<MapSpec>),
}

/// A string that is literal or computed from a path or intrinsic.
#[derive(Debug, Clone)]
pub enum Dynamic {
    /// A literal.
    Literal(String),
    /// `...Path` with a path.
    Path(Path),
    /// `...Path` with an intrinsic function.
    Intrinsic(Call),
    /// A JSONata expression (in a JSONata state).
    Expr(Box<Jt>),
}

/// A number that is literal or read from a path (`TimeoutSecondsPath`, ...).
#[derive(Debug, Clone)]
pub enum Seconds {
    /// A literal.
    Literal(u64),
    /// Read from the effective input.
    Path(Path),
    /// A JSONata expression (in a JSONata state).
    Expr(Box<Jt>),
}

/// A Task state's fields.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// `Resource`.
    pub resource: Arc<str>,
    /// `TimeoutSeconds(Path)`.
    pub timeout: Option<Seconds>,
    /// `HeartbeatSeconds(Path)`.
    pub heartbeat: Option<Seconds>,
    /// `Credentials` of a JSONPath state (a payload template).
    pub credentials: Option<Template>,
    /// `Credentials` of a JSONata state (`{% %}` strings in any JSON).
    pub jsonata_credentials: Option<Jt>,
}

/// A Wait state's duration.
#[derive(Debug, Clone)]
pub enum WaitSpec {
    /// `Seconds`.
    Seconds(u64),
    /// `SecondsPath`.
    SecondsPath(Path),
    /// `Timestamp`.
    Timestamp(DateTime<FixedOffset>),
    /// `TimestampPath`.
    TimestampPath(Path),
    /// `Seconds` as a JSONata expression.
    SecondsExpr(Box<Jt>),
    /// `Timestamp` as a JSONata expression.
    TimestampExpr(Box<Jt>),
}

/// A Map state's fields.
#[derive(Debug, Clone)]
pub struct MapSpec {
    /// `ItemProcessor` or `Iterator`.
    pub processor: ListId,
    /// `ItemsPath`.
    pub items_path: PathSpec,
    /// `ItemSelector` (or legacy `Parameters`).
    pub item_selector: Option<Template>,
    /// `MaxConcurrency(Path)`; 0 means unlimited.
    pub max_concurrency: Seconds,
    /// `Items` (JSONata states; `None`: the state input).
    pub items: Option<Jt>,
    /// `ItemSelector` of a JSONata state.
    pub jsonata_selector: Option<Jt>,
    /// The Distributed Map's fields (`ProcessorConfig.Mode` DISTRIBUTED).
    pub distributed: Option<Box<Distributed>>,
}

/// A number field with its `...Path` form, or a JSONata expression.
#[derive(Debug, Clone)]
pub enum Number {
    /// A literal.
    Literal(f64),
    /// Read from the effective input.
    Path(Path),
    /// A JSONata expression (in a JSONata state).
    Expr(Box<Jt>),
}

/// A Distributed Map's own fields: its iterations run as child executions
/// of a Map Run.
#[derive(Debug, Clone)]
pub struct Distributed {
    /// `ProcessorConfig.ExecutionType` is EXPRESS (default STANDARD).
    pub express: bool,
    /// `Label`, in the Map Run's and the children's ARNs.
    pub label: Option<Arc<str>>,
    /// `ItemReader`.
    pub reader: Option<Box<Resourced>>,
    /// `ItemBatcher`.
    pub batcher: Option<Box<Batcher>>,
    /// `ToleratedFailureCount(Path)`.
    pub tolerated_count: Option<Number>,
    /// `ToleratedFailurePercentage(Path)`.
    pub tolerated_percentage: Option<Number>,
    /// `ResultWriter`.
    pub writer: Option<Box<Resourced>>,
}

/// `ItemReader` or `ResultWriter`: a resource, its parameters and its
/// configuration.
#[derive(Debug, Clone)]
pub struct Resourced {
    /// `Resource`.
    pub resource: Arc<str>,
    /// `Parameters` (JSONPath).
    pub parameters: Option<Template>,
    /// `Arguments` (JSONata).
    pub arguments: Option<Jt>,
    /// `ReaderConfig` or `WriterConfig`, as written (checked).
    pub config: Option<Value>,
}

/// `ItemBatcher`.
#[derive(Debug, Clone)]
pub struct Batcher {
    /// `MaxItemsPerBatch(Path)`.
    pub max_items: Option<Number>,
    /// `MaxInputBytesPerBatch(Path)`.
    pub max_bytes: Option<Number>,
    /// `BatchInput` (JSONPath: a payload template).
    pub batch_input: Option<Template>,
    /// `BatchInput` (JSONata).
    pub jsonata_batch_input: Option<Jt>,
}

/// A `Retry` entry.
#[derive(Debug, Clone)]
pub struct Retrier {
    /// `ErrorEquals`.
    pub errors: Vec<String>,
    /// `IntervalSeconds` (default 1).
    pub interval_seconds: u64,
    /// `MaxAttempts` (default 3).
    pub max_attempts: u64,
    /// `BackoffRate` (default 2.0).
    pub backoff_rate: f64,
    /// `MaxDelaySeconds`.
    pub max_delay_seconds: Option<u64>,
    /// `JitterStrategy: FULL`.
    pub full_jitter: bool,
}

/// A `Catch` entry.
#[derive(Debug, Clone)]
pub struct Catcher {
    /// `ErrorEquals`.
    pub errors: Vec<String>,
    /// `Next`.
    pub next: StateId,
    /// `ResultPath` for the error output.
    pub result_path: ResultPathSpec,
    /// `Output` of a JSONata catcher (`None`: the error output).
    pub output: Option<Jt>,
    /// `Assign` of a JSONata catcher (replaces the state's own).
    pub assign: Option<Jt>,
    /// `Assign` of a JSONPath catcher (replaces the state's own; `$` is the
    /// error output).
    pub path_assign: Option<Template>,
}

/// Does an `ErrorEquals` list match `err` raised by a state of this kind?
pub fn errors_match(list: &[String], err: &str, is_task: bool) -> bool {
    list.iter().any(|e| {
        e == err
            || (e == error::ALL && err != error::DATA_LIMIT_EXCEEDED && err != error::RUNTIME)
            || (e == error::TASK_FAILED
                && is_task
                && err != error::TIMEOUT
                && err != error::RUNTIME
                && err != error::DATA_LIMIT_EXCEEDED)
    })
}

impl Dynamic {
    /// Computes the string.
    pub fn eval(&self, scope: &dyn Scope) -> Result<String, error::StateError> {
        let v = match self {
            Dynamic::Literal(s) => return Ok(s.clone()),
            Dynamic::Path(p) => {
                let doc = scope.doc_for(p);
                p.select_value(doc).ok_or_else(|| {
                    error::StateError::runtime(format!("The JsonPath '{p}' could not be found in the input"))
                })?
            }
            Dynamic::Intrinsic(c) => c.eval(scope)?,
            Dynamic::Expr(_) => unreachable!("a JSONata state evaluates its expressions itself"),
        };
        match v {
            Value::String(s) => Ok(s),
            v => Err(error::StateError::runtime(format!("expected a string, got {v}"))),
        }
    }
}

/// Why a definition was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid state machine definition: {}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; "))]
pub struct InvalidDefinition(pub Vec<Diagnostic>);

impl Machine {
    /// Parses and validates JSON text.
    pub fn from_json(text: &str) -> Result<Machine, InvalidDefinition> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            InvalidDefinition(vec![Diagnostic {
                location: String::new(),
                code: "INVALID_JSON_DESCRIPTION",
                message: format!("the definition is not valid JSON: {e}"),
            }])
        })?;
        Machine::compile(&v)
    }

    /// Validates and compiles a definition, reporting every problem.
    pub fn compile(def: &Value) -> Result<Machine, InvalidDefinition> {
        let mut c = Compiler::new();
        let Some(top) = def.as_object() else {
            c.d.err("", "SCHEMA_VALIDATION_FAILED", "the definition must be a JSON object");
            return Err(InvalidDefinition(c.d.0));
        };
        for k in top.keys() {
            if !matches!(
                k.as_str(),
                "StartAt" | "States" | "Comment" | "Version" | "TimeoutSeconds" | "QueryLanguage"
            ) {
                c.d.err(
                    &format!("/{}", esc(k)),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("field '{k}' is not allowed at the top level"),
                );
            }
        }
        if let Some(q) = top.get("QueryLanguage") {
            c.top_jsonata = c.query_language(q, "/QueryLanguage") == Some(true);
        }
        if let Some(v) = top.get("Version") {
            if v.as_str() != Some("1.0") {
                c.d.err("/Version", "SCHEMA_VALIDATION_FAILED", "'Version' must be \"1.0\"");
            }
        }
        let timeout_seconds = top
            .get("TimeoutSeconds")
            .and_then(|v| c.positive_int(v, "/TimeoutSeconds"));
        c.compile_list(top, "");
        c.check_scopes();
        if c.d.is_empty() {
            Ok(Machine {
                states: c.states,
                lists: c.lists,
                timeout_seconds,
            })
        } else {
            Err(InvalidDefinition(c.d.0))
        }
    }

    /// A machine with no states, standing in until a snapshot is restored.
    pub fn empty() -> Arc<Machine> {
        Arc::new(Machine {
            states: Vec::new(),
            lists: Vec::new(),
            timeout_seconds: None,
        })
    }

    /// The top-level list's first state.
    pub fn start(&self) -> StateId {
        self.lists[0].start
    }

    /// A state by id.
    pub fn state(&self, id: StateId) -> &State {
        &self.states[id as usize]
    }
}
