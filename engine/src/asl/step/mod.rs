//! The interpreter as a pure step function.
//!
//! An [`Execution`] is the whole state of one running state machine. It is
//! advanced only by [`Execution::start`] and [`Execution::handle`], which take
//! the current time as an argument and return [`Command`]s for the world
//! (invoke a task, start a timer, cancel either). No I/O, no clock, no
//! threads: the executor around it turns commands into effects and effects
//! back into [`Event`]s. Randomness (jitter, `States.UUID`,
//! `States.MathRandom`, task tokens) comes from a keyed generator inside the
//! execution: SHA-256 over a 256-bit seed that the executor draws from the
//! operating system ([`Options::seed`]) and a counter. Replaying the same
//! events gives the same numbers; two executions never share them, and task
//! tokens cannot be guessed from anything a client sees.
//!
//! Internally an execution is a set of *frames*: one per running state list
//! (the top level, each Parallel branch, each Map iteration). A frame runs
//! its states in a tight loop until it must wait for a task, a timer or its
//! children. The code is split by concern:
//!
//! - this file: the public types and the [`Execution`] API;
//! - `frames.rs`: running frames, ending them, Parallel/Map bookkeeping and
//!   cancellation;
//! - `data.rs`: the data flow (InputPath, OutputPath, ResultPath, the
//!   Context object, randomness);
//! - `errors.rs`: Retry and Catch;
//! - `states.rs`, `task.rs`, `parallel.rs`: one function per state kind.

mod data;
mod distributed;
mod errors;
mod frames;
mod jsonata;
mod parallel;
mod states;
mod task;
mod vars;

use super::error::{self, StateError, PAYLOAD_LIMIT};
use super::history::{self, Details, HistoryEvent, Payload};
use super::model::{Kind, Machine, StateId};
use chrono::{SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Identity of an execution, as the Context object shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionInfo {
    /// `$$.Execution.Id`, the execution ARN.
    pub execution_arn: String,
    /// `$$.Execution.Name`.
    pub name: String,
    /// `$$.StateMachine.Id`.
    pub state_machine_arn: String,
    /// `$$.StateMachine.Name`.
    pub state_machine_name: String,
    /// `$$.Execution.RoleArn`.
    pub role_arn: String,
    /// `$$.Execution.StartTime`, in milliseconds since the epoch.
    pub start_time_ms: i64,
}

impl ExecutionInfo {
    /// The region in the execution ARN (`arn:aws:states:REGION:...`).
    pub fn region(&self) -> &str {
        self.execution_arn.split(':').nth(3).unwrap_or("")
    }

    /// An identity with AWS-shaped ARNs in region `us-east-1`, account `123456789012`.
    pub fn local(state_machine_name: &str, execution_name: &str, start_time_ms: i64) -> Self {
        let prefix = "arn:aws:states:us-east-1:123456789012";
        ExecutionInfo {
            execution_arn: format!("{prefix}:execution:{state_machine_name}:{execution_name}"),
            name: execution_name.to_string(),
            state_machine_arn: format!("{prefix}:stateMachine:{state_machine_name}"),
            state_machine_name: state_machine_name.to_string(),
            role_arn: "arn:aws:iam::123456789012:role/StepFunctionsRole".to_string(),
            start_time_ms,
        }
    }
}

/// Something that happened outside the core.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    /// The integration says the task's work has started (`TaskStarted`;
    /// for an Activity, a worker took it: `ActivityStarted`). A task that
    /// succeeds or fails without it is recorded as started just before.
    TaskStarted {
        /// The [`TaskInvocation::token`].
        token: u64,
        /// For Activities: the worker's name from GetActivityTask.
        worker: Option<String>,
    },
    /// A task returned a result.
    TaskSucceeded {
        /// The [`TaskInvocation::token`].
        token: u64,
        /// The task's result.
        output: Value,
    },
    /// A task failed.
    TaskFailed {
        /// The [`TaskInvocation::token`].
        token: u64,
        /// Its error and cause.
        error: StateError,
    },
    /// A task sent a heartbeat.
    TaskHeartbeat {
        /// The [`TaskInvocation::token`].
        token: u64,
    },
    /// A running task recorded a step of its own: a code workflow's
    /// journaled host call. Recorded as a `HostCallRecorded` history event
    /// (details `hostCallRecordedEventDetails`) after the task's earlier
    /// events; nothing else changes.
    TaskNote {
        /// The [`TaskInvocation::token`].
        token: u64,
        /// The event's details (a JSON object).
        details: Value,
    },
    /// A timer started with [`Command::StartTimer`] fired.
    TimerFired {
        /// The timer's token.
        token: u64,
    },
    /// A Map Run started with [`Command::StartMapRun`] ended: the array of
    /// its children's outputs, or its error.
    MapRunEnded {
        /// The [`MapRunRequest::token`](crate::asl::maprun::MapRunRequest).
        token: u64,
        /// The outputs in item order, or why the Map Run failed.
        result: Result<Value, StateError>,
    },
    /// StopExecution.
    Stop {
        /// Optional error name.
        error: Option<String>,
        /// Optional cause.
        cause: Option<String>,
    },
}

/// A task to run, as the core asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInvocation {
    /// Identifies the invocation in [`Event::TaskSucceeded`]/[`Event::TaskFailed`].
    pub token: u64,
    /// The state's `Resource`.
    pub resource: Arc<str>,
    /// The effective parameters.
    pub parameters: Value,
    /// The Task state's name.
    pub state_name: Arc<str>,
    /// `$$.Task.Token`, for callback patterns and Activities: 64 hex digits
    /// from the execution's keyed generator, unguessable without its seed.
    pub task_token: String,
    /// Effective `TimeoutSeconds`.
    pub timeout_seconds: Option<u64>,
    /// Effective `HeartbeatSeconds`.
    pub heartbeat_seconds: Option<u64>,
    /// 0 for the first attempt, then 1, 2, ... for retries.
    pub attempt: u32,
    /// How many times this execution invoked this state before (0 for the
    /// first invocation; Map iterations and retries count too). Durable, so
    /// mocks answer the same after a restart.
    pub invocation: u32,
    /// The evaluated `Credentials` field.
    pub credentials: Option<Value>,
}

/// What the core asks the world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run a task and report with its token.
    InvokeTask(Box<TaskInvocation>),
    /// A task's result is no longer wanted: the integration should undo
    /// what it started.
    CancelTask {
        /// The task token.
        token: u64,
        /// It ran past `TimeoutSeconds` or `HeartbeatSeconds` (rather than
        /// being stopped or losing a sibling branch): SendTaskSuccess with
        /// its token answers `TaskTimedOut`.
        timed_out: bool,
    },
    /// Report [`Event::TimerFired`] at (or after) this time.
    StartTimer {
        /// The timer token.
        token: u64,
        /// Milliseconds since the epoch.
        fire_at_ms: i64,
    },
    /// A timer is no longer wanted.
    CancelTimer {
        /// The timer token.
        token: u64,
    },
    /// Run a Distributed Map's Map Run: start its children and report with
    /// [`Event::MapRunEnded`].
    StartMapRun(Box<crate::asl::maprun::MapRunRequest>),
    /// The Map Run's result is no longer wanted: stop its children.
    AbortMapRun {
        /// The Map Run's token.
        token: u64,
    },
}

/// Where an execution stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Status {
    /// Still running.
    Running,
    /// Ended with this output.
    Succeeded(Value),
    /// Ended with this error.
    Failed(StateError),
    /// Ran past the machine's `TimeoutSeconds`.
    TimedOut(StateError),
    /// Stopped by StopExecution.
    Aborted(StateError),
}

/// Tunables of one execution.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Options {
    /// Record history events (off for maximum speed).
    pub history: bool,
    /// 256 bits of real randomness for this execution's generator (task
    /// tokens, `States.UUID`, `States.MathRandom`, retry jitter). Executors
    /// draw it from the operating system, and it is kept in snapshots so a
    /// replay gives the same numbers. `None` derives it from the execution
    /// ARN: reproducible, for tests only, and then tokens are guessable.
    #[serde(default)]
    pub seed: Option<[u8; 32]>,
    /// With [`Options::history`], hand each event to this sink as it is
    /// recorded instead of keeping it in the execution: a long run then
    /// holds no history in memory, and [`Execution::drain_history`] returns
    /// nothing. Not part of snapshots.
    #[serde(skip)]
    pub history_sink: Option<HistorySink>,
    /// Workflow variables the execution starts with (TestState's
    /// `variables`), at the top level. Not part of snapshots: the top
    /// frame keeps them.
    #[serde(skip)]
    pub variables: Option<Box<Map<String, Value>>>,
    /// Start at this state list instead of the top level: a Distributed
    /// Map's child runs the Map's `ItemProcessor` of the parent's machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_list: Option<crate::asl::model::ListId>,
}

/// Receives history events as an execution records them; see
/// [`Options::history_sink`]. It is called in the core's thread, in event
/// order, and must not block for long.
#[derive(Clone)]
pub struct HistorySink(pub Arc<dyn Fn(HistoryEvent) + Send + Sync>);

impl std::fmt::Debug for HistorySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HistorySink")
    }
}

type FrameId = u32;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Parent {
    Top,
    Child { frame: FrameId, slot: u32 },
}

#[derive(Debug, Serialize, Deserialize)]
enum Phase {
    /// Run the current state (from its start).
    Ready,
    /// Waiting for a task.
    Task {
        token: u64,
        timeout: Option<u64>,
        heartbeat: Option<(u64, u64)>,
        /// `TaskStarted` (or `ActivityStarted`) was recorded.
        #[serde(default)]
        started: bool,
    },
    /// In a Wait state, output already computed.
    Waiting { token: u64, output: Value },
    /// Between retries.
    Backoff { token: u64 },
    /// Waiting for Parallel branches or Map iterations.
    Children(Box<Children>),
    /// A Distributed Map waiting for its Map Run.
    MapRun {
        token: u64,
        /// The Map Run's ARN (the `ResultWriter` names it).
        #[serde(default)]
        arn: String,
    },
    /// A Distributed Map waiting for its `ResultWriter` (a task whose
    /// result is the Map's).
    Writing { token: u64 },
    /// A Distributed Map waiting for its `ItemReader` (a task whose result
    /// is the items).
    Reading { token: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
struct Children {
    is_map: bool,
    results: Vec<Value>,
    pending_items: VecDeque<(u32, Value)>,
    /// Children currently running (their frames point here as parent).
    running: usize,
    remaining: usize,
    max_concurrency: usize,
    /// Map iterations that succeeded (for a redrive of a failed Map).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    done: Vec<bool>,
}

/// What a failed top-level Map keeps for RedriveExecution: the results of
/// the iterations that succeeded (an inline Map), or the Map Run to redrive
/// (a Distributed Map).
#[derive(Debug, Serialize, Deserialize)]
struct RedriveMap {
    state: StateId,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    results: Vec<Option<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    map_run: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Frame {
    state: StateId,
    input: Value,
    parent: Parent,
    phase: Phase,
    /// Attempts used per retrier of the current state.
    retries: Vec<u32>,
    /// `$$.State.RetryCount`.
    retry_count: u32,
    entered_ms: i64,
    /// The id of the state's `...StateEntered` event (AWS names it in
    /// `States.Runtime` causes).
    #[serde(default)]
    entered_event: u64,
    last_event: u64,
    /// Set when the state is re-run by a retrier: no new StateEntered event.
    retrying: bool,
    /// `input`, serialized for history when it was already serialized as
    /// the previous state's output (or the execution's input).
    #[serde(skip)]
    input_payload: Option<Payload>,
    /// The payload of the state's `...StateEntered` event, which
    /// [`Execution::exit_unchanged`] reuses for a state whose output is its
    /// input. Only read in the same step as the state was entered.
    #[serde(skip)]
    entered_payload: Option<Payload>,
    /// The workflow variables of this frame's scope (the top level, a
    /// Parallel branch or a Map iteration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vars: Option<Box<Map<String, Value>>>,
    /// The variables the current state assigned, serialized, for its
    /// `...StateExited` event (`assignedVariables`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assigned: Option<Box<[(String, String)]>>,
    /// Variables the current state's `Assign` computed, set when the state
    /// exits (not if it fails first: a catcher's `Assign` replaces them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_vars: vars::PendingVars,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Pending {
    Task,
    TaskTimeout,
    Heartbeat,
    Wait,
    Backoff,
    ExecutionTimeout,
    /// A Distributed Map's Map Run.
    MapRun,
    /// The execution used up its step budget ([`STEP_BUDGET`]) and goes on
    /// when this timer (set for now) fires.
    Resume,
}

/// The most states one call of [`Execution::start`] or
/// [`Execution::handle`] runs before it hands control back (with a timer
/// set for now that resumes the run): a loop of Pass and Choice states
/// cannot hold the executor, or the thread it runs on, for good, and each
/// step's history stays bounded.
pub const STEP_BUDGET: u32 = 10_000;

/// The state of one execution. See the module documentation.
///
/// An execution serializes (with serde) to a snapshot of everything but its
/// machine, its input, its undrained history and its unreturned commands;
/// see [`Execution::restore`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Execution {
    #[serde(skip, default = "Machine::empty")]
    machine: Arc<Machine>,
    info: ExecutionInfo,
    /// The execution input (`$$.Execution.Input`); not in snapshots, since
    /// it never changes and the caller keeps it anyway.
    #[serde(skip)]
    input: Value,
    opts: Options,
    status: Status,
    frames: Vec<Option<Frame>>,
    free: Vec<FrameId>,
    ready: VecDeque<FrameId>,
    pending: HashMap<u64, (FrameId, Pending)>,
    next_token: u64,
    /// The generator's key; see the module documentation.
    seed: [u8; 32],
    /// The generator's counter.
    rng: AtomicU64,
    now: i64,
    #[serde(skip)]
    history: Vec<HistoryEvent>,
    /// Scratch space for serializing history payloads.
    #[serde(skip)]
    history_buf: Vec<u8>,
    /// The serialized output of the top-level state that ended the
    /// execution, for `ExecutionSucceeded`.
    #[serde(skip)]
    final_output: Option<Payload>,
    event_count: u64,
    transitions: u64,
    /// Invocations so far per Task state.
    invocations: HashMap<StateId, u32>,
    /// Where a failed, timed-out or aborted execution stopped at the top
    /// level: the state and its input, for RedriveExecution.
    redrive_point: Option<(StateId, Value)>,
    /// A failed top-level Map's progress, for a redrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redrive_map: Option<Box<RedriveMap>>,
    /// The progress a redriven Map resumes from (taken when it is entered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume_map: Option<Box<RedriveMap>>,
    /// The top level's variables when it failed, for a redrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redrive_vars: Option<Box<Map<String, Value>>>,
    /// Bytes of all variables set (serialized), for the 10 MiB limit.
    #[serde(default)]
    vars_bytes: u64,
    /// Times redriven.
    redrive_count: u32,
    /// When it was last redriven (`$$.Execution.RedriveTime`).
    #[serde(default)]
    redrive_ms: Option<i64>,
    #[serde(skip)]
    out: Vec<Command>,
    /// The region of [`ExecutionInfo::region`], shared by the
    /// `TaskScheduled` events.
    #[serde(skip)]
    region: Option<Arc<str>>,
    /// States this step may still run ([`STEP_BUDGET`]).
    #[serde(skip)]
    budget: u32,
    /// The last error a catcher took (TestState reports it).
    #[serde(skip)]
    caught: Option<StateError>,
    /// Context objects built whole (with the execution input): tests check
    /// that the hot paths never do.
    #[cfg(test)]
    #[serde(skip)]
    full_contexts: AtomicU64,
}

/// ISO 8601 with milliseconds and `Z`, as the Context object shows times.
pub fn iso_millis(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Deepest nesting of arrays and objects a state may produce. Parsed
/// documents stop at 128 levels (serde_json's limit), but a loop whose
/// `Parameters` wraps `$` into itself could otherwise grow one without end,
/// and cloning, dropping or serializing it recurses once per level.
pub const MAX_DEPTH: usize = 512;

struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The serialized (compact) size of a JSON value in bytes, or `None` when it
/// nests deeper than [`MAX_DEPTH`]. Recursion is bounded by that depth.
pub fn json_size(v: &Value) -> Option<usize> {
    fn walk(v: &Value, depth: usize, c: &mut Count) -> Option<()> {
        match v {
            Value::Array(a) => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                c.0 += 2 + a.len().saturating_sub(1);
                for x in a {
                    walk(x, depth + 1, c)?;
                }
            }
            Value::Object(o) => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                c.0 += 2 + o.len().saturating_sub(1) + o.len();
                for (k, x) in o {
                    let _ = serde_json::to_writer(&mut *c, k);
                    walk(x, depth + 1, c)?;
                }
            }
            scalar => {
                let _ = serde_json::to_writer(&mut *c, scalar);
            }
        }
        Some(())
    }
    let mut c = Count(0);
    walk(v, 0, &mut c)?;
    Some(c.0)
}

/// `States.DataLimitExceeded` when `v` is larger than 256 KiB. `what`
/// completes AWS's sentence: "The state/task 'X' returned a result with a
/// size exceeding the maximum number of bytes service limit."
fn check_size(v: &Value, what: impl FnOnce() -> String) -> Result<(), StateError> {
    let Some(n) = json_size(v) else {
        return Err(too_deep(what));
    };
    check_len(n, what)
}

/// Whether `v` nests at most [`MAX_DEPTH`] levels (recursion bounded by it).
fn within_depth(v: &Value, depth: usize) -> bool {
    match v {
        Value::Array(a) => depth < MAX_DEPTH && a.iter().all(|x| within_depth(x, depth + 1)),
        Value::Object(o) => depth < MAX_DEPTH && o.values().all(|x| within_depth(x, depth + 1)),
        _ => true,
    }
}

/// `States.DataLimitExceeded` for a document nested deeper than [`MAX_DEPTH`].
fn too_deep(what: impl FnOnce() -> String) -> StateError {
    let what = what();
    StateError::new(
        error::DATA_LIMIT_EXCEEDED,
        format!("{what} nested deeper than {MAX_DEPTH} levels."),
    )
}

/// [`check_size`] for a value already serialized to `n` bytes.
fn check_len(n: usize, what: impl FnOnce() -> String) -> Result<(), StateError> {
    if n > PAYLOAD_LIMIT {
        let what = what();
        return Err(StateError::new(
            error::DATA_LIMIT_EXCEEDED,
            format!(
                "{what} with a size exceeding the maximum number of bytes service limit ({n} > {PAYLOAD_LIMIT} bytes)."
            ),
        ));
    }
    Ok(())
}

/// `{Type}StateEntered` and `{Type}StateExited` for a state (what
/// [`history::state_event_types`] gives for its type name).
fn state_events(k: &Kind) -> (&'static str, &'static str) {
    match k {
        Kind::Pass { .. } => ("PassStateEntered", "PassStateExited"),
        Kind::Task(_) => ("TaskStateEntered", "TaskStateExited"),
        Kind::Choice { .. } => ("ChoiceStateEntered", "ChoiceStateExited"),
        Kind::Wait(_) => ("WaitStateEntered", "WaitStateExited"),
        Kind::Succeed => ("SucceedStateEntered", "SucceedStateExited"),
        Kind::Fail { .. } => ("FailStateEntered", "FailStateExited"),
        Kind::Parallel { .. } => ("ParallelStateEntered", "ParallelStateExited"),
        Kind::Map(_) => ("MapStateEntered", "MapStateExited"),
    }
}

/// Whether a Task's resource is an Activity ARN
/// (`arn:aws:states:REGION:ACCOUNT:activity:NAME`): its history uses the
/// `Activity*` event types.
pub fn is_activity(resource: &str) -> bool {
    resource.starts_with("arn:") && resource.split(':').nth(5) == Some("activity")
}

use history::resource_parts;

enum Flow {
    /// Go on with the frame (it was updated in place).
    Continue,
    /// The frame is parked until an event.
    Blocked,
    /// The frame ended.
    Ended(Result<Value, StateError>),
}

impl Execution {
    /// Starts an execution: records `ExecutionStarted` and runs until the
    /// first wait. Returns the commands to carry out.
    pub fn start(
        machine: Arc<Machine>,
        info: ExecutionInfo,
        input: Value,
        opts: Options,
        now_ms: i64,
    ) -> (Execution, Vec<Command>) {
        let seed = opts.seed.unwrap_or_else(|| data::seed_from(&info.execution_arn));
        let mut ex = Execution {
            machine,
            input: Value::Null,
            info,
            opts,
            status: Status::Running,
            frames: Vec::new(),
            free: Vec::new(),
            ready: VecDeque::new(),
            pending: HashMap::new(),
            next_token: 1,
            seed,
            rng: AtomicU64::new(0),
            now: now_ms,
            history: Vec::new(),
            history_buf: Vec::new(),
            final_output: None,
            event_count: 0,
            transitions: 0,
            invocations: HashMap::new(),
            redrive_point: None,
            redrive_map: None,
            resume_map: None,
            redrive_vars: None,
            vars_bytes: 0,
            redrive_count: 0,
            redrive_ms: None,
            out: Vec::new(),
            region: None,
            budget: 0,
            caught: None,
            #[cfg(test)]
            full_contexts: AtomicU64::new(0),
        };
        let mut input_payload = None;
        if ex.opts.history {
            let p = ex.payload(&input);
            let d = Details::execution_started(p.clone(), ex.info.role_arn.as_str().into());
            ex.record("ExecutionStarted", 0, Some(("executionStartedEventDetails", d)));
            input_payload = Some(p);
        } else {
            ex.event_count = 1;
        }
        let what = || "The execution input was provided".to_string();
        let size = match &input_payload {
            Some(p) => check_len(p.len(), what),
            None => check_size(&input, what),
        };
        if let Err(e) = size {
            ex.finish(Status::Failed(e));
            return (ex, Vec::new());
        }
        if let Some(t) = ex.machine.timeout_seconds {
            let token = ex.token();
            ex.pending.insert(token, (u32::MAX, Pending::ExecutionTimeout));
            ex.out.push(Command::StartTimer {
                token,
                fire_at_ms: now_ms + t as i64 * 1000,
            });
        }
        ex.input = input.clone();
        let start = match ex.opts.start_list {
            Some(l) if (l as usize) < ex.machine.lists.len() => ex.machine.lists[l as usize].start,
            _ => ex.machine.start(),
        };
        let fid = ex.new_frame(start, input, Parent::Top, 1);
        let vars = ex.opts.variables.take();
        ex.vars_bytes = vars
            .iter()
            .flat_map(|m| m.values())
            .map(|v| json_size(v).unwrap_or(0) as u64)
            .sum();
        if let Some(f) = ex.frames[fid as usize].as_mut() {
            f.input_payload = input_payload;
            f.vars = vars;
        }
        ex.ready.push_back(fid);
        ex.drain();
        let cmds = std::mem::take(&mut ex.out);
        (ex, cmds)
    }

    /// Feeds one event at time `now_ms` and returns the resulting commands.
    /// Events for tokens the execution no longer waits on are ignored, so
    /// at-least-once delivery is safe.
    pub fn handle(&mut self, event: Event, now_ms: i64) -> Vec<Command> {
        self.now = now_ms.max(self.now);
        if self.status != Status::Running {
            return Vec::new();
        }
        match event {
            Event::Stop { error, cause } => {
                let e = StateError::new(error.unwrap_or_default(), cause.unwrap_or_default());
                self.finish(Status::Aborted(e));
            }
            Event::TaskStarted { token, worker } => {
                if let Some((fid, Pending::Task)) = self.pending.get(&token).copied() {
                    self.task_started(fid, worker);
                }
            }
            Event::TaskSucceeded { token, output } => {
                if let Some((fid, Pending::Task)) = self.pending.remove(&token) {
                    self.task_done(fid, Ok(output));
                }
            }
            Event::TaskFailed { token, error } => {
                if let Some((fid, Pending::Task)) = self.pending.remove(&token) {
                    self.task_done(fid, Err(error));
                }
            }
            Event::TaskHeartbeat { token } => {
                if let Some((fid, Pending::Task)) = self.pending.get(&token).copied() {
                    self.heartbeat(fid);
                }
            }
            Event::TaskNote { token, details } => {
                if let Some((fid, Pending::Task)) = self.pending.get(&token).copied() {
                    self.task_note(fid, details);
                }
            }
            Event::TimerFired { token } => {
                if let Some((fid, kind)) = self.pending.remove(&token) {
                    self.timer(fid, token, kind);
                }
            }
            Event::MapRunEnded { token, result } => {
                if let Some((fid, Pending::MapRun)) = self.pending.get(&token).copied() {
                    self.pending.remove(&token);
                    self.map_run_ended(fid, result);
                }
            }
        }
        self.drain();
        std::mem::take(&mut self.out)
    }

    /// Whether the execution waits on the task with this token.
    pub fn waits_on_task(&self, token: u64) -> bool {
        matches!(self.pending.get(&token), Some((_, Pending::Task)))
    }

    /// RedriveExecution: restarts a failed, timed-out or aborted execution
    /// from the top-level state where it stopped, with that state's input
    /// (a Map or Parallel state runs again as a whole). Records
    /// `ExecutionRedriven`. Returns `None` when the execution cannot be
    /// redriven (it is running or succeeded).
    pub fn redrive(&mut self, now_ms: i64) -> Option<Vec<Command>> {
        if matches!(self.status, Status::Running | Status::Succeeded(_)) {
            return None;
        }
        let (state, input) = self.redrive_point.take()?;
        self.resume_map = self.redrive_map.take().filter(|m| m.state == state);
        self.now = now_ms.max(self.now);
        self.status = Status::Running;
        self.redrive_count += 1;
        self.redrive_ms = Some(self.now);
        let d = self.opts.history.then(|| {
            (
                "executionRedrivenEventDetails",
                json!({"redriveCount": self.redrive_count}).into(),
            )
        });
        let ev = self.record("ExecutionRedriven", self.event_count, d);
        let fid = self.new_frame(state, input, Parent::Top, ev);
        if let Some(f) = self.frames[fid as usize].as_mut() {
            f.vars = self.redrive_vars.take();
        }
        self.ready.push_back(fid);
        self.drain();
        Some(std::mem::take(&mut self.out))
    }

    /// Times this execution was redriven.
    pub fn redrive_count(&self) -> u32 {
        self.redrive_count
    }

    /// Where the execution stands.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Ends the execution's life, giving back its status (with the output
    /// or error) without copying it.
    pub fn into_status(mut self) -> Status {
        std::mem::replace(&mut self.status, Status::Running)
    }

    /// The history recorded so far (empty unless [`Options::history`]).
    pub fn history(&self) -> &[HistoryEvent] {
        &self.history
    }

    /// Takes the history events recorded since the last call.
    pub fn drain_history(&mut self) -> Vec<HistoryEvent> {
        std::mem::take(&mut self.history)
    }

    /// The id of the latest history event.
    pub fn last_event_id(&self) -> u64 {
        self.event_count
    }

    /// Re-attaches a deserialized snapshot to its machine and input. They
    /// must be the ones the execution was started with.
    pub fn restore(mut self, machine: Arc<Machine>, input: Value) -> Execution {
        self.machine = machine;
        self.input = input;
        self
    }

    /// Checks that a restored snapshot fits its machine: every state its
    /// frames point at exists.
    pub fn check(&self) -> Result<(), String> {
        let n = self.machine.states.len();
        let bad = self.frames.iter().flatten().find(|f| f.state as usize >= n);
        match (bad, &self.redrive_point) {
            (Some(f), _) => Err(format!(
                "the snapshot refers to state #{} of a machine with {n} states",
                f.state
            )),
            (None, Some((s, _))) if *s as usize >= n => Err(format!(
                "the snapshot refers to state #{s} of a machine with {n} states"
            )),
            _ => Ok(()),
        }
    }

    /// The machine this execution runs.
    pub fn machine(&self) -> &Arc<Machine> {
        &self.machine
    }

    /// State transitions so far (states entered).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// The execution's identity.
    pub fn info(&self) -> &ExecutionInfo {
        &self.info
    }

    fn token(&mut self) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    /// `v` serialized for a history event.
    fn payload(&mut self, v: &Value) -> Payload {
        history::payload(&mut self.history_buf, v)
    }

    /// `v` serialized for a history event, after [`check_size`] (one
    /// serialization serves both).
    fn checked_payload(&mut self, v: &Value, what: impl FnOnce() -> String) -> Result<Payload, StateError> {
        // Serializing recurses once per level: bound the depth first.
        if !within_depth(v, 0) {
            return Err(too_deep(what));
        }
        history::serialize(&mut self.history_buf, v);
        check_len(self.history_buf.len(), what)?;
        Ok(history::payload_of(&self.history_buf))
    }

    fn record(&mut self, ty: &'static str, prev: u64, details: Option<(&'static str, Details)>) -> u64 {
        self.event_count += 1;
        if self.opts.history {
            let event = HistoryEvent {
                id: self.event_count,
                previous_event_id: prev,
                timestamp_ms: self.now,
                event_type: ty,
                details,
            };
            match &self.opts.history_sink {
                Some(sink) => (sink.0)(event),
                None => self.history.push(event),
            }
        }
        self.event_count
    }

    /// Ends the execution. Outstanding tasks are recorded as aborted
    /// (`TaskStateAborted`) when it is stopped or times out, and every
    /// task and timer is cancelled.
    fn finish(&mut self, status: Status) {
        let final_output = self.final_output.take();
        if self.status != Status::Running {
            return;
        }
        if matches!(status, Status::Aborted(_) | Status::TimedOut(_)) {
            let mut tasks: Vec<(u64, u64, &'static str)> = self
                .frames
                .iter()
                .flatten()
                .filter_map(|f| match f.phase {
                    Phase::Task { token, .. } => Some((token, f.last_event, "TaskStateAborted")),
                    Phase::MapRun { token, .. } => Some((token, f.last_event, "MapRunAborted")),
                    _ => None,
                })
                .collect();
            tasks.sort_unstable();
            for (_, last, ty) in tasks {
                self.record(ty, last, None);
            }
        }
        let last = self.event_count;
        match &status {
            Status::Succeeded(v) => {
                let d = if self.opts.history {
                    let p = match final_output {
                        Some(p) => p,
                        None => self.payload(v),
                    };
                    Some(("executionSucceededEventDetails", Details::execution_succeeded(p)))
                } else {
                    None
                };
                self.record("ExecutionSucceeded", last, d);
            }
            Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e) => {
                let ty = match &status {
                    Status::Failed(_) => ("ExecutionFailed", "executionFailedEventDetails"),
                    Status::TimedOut(_) => ("ExecutionTimedOut", "executionTimedOutEventDetails"),
                    _ => ("ExecutionAborted", "executionAbortedEventDetails"),
                };
                let d = self.opts.history.then(|| (ty.1, error_details(e).into()));
                self.record(ty.0, last, d);
            }
            Status::Running => {}
        }
        if self.redrive_point.is_none() {
            if let Some(top) = self
                .frames
                .iter_mut()
                .flatten()
                .find(|f| matches!(f.parent, Parent::Top))
            {
                self.redrive_point = Some((top.state, std::mem::take(&mut top.input)));
                self.redrive_vars = top.vars.take();
                if let Phase::MapRun { arn, .. } = &top.phase {
                    // Stopped while its Map Run ran: a redrive goes on with it.
                    self.redrive_map = Some(Box::new(RedriveMap {
                        state: top.state,
                        results: Vec::new(),
                        map_run: Some(arn.clone()),
                    }));
                }
            }
        }
        // Only the variables a redrive would start with remain.
        self.vars_bytes = self
            .redrive_vars
            .iter()
            .flat_map(|m| m.values())
            .map(|v| json_size(v).unwrap_or(0) as u64)
            .sum();
        self.status = status;
        // Nothing else may happen: cancel every outstanding task and timer.
        let mut tokens: Vec<(u64, Pending)> = self.pending.drain().map(|(t, (_, k))| (t, k)).collect();
        tokens.sort_unstable_by_key(|t| t.0);
        for (token, kind) in tokens {
            self.out.push(match kind {
                Pending::Task => Command::CancelTask {
                    token,
                    timed_out: false,
                },
                Pending::MapRun => Command::AbortMapRun { token },
                _ => Command::CancelTimer { token },
            });
        }
        self.frames.clear();
        self.free.clear();
        self.ready.clear();
    }

    fn drain(&mut self) {
        self.budget = STEP_BUDGET;
        while let Some(fid) = self.ready.pop_front() {
            if self.status != Status::Running {
                return;
            }
            if self.budget == 0 {
                self.ready.push_front(fid);
                if !self.pending.values().any(|(_, p)| matches!(p, Pending::Resume)) {
                    let token = self.token();
                    self.pending.insert(token, (u32::MAX, Pending::Resume));
                    self.out.push(Command::StartTimer {
                        token,
                        fire_at_ms: self.now,
                    });
                }
                return;
            }
            self.run_frame(fid);
        }
    }

    /// The last error a catcher took, if any.
    pub fn last_caught(&self) -> Option<&StateError> {
        self.caught.as_ref()
    }
}

/// `{"error", "cause"}` for failure events, leaving out what is empty, as
/// AWS does for a Fail state without `Error` or `Cause`.
fn error_details(e: &StateError) -> Value {
    let mut d = serde_json::Map::new();
    if !e.error.is_empty() {
        d.insert("error".into(), json!(e.error));
    }
    if !e.cause.is_empty() {
        d.insert("cause".into(), json!(e.cause));
    }
    Value::Object(d)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_jsonata;
#[cfg(test)]
mod tests_vars;
