//! The compiled state machine and the validator that builds it.
//!
//! [`Machine::compile`] walks a definition once, reports every problem it
//! finds (as AWS's ValidateStateMachineDefinition does) and, when there is
//! none, returns a [`Machine`]: every state of every nested state list in one
//! flat arena, with `Next` targets resolved to indexes and every path,
//! template and rule precompiled.

use super::choice::{parse_timestamp, Rule};
use super::diag::{esc, Diagnostic, Diags};
use super::error;
use super::intrinsics::Call;
use super::path::Path;
use super::template::{Scope, Template};
use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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
}

/// A number that is literal or read from a path (`TimeoutSecondsPath`, ...).
#[derive(Debug, Clone)]
pub enum Seconds {
    /// A literal.
    Literal(u64),
    /// Read from the effective input.
    Path(Path),
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
    /// `Credentials`.
    pub credentials: Option<Template>,
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
        };
        match v {
            Value::String(s) => Ok(s),
            v => Err(error::StateError::runtime(format!("expected a string, got {v}"))),
        }
    }
}

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const FLOW: &[&str] = &["Next", "End"];
const RESULT: &[&str] = &["ResultPath", "Parameters", "ResultSelector", "Retry", "Catch"];
const DISTRIBUTED_ONLY: &[&str] = &[
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "Label",
];

fn allowed(ty: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&str> = COMMON.to_vec();
    match ty {
        "Pass" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(["ResultPath", "Parameters", "Result"]);
        }
        "Task" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(RESULT);
            v.extend([
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                "Credentials",
            ]);
        }
        "Choice" => {
            v.extend(IO);
            v.extend(["Choices", "Default"]);
        }
        "Wait" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]);
        }
        "Succeed" => v.extend(IO),
        "Fail" => v.extend(["Error", "ErrorPath", "Cause", "CausePath"]),
        "Parallel" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(RESULT);
            v.push("Branches");
        }
        "Map" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(RESULT);
            v.extend([
                "ItemsPath",
                "ItemSelector",
                "ItemProcessor",
                "Iterator",
                "MaxConcurrency",
                "MaxConcurrencyPath",
            ]);
            v.extend(DISTRIBUTED_ONLY);
        }
        _ => return None,
    }
    Some(v)
}

struct Compiler {
    d: Diags,
    states: Vec<State>,
    lists: Vec<StateList>,
    all_names: HashSet<String>,
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
        let mut c = Compiler {
            d: Diags::default(),
            states: Vec::new(),
            lists: Vec::new(),
            all_names: HashSet::new(),
        };
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
            c.query_language(q, "/QueryLanguage");
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

impl Compiler {
    fn query_language(&mut self, q: &Value, at: &str) {
        match q.as_str() {
            Some("JSONPath") => {}
            Some("JSONata") => self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "QueryLanguage JSONata is not supported yet; use JSONPath",
            ),
            _ => self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "'QueryLanguage' must be \"JSONPath\" or \"JSONata\"",
            ),
        }
    }

    fn positive_int(&mut self, v: &Value, at: &str) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("expected a positive integer, got {v}"),
                );
                None
            }
        }
    }

    fn path(&mut self, v: &Value, at: &str) -> Option<Path> {
        match v.as_str().map(Path::parse) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                self.d.err(at, "INVALID_JSON_PATH", e.to_string());
                None
            }
            None => {
                self.d.err(at, "SCHEMA_VALIDATION_FAILED", "expected a JSONPath string");
                None
            }
        }
    }

    fn path_spec(&mut self, o: &Map<String, Value>, key: &str, at: &str) -> PathSpec {
        match o.get(key) {
            None => PathSpec::Root,
            Some(Value::Null) => PathSpec::Null,
            Some(v) => match self.path(v, &format!("{at}/{key}")) {
                Some(p) if p.is_root() => PathSpec::Root,
                Some(p) => PathSpec::Path(p),
                None => PathSpec::Root,
            },
        }
    }

    fn result_path(&mut self, o: &Map<String, Value>, at: &str) -> ResultPathSpec {
        match o.get("ResultPath") {
            None => ResultPathSpec::Root,
            Some(Value::Null) => ResultPathSpec::Discard,
            Some(v) => match self.path(v, &format!("{at}/ResultPath")) {
                Some(p) if !p.is_reference() => {
                    self.d.err(
                        &format!("{at}/ResultPath"),
                        "INVALID_JSON_PATH",
                        format!("'{p}' is not a Reference Path: ResultPath must start with '$' and select a single node (no '$$', wildcards, filters or slices)"),
                    );
                    ResultPathSpec::Root
                }
                Some(p) if p.is_root() => ResultPathSpec::Root,
                Some(p) => ResultPathSpec::Path(p),
                None => ResultPathSpec::Root,
            },
        }
    }

    fn template(&mut self, v: &Value, at: &str) -> Template {
        let mut probs = Vec::new();
        let t = Template::compile(v, &mut probs);
        for p in probs {
            self.d.err(&format!("{at}{}", p.pointer), p.code, p.message);
        }
        t
    }

    fn dynamic(&mut self, o: &Map<String, Value>, key: &str, at: &str) -> Option<Dynamic> {
        let path_key = format!("{key}Path");
        match (o.get(key), o.get(&path_key)) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' and '{path_key}' are mutually exclusive"),
                );
                None
            }
            (Some(Value::String(s)), None) => Some(Dynamic::Literal(s.clone())),
            (Some(_), None) => {
                self.d.err(
                    &format!("{at}/{key}"),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' must be a string"),
                );
                None
            }
            (None, Some(v)) => {
                let here = format!("{at}/{path_key}");
                match v.as_str() {
                    Some(s) if s.starts_with("States.") => match Call::parse(s) {
                        Ok(c) => Some(Dynamic::Intrinsic(c)),
                        Err(e) => {
                            self.d.err(&here, "INVALID_INTRINSIC_FUNCTION", e.0);
                            None
                        }
                    },
                    _ => self.path(v, &here).map(Dynamic::Path),
                }
            }
            (None, None) => None,
        }
    }

    fn seconds(&mut self, o: &Map<String, Value>, key: &str, at: &str) -> Option<Seconds> {
        let path_key = format!("{key}Path");
        match (o.get(key), o.get(&path_key)) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' and '{path_key}' are mutually exclusive"),
                );
                None
            }
            (Some(v), None) => self.positive_int(v, &format!("{at}/{key}")).map(Seconds::Literal),
            (None, Some(v)) => {
                let here = format!("{at}/{path_key}");
                let p = self.path(v, &here)?;
                Some(Seconds::Path(p))
            }
            (None, None) => None,
        }
    }

    /// Compiles a `StartAt`/`States` scope; returns its id.
    fn compile_list(&mut self, o: &Map<String, Value>, at: &str) -> ListId {
        let list_id = self.lists.len() as ListId;
        self.lists.push(StateList { start: 0 });
        let Some(states) = o.get("States").and_then(Value::as_object).filter(|s| !s.is_empty()) else {
            self.d.err(
                &format!("{at}/States"),
                "SCHEMA_VALIDATION_FAILED",
                "'States' must be a non-empty object",
            );
            return list_id;
        };
        // Reserve ids so that `Next` can be resolved while compiling.
        let base = self.states.len() as StateId;
        let mut ids: HashMap<&str, StateId> = HashMap::new();
        for (i, name) in states.keys().enumerate() {
            let here = format!("{at}/States/{}", esc(name));
            if !self.all_names.insert(name.clone()) {
                self.d.err(
                    &here,
                    "DUPLICATE_STATE_NAME",
                    format!("state name '{name}' is used more than once in the state machine"),
                );
            }
            if name.is_empty() || name.chars().count() > 80 {
                self.d.err(
                    &here,
                    "SCHEMA_VALIDATION_FAILED",
                    "a state name must be 1 to 80 characters long",
                );
            }
            ids.insert(name, base + i as StateId);
            self.states.push(State {
                name: Arc::from(name.as_str()),
                kind: Kind::Succeed,
                input_path: PathSpec::Root,
                output_path: PathSpec::Root,
                result_path: ResultPathSpec::Root,
                parameters: None,
                result_selector: None,
                retry: Vec::new(),
                catch: Vec::new(),
                next: None,
            });
        }
        match o.get("StartAt").and_then(Value::as_str) {
            Some(s) => match ids.get(s) {
                Some(id) => self.lists[list_id as usize].start = *id,
                None => self.d.err(
                    &format!("{at}/StartAt"),
                    "MISSING_TRANSITION_TARGET",
                    format!("StartAt '{s}' is not a state in this scope"),
                ),
            },
            None => self.d.err(
                &format!("{at}/StartAt"),
                "SCHEMA_VALIDATION_FAILED",
                "'StartAt' must be a state name",
            ),
        }
        let mut edges: Vec<Vec<StateId>> = vec![Vec::new(); states.len()];
        let mut terminal = false;
        for (i, (name, sv)) in states.iter().enumerate() {
            let here = format!("{at}/States/{}", esc(name));
            let (state, targets, is_terminal) = self.compile_state(name, sv, &here, &ids);
            terminal |= is_terminal;
            edges[i] = targets;
            if let Some(s) = state {
                self.states[(base + i as StateId) as usize] = s;
            }
        }
        if !terminal {
            self.d.err(
                &format!("{at}/States"),
                "MISSING_END_STATE",
                "no state ends the workflow: one needs \"End\": true or Type Succeed or Fail",
            );
        }
        // Reachability from StartAt.
        if let Some(start) = o.get("StartAt").and_then(Value::as_str).and_then(|s| ids.get(s)) {
            let mut seen = vec![false; states.len()];
            let mut stack = vec![(start - base) as usize];
            while let Some(i) = stack.pop() {
                if std::mem::replace(&mut seen[i], true) {
                    continue;
                }
                stack.extend(edges[i].iter().map(|t| (t - base) as usize));
            }
            for (i, name) in states.keys().enumerate() {
                if !seen[i] {
                    self.d.err(
                        &format!("{at}/States/{}", esc(name)),
                        "UNREACHABLE_STATE",
                        format!("state '{name}' is not reachable from StartAt"),
                    );
                }
            }
        }
        list_id
    }

    fn target(&mut self, v: Option<&Value>, at: &str, ids: &HashMap<&str, StateId>) -> Option<StateId> {
        match v.and_then(Value::as_str) {
            Some(n) => match ids.get(n) {
                Some(id) => Some(*id),
                None => {
                    self.d.err(
                        at,
                        "MISSING_TRANSITION_TARGET",
                        format!("'{n}' is not a state in this scope"),
                    );
                    None
                }
            },
            None => {
                self.d.err(at, "SCHEMA_VALIDATION_FAILED", "expected a state name");
                None
            }
        }
    }

    fn error_equals(&mut self, o: &Map<String, Value>, at: &str) -> Vec<String> {
        match o.get("ErrorEquals").and_then(Value::as_array).filter(|a| !a.is_empty()) {
            Some(a) => {
                let errs: Vec<String> = a.iter().filter_map(|e| e.as_str().map(String::from)).collect();
                if errs.len() != a.len() {
                    self.d.err(
                        &format!("{at}/ErrorEquals"),
                        "SCHEMA_VALIDATION_FAILED",
                        "ErrorEquals must hold strings only",
                    );
                }
                if errs.iter().any(|e| e == error::ALL) && errs.len() > 1 {
                    self.d.err(
                        &format!("{at}/ErrorEquals"),
                        "SCHEMA_VALIDATION_FAILED",
                        "States.ALL must appear alone in ErrorEquals",
                    );
                }
                errs
            }
            None => {
                self.d.err(
                    &format!("{at}/ErrorEquals"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'ErrorEquals' must be a non-empty array of error names",
                );
                Vec::new()
            }
        }
    }

    /// Returns the state (when well-formed enough), its transition targets
    /// and whether it can end the scope.
    fn compile_state(
        &mut self,
        name: &str,
        sv: &Value,
        at: &str,
        ids: &HashMap<&str, StateId>,
    ) -> (Option<State>, Vec<StateId>, bool) {
        let Some(o) = sv.as_object() else {
            self.d.err(at, "SCHEMA_VALIDATION_FAILED", "a state must be an object");
            return (None, Vec::new(), true);
        };
        let Some(ty) = o.get("Type").and_then(Value::as_str) else {
            self.d.err(
                &format!("{at}/Type"),
                "SCHEMA_VALIDATION_FAILED",
                "a state needs a 'Type'",
            );
            return (None, Vec::new(), true);
        };
        let Some(fields) = allowed(ty) else {
            self.d.err(
                &format!("{at}/Type"),
                "SCHEMA_VALIDATION_FAILED",
                format!("unknown state type '{ty}'; expected Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map"),
            );
            return (None, Vec::new(), true);
        };
        for k in o.keys() {
            if !fields.contains(&k.as_str()) {
                self.d.err(
                    &format!("{at}/{}", esc(k)),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("field '{k}' is not allowed in a {ty} state"),
                );
            }
        }
        if let Some(q) = o.get("QueryLanguage") {
            self.query_language(q, &format!("{at}/QueryLanguage"));
        }
        let mut targets = Vec::new();
        let mut terminal = false;
        let mut next = None;
        if fields.contains(&"Next") {
            match (o.get("Next"), o.get("End")) {
                (Some(_), Some(_)) => self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "a state cannot have both 'Next' and 'End'",
                ),
                (Some(n), None) => {
                    next = self.target(Some(n), &format!("{at}/Next"), ids);
                    targets.extend(next);
                }
                (None, Some(Value::Bool(true))) => terminal = true,
                (None, Some(_)) => self
                    .d
                    .err(&format!("{at}/End"), "SCHEMA_VALIDATION_FAILED", "'End' must be true"),
                (None, None) => self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("a {ty} state needs 'Next' or \"End\": true"),
                ),
            }
        }
        let input_path = self.path_spec(o, "InputPath", at);
        let output_path = self.path_spec(o, "OutputPath", at);
        let result_path = self.result_path(o, at);
        let parameters = o
            .get("Parameters")
            .map(|p| self.template(p, &format!("{at}/Parameters")));
        let result_selector = o
            .get("ResultSelector")
            .map(|p| self.template(p, &format!("{at}/ResultSelector")));
        let retry = match o.get("Retry") {
            None => Vec::new(),
            Some(Value::Array(rs)) => {
                let mut out = Vec::new();
                for (i, r) in rs.iter().enumerate() {
                    let here = format!("{at}/Retry/{i}");
                    if let Some(r) = self.retrier(r, &here) {
                        if r.errors.iter().any(|e| e == error::ALL) && i + 1 != rs.len() {
                            self.d.err(
                                &here,
                                "SCHEMA_VALIDATION_FAILED",
                                "a retrier with States.ALL must be the last one",
                            );
                        }
                        out.push(r);
                    }
                }
                out
            }
            Some(_) => {
                self.d.err(
                    &format!("{at}/Retry"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'Retry' must be an array",
                );
                Vec::new()
            }
        };
        let catch = match o.get("Catch") {
            None => Vec::new(),
            Some(Value::Array(cs)) => {
                let mut out = Vec::new();
                for (i, c) in cs.iter().enumerate() {
                    let here = format!("{at}/Catch/{i}");
                    let Some(co) = c.as_object() else {
                        self.d
                            .err(&here, "SCHEMA_VALIDATION_FAILED", "a catcher must be an object");
                        continue;
                    };
                    for k in co.keys() {
                        if !matches!(k.as_str(), "ErrorEquals" | "Next" | "ResultPath" | "Comment") {
                            self.d.err(
                                &format!("{here}/{}", esc(k)),
                                "SCHEMA_VALIDATION_FAILED",
                                format!("field '{k}' is not allowed in a catcher"),
                            );
                        }
                    }
                    let errors = self.error_equals(co, &here);
                    if errors.iter().any(|e| e == error::ALL) && i + 1 != cs.len() {
                        self.d.err(
                            &here,
                            "SCHEMA_VALIDATION_FAILED",
                            "a catcher with States.ALL must be the last one",
                        );
                    }
                    let target = self.target(co.get("Next"), &format!("{here}/Next"), ids);
                    let result_path = self.result_path(co, &here);
                    if let Some(t) = target {
                        targets.push(t);
                        out.push(Catcher {
                            errors,
                            next: t,
                            result_path,
                        });
                    }
                }
                out
            }
            Some(_) => {
                self.d.err(
                    &format!("{at}/Catch"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'Catch' must be an array",
                );
                Vec::new()
            }
        };
        let kind = match ty {
            "Pass" => Kind::Pass {
                result: o.get("Result").cloned(),
            },
            "Succeed" => {
                terminal = true;
                Kind::Succeed
            }
            "Fail" => {
                terminal = true;
                Kind::Fail {
                    error: self.dynamic(o, "Error", at),
                    cause: self.dynamic(o, "Cause", at),
                }
            }
            "Task" => {
                let resource = match o.get("Resource").and_then(Value::as_str) {
                    Some(r) if r.contains(':') => Arc::from(r),
                    Some(r) => {
                        self.d.err(
                            &format!("{at}/Resource"),
                            "SCHEMA_VALIDATION_FAILED",
                            format!("'{r}' is not a resource ARN or URI"),
                        );
                        Arc::from(r)
                    }
                    None => {
                        self.d.err(
                            &format!("{at}/Resource"),
                            "SCHEMA_VALIDATION_FAILED",
                            "a Task state needs a 'Resource' string",
                        );
                        Arc::from("")
                    }
                };
                let timeout = self.seconds(o, "TimeoutSeconds", at);
                let heartbeat = self.seconds(o, "HeartbeatSeconds", at);
                if let (Some(Seconds::Literal(t)), Some(Seconds::Literal(h))) = (&timeout, &heartbeat) {
                    if h >= t {
                        self.d.err(
                            &format!("{at}/HeartbeatSeconds"),
                            "SCHEMA_VALIDATION_FAILED",
                            "HeartbeatSeconds must be smaller than TimeoutSeconds",
                        );
                    }
                }
                let credentials = o
                    .get("Credentials")
                    .map(|c| self.template(c, &format!("{at}/Credentials")));
                Kind::Task(Box::new(TaskSpec {
                    resource,
                    timeout,
                    heartbeat,
                    credentials,
                }))
            }
            "Choice" => {
                let mut choices = Vec::new();
                match o.get("Choices").and_then(Value::as_array).filter(|a| !a.is_empty()) {
                    Some(cs) => {
                        for (i, c) in cs.iter().enumerate() {
                            let here = format!("{at}/Choices/{i}");
                            let rule = Rule::compile(c, &here, true, &mut self.d);
                            let t = c
                                .get("Next")
                                .and_then(|n| self.target(Some(n), &format!("{here}/Next"), ids));
                            targets.extend(t);
                            if let (Some(r), Some(t)) = (rule, t) {
                                choices.push((r, t));
                            }
                        }
                    }
                    None => self.d.err(
                        &format!("{at}/Choices"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'Choices' must be a non-empty array",
                    ),
                }
                let default = o
                    .get("Default")
                    .and_then(|n| self.target(Some(n), &format!("{at}/Default"), ids));
                targets.extend(default);
                Kind::Choice { choices, default }
            }
            "Wait" => {
                let keys: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
                    .into_iter()
                    .filter(|k| o.contains_key(*k))
                    .collect();
                if keys.len() != 1 {
                    self.d.err(
                        at,
                        "SCHEMA_VALIDATION_FAILED",
                        "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp and TimestampPath",
                    );
                }
                let k = keys.first().copied().unwrap_or("Seconds");
                let here = format!("{at}/{k}");
                let spec = match (k, o.get(k)) {
                    ("Seconds", Some(v)) => match v.as_u64() {
                        Some(n) => Some(WaitSpec::Seconds(n)),
                        None => {
                            self.d.err(
                                &here,
                                "SCHEMA_VALIDATION_FAILED",
                                "'Seconds' must be a non-negative integer",
                            );
                            None
                        }
                    },
                    ("Timestamp", Some(v)) => match v.as_str().and_then(parse_timestamp) {
                        Some(t) => Some(WaitSpec::Timestamp(t)),
                        None => {
                            self.d.err(
                                &here,
                                "SCHEMA_VALIDATION_FAILED",
                                "'Timestamp' must be an RFC 3339 timestamp like 2016-03-14T01:59:00Z",
                            );
                            None
                        }
                    },
                    ("SecondsPath", Some(v)) => self.path(v, &here).map(WaitSpec::SecondsPath),
                    ("TimestampPath", Some(v)) => self.path(v, &here).map(WaitSpec::TimestampPath),
                    _ => None,
                };
                Kind::Wait(spec.unwrap_or(WaitSpec::Seconds(0)))
            }
            "Parallel" => {
                let mut branches = Vec::new();
                match o.get("Branches").and_then(Value::as_array).filter(|a| !a.is_empty()) {
                    Some(bs) => {
                        for (i, b) in bs.iter().enumerate() {
                            let here = format!("{at}/Branches/{i}");
                            match b.as_object() {
                                Some(bo) => {
                                    self.sub_fields(bo, &here, &["StartAt", "States", "Comment"]);
                                    branches.push(self.compile_list(bo, &here));
                                }
                                None => self.d.err(
                                    &here,
                                    "SCHEMA_VALIDATION_FAILED",
                                    "a branch must be an object with StartAt and States",
                                ),
                            }
                        }
                    }
                    None => self.d.err(
                        &format!("{at}/Branches"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'Branches' must be a non-empty array",
                    ),
                }
                Kind::Parallel { branches }
            }
            "Map" => self.map(o, at),
            _ => unreachable!("checked by allowed()"),
        };
        let state = State {
            name: Arc::from(name),
            kind,
            input_path,
            output_path,
            result_path,
            parameters,
            result_selector,
            retry,
            catch,
            next,
        };
        (Some(state), targets, terminal)
    }

    fn sub_fields(&mut self, o: &Map<String, Value>, at: &str, allowed: &[&str]) {
        for k in o.keys() {
            if !allowed.contains(&k.as_str()) {
                self.d.err(
                    &format!("{at}/{}", esc(k)),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("field '{k}' is not allowed here"),
                );
            }
        }
    }

    fn map(&mut self, o: &Map<String, Value>, at: &str) -> Kind {
        let distributed = o
            .get("ItemProcessor")
            .and_then(|p| p.pointer("/ProcessorConfig/Mode"))
            .and_then(Value::as_str)
            == Some("DISTRIBUTED");
        if distributed {
            self.d.err(
                &format!("{at}/ItemProcessor/ProcessorConfig/Mode"),
                "SCHEMA_VALIDATION_FAILED",
                "Distributed Map (Mode DISTRIBUTED) is not supported yet; use Mode INLINE",
            );
        } else {
            for k in DISTRIBUTED_ONLY {
                if o.contains_key(*k) {
                    self.d.err(
                        &format!("{at}/{k}"),
                        "SCHEMA_VALIDATION_FAILED",
                        format!("field '{k}' is only allowed in a Distributed Map (ItemProcessor.ProcessorConfig.Mode DISTRIBUTED)"),
                    );
                }
            }
        }
        let processor = match (o.get("ItemProcessor"), o.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "'ItemProcessor' and 'Iterator' are mutually exclusive",
                );
                0
            }
            (Some(p), None) | (None, Some(p)) => {
                let key = if o.contains_key("ItemProcessor") {
                    "ItemProcessor"
                } else {
                    "Iterator"
                };
                let here = format!("{at}/{key}");
                match p.as_object() {
                    Some(po) => {
                        self.sub_fields(po, &here, &["StartAt", "States", "Comment", "ProcessorConfig"]);
                        if let Some(pc) = po.get("ProcessorConfig") {
                            match pc.as_object() {
                                Some(pco) => {
                                    self.sub_fields(
                                        pco,
                                        &format!("{here}/ProcessorConfig"),
                                        &["Mode", "ExecutionType"],
                                    );
                                    if let Some(m) = pco.get("Mode") {
                                        if !matches!(m.as_str(), Some("INLINE" | "DISTRIBUTED")) {
                                            self.d.err(
                                                &format!("{here}/ProcessorConfig/Mode"),
                                                "SCHEMA_VALIDATION_FAILED",
                                                "'Mode' must be INLINE or DISTRIBUTED",
                                            );
                                        }
                                    }
                                }
                                None => self.d.err(
                                    &format!("{here}/ProcessorConfig"),
                                    "SCHEMA_VALIDATION_FAILED",
                                    "'ProcessorConfig' must be an object",
                                ),
                            }
                        }
                        self.compile_list(po, &here)
                    }
                    None => {
                        self.d.err(
                            &here,
                            "SCHEMA_VALIDATION_FAILED",
                            format!("'{key}' must be an object with StartAt and States"),
                        );
                        0
                    }
                }
            }
            (None, None) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "a Map state needs 'ItemProcessor' (or the legacy 'Iterator')",
                );
                0
            }
        };
        let items_path = self.path_spec(o, "ItemsPath", at);
        if let PathSpec::Path(p) = &items_path {
            if !p.is_definite() {
                self.d.err(
                    &format!("{at}/ItemsPath"),
                    "INVALID_JSON_PATH",
                    format!("'{p}' is not a Reference Path: ItemsPath must select a single node (no wildcards, filters or slices)"),
                );
            }
        }
        let item_selector = match (o.get("ItemSelector"), o.get("Parameters")) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "'ItemSelector' and the legacy 'Parameters' are mutually exclusive",
                );
                None
            }
            (Some(t), None) => Some(self.template(t, &format!("{at}/ItemSelector"))),
            (None, Some(t)) => Some(self.template(t, &format!("{at}/Parameters"))),
            (None, None) => None,
        };
        let max_concurrency = match (o.get("MaxConcurrency"), o.get("MaxConcurrencyPath")) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "'MaxConcurrency' and 'MaxConcurrencyPath' are mutually exclusive",
                );
                Seconds::Literal(0)
            }
            (Some(v), None) => match v.as_u64() {
                Some(n) => Seconds::Literal(n),
                None => {
                    self.d.err(
                        &format!("{at}/MaxConcurrency"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'MaxConcurrency' must be a non-negative integer",
                    );
                    Seconds::Literal(0)
                }
            },
            (None, Some(v)) => self
                .path(v, &format!("{at}/MaxConcurrencyPath"))
                .map(Seconds::Path)
                .unwrap_or(Seconds::Literal(0)),
            (None, None) => Seconds::Literal(0),
        };
        Kind::Map(Box::new(MapSpec {
            processor,
            items_path,
            item_selector,
            max_concurrency,
        }))
    }

    fn retrier(&mut self, r: &Value, at: &str) -> Option<Retrier> {
        let Some(o) = r.as_object() else {
            self.d
                .err(at, "SCHEMA_VALIDATION_FAILED", "a retrier must be an object");
            return None;
        };
        for k in o.keys() {
            if !matches!(
                k.as_str(),
                "ErrorEquals"
                    | "IntervalSeconds"
                    | "MaxAttempts"
                    | "BackoffRate"
                    | "MaxDelaySeconds"
                    | "JitterStrategy"
                    | "Comment"
            ) {
                self.d.err(
                    &format!("{at}/{}", esc(k)),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("field '{k}' is not allowed in a retrier"),
                );
            }
        }
        let errors = self.error_equals(o, at);
        let interval_seconds = match o.get("IntervalSeconds") {
            None => 1,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=99_999_999).contains(&n) => n,
                _ => {
                    self.d.err(
                        &format!("{at}/IntervalSeconds"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'IntervalSeconds' must be an integer from 1 to 99999999",
                    );
                    1
                }
            },
        };
        let max_attempts = match o.get("MaxAttempts") {
            None => 3,
            Some(v) => match v.as_u64() {
                Some(n) if n <= 99_999_999 => n,
                _ => {
                    self.d.err(
                        &format!("{at}/MaxAttempts"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'MaxAttempts' must be an integer from 0 to 99999999",
                    );
                    3
                }
            },
        };
        let backoff_rate = match o.get("BackoffRate") {
            None => 2.0,
            Some(v) => match v.as_f64() {
                Some(f) if f >= 1.0 => f,
                _ => {
                    self.d.err(
                        &format!("{at}/BackoffRate"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'BackoffRate' must be a number of at least 1.0",
                    );
                    2.0
                }
            },
        };
        let max_delay_seconds = match o.get("MaxDelaySeconds") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if (1..31_622_400).contains(&n) => Some(n),
                _ => {
                    self.d.err(
                        &format!("{at}/MaxDelaySeconds"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'MaxDelaySeconds' must be an integer from 1 to 31622399",
                    );
                    None
                }
            },
        };
        let full_jitter = match o.get("JitterStrategy").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => false,
            Some(Some("FULL")) => true,
            Some(_) => {
                self.d.err(
                    &format!("{at}/JitterStrategy"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'JitterStrategy' must be FULL or NONE",
                );
                false
            }
        };
        Some(Retrier {
            errors,
            interval_seconds,
            max_attempts,
            backoff_rate,
            max_delay_seconds,
            full_jitter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(def: Value) -> Vec<(String, &'static str)> {
        match Machine::compile(&def) {
            Ok(_) => Vec::new(),
            Err(InvalidDefinition(ds)) => ds.into_iter().map(|d| (d.location, d.code)).collect(),
        }
    }

    #[test]
    fn valid_machine_compiles() {
        let m = Machine::compile(&json!({
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "C"}], "Default": "D"},
                "C": {"Type": "Map", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}, "End": true},
                "D": {"Type": "Fail", "Error": "E"}
            }
        }))
        .unwrap();
        assert_eq!(m.lists.len(), 2);
        assert_eq!(&*m.state(m.start()).name, "A");
    }

    #[test]
    fn reports_every_problem_with_location() {
        let p = problems(json!({
            "StartAt": "A",
            "Bogus": 1,
            "States": {
                "A": {"Type": "Pass", "Next": "Nowhere", "Seconds": 3},
                "B": {"Type": "Pass"},
                "C": {"Type": "Task", "Resource": "arn:aws:lambda:x", "End": true, "ResultPath": "$$.x",
                      "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}],
                      "Parameters": {"a.$": "$.[", "b.$": "States.Nope()"}},
                "D": {"Type": "Map", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}},
                      "ToleratedFailureCount": 1, "End": true},
                "E": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "A"}]},
                "F": {"Type": "Bogus"}
            }
        }));
        let want = [
            ("/Bogus", "SCHEMA_VALIDATION_FAILED"),
            ("/States/A/Next", "MISSING_TRANSITION_TARGET"),
            ("/States/A/Seconds", "SCHEMA_VALIDATION_FAILED"),
            ("/States/B", "SCHEMA_VALIDATION_FAILED"),
            ("/States/C/ResultPath", "INVALID_JSON_PATH"),
            ("/States/C/Parameters/a.$", "INVALID_JSON_PATH"),
            ("/States/C/Parameters/b.$", "INVALID_INTRINSIC_FUNCTION"),
            ("/States/C/Retry/0", "SCHEMA_VALIDATION_FAILED"),
            ("/States/D/ToleratedFailureCount", "SCHEMA_VALIDATION_FAILED"),
            ("/States/E/Choices/0", "SCHEMA_VALIDATION_FAILED"),
            ("/States/F/Type", "SCHEMA_VALIDATION_FAILED"),
            ("/States/B", "UNREACHABLE_STATE"),
            ("/States/C", "UNREACHABLE_STATE"),
        ];
        for w in want {
            assert!(p.iter().any(|(l, c)| l == w.0 && *c == w.1), "missing {w:?} in {p:#?}");
        }
    }

    #[test]
    fn duplicate_names_and_missing_end() {
        let p = problems(json!({
            "StartAt": "A",
            "States": {
                "A": {"Type": "Parallel", "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}], "End": true}
            }
        }));
        assert!(
            p.contains(&("/States/A/Branches/0/States/A".into(), "DUPLICATE_STATE_NAME")),
            "{p:?}"
        );
        assert!(
            p.contains(&("/States/A/Branches/0/States".into(), "MISSING_END_STATE")),
            "{p:?}"
        );
    }

    #[test]
    fn errors_match_rules() {
        let all = vec!["States.ALL".to_string()];
        assert!(errors_match(&all, "Custom", false));
        assert!(!errors_match(&all, "States.Runtime", false));
        assert!(!errors_match(&all, "States.DataLimitExceeded", false));
        let tf = vec!["States.TaskFailed".to_string()];
        assert!(errors_match(&tf, "Lambda.Unknown", true));
        assert!(!errors_match(&tf, "States.Timeout", true));
        assert!(!errors_match(&tf, "Lambda.Unknown", false));
    }
}
