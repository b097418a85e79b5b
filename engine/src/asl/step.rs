//! The interpreter as a pure step function.
//!
//! An [`Execution`] is the whole state of one running state machine. It is
//! advanced only by [`Execution::start`] and [`Execution::handle`], which take
//! the current time as an argument and return [`Command`]s for the world
//! (invoke a task, start a timer, cancel either). No I/O, no clock, no
//! threads: the executor around it turns commands into effects and effects
//! back into [`Event`]s. Randomness (jitter, `States.UUID`, task tokens) comes
//! from a seeded generator inside the execution, so a run is reproducible.
//!
//! Internally an execution is a set of *frames*: one per running state list
//! (the top level, each Parallel branch, each Map iteration). A frame runs
//! its states in a tight loop until it must wait for a task, a timer or its
//! children.

use super::error::{self, StateError, PAYLOAD_LIMIT};
use super::history::{self, not_truncated, HistoryEvent};
use super::intrinsics::splitmix;
use super::model::{errors_match, Kind, Machine, PathSpec, ResultPathSpec, Seconds, State, StateId, WaitSpec};
use super::path::Path;
use super::template::Scope;
use chrono::{SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// A timer started with [`Command::StartTimer`] fired.
    TimerFired {
        /// The timer's token.
        token: u64,
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
    /// `$$.Task.Token`, for callback patterns.
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
    /// A task's result is no longer wanted.
    CancelTask {
        /// The task token.
        token: u64,
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
    },
    /// In a Wait state, output already computed.
    Waiting { token: u64, output: Value },
    /// Between retries.
    Backoff { token: u64 },
    /// Waiting for Parallel branches or Map iterations.
    Children(Box<Children>),
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
    last_event: u64,
    /// Set when the state is re-run by a retrier: no new StateEntered event.
    retrying: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Pending {
    Task,
    TaskTimeout,
    Heartbeat,
    Wait,
    Backoff,
    ExecutionTimeout,
}

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
    rng: AtomicU64,
    now: i64,
    #[serde(skip)]
    history: Vec<HistoryEvent>,
    event_count: u64,
    transitions: u64,
    /// Invocations so far per Task state.
    invocations: HashMap<StateId, u32>,
    /// Where a failed, timed-out or aborted execution stopped at the top
    /// level: the state and its input, for RedriveExecution.
    redrive_point: Option<(StateId, Value)>,
    /// Times redriven.
    redrive_count: u32,
    #[serde(skip)]
    out: Vec<Command>,
}

struct StateScope<'a> {
    input: &'a Value,
    ctx: OnceCell<Value>,
    build: &'a dyn Fn() -> Value,
    rng: &'a AtomicU64,
}

impl Scope for StateScope<'_> {
    fn input(&self) -> &Value {
        self.input
    }
    fn context(&self) -> &Value {
        self.ctx.get_or_init(self.build)
    }
    fn random(&self) -> u64 {
        next_random(self.rng)
    }
}

/// Advances an execution's generator and returns the next number.
fn next_random(rng: &AtomicU64) -> u64 {
    let r = rng.load(Ordering::Relaxed).wrapping_add(0x9e37_79b9_7f4a_7c15);
    rng.store(r, Ordering::Relaxed);
    splitmix(r)
}

/// ISO 8601 with milliseconds and `Z`, as the Context object shows times.
pub fn iso_millis(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The serialized size of a JSON value, in bytes.
pub fn json_size(v: &Value) -> usize {
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
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

fn check_size(v: &Value, what: &str) -> Result<(), StateError> {
    let n = json_size(v);
    if n > PAYLOAD_LIMIT {
        return Err(StateError::new(
            error::DATA_LIMIT_EXCEEDED,
            format!("The {what} has a size of {n} bytes, which exceeds the maximum of {PAYLOAD_LIMIT} bytes."),
        ));
    }
    Ok(())
}

fn select_path<'a>(
    p: &Path,
    doc: &'a Value,
    ctx: &dyn Fn() -> Value,
    field: &str,
) -> Result<Cow<'a, Value>, StateError> {
    let not_found = |doc: &Value| {
        StateError::runtime(format!(
            "Invalid path '{p}' : No results for path: {p} (applying {field} to {doc})"
        ))
    };
    if p.root() == super::path::Root::Context {
        let c = ctx();
        return p.select_value(&c).map(Cow::Owned).ok_or_else(|| not_found(&c));
    }
    match p.select(doc) {
        Some(super::path::Selection::One(v)) => Ok(Cow::Borrowed(v)),
        Some(s) => Ok(Cow::Owned(s.to_value())),
        None => Err(not_found(doc)),
    }
}

fn type_name(k: &Kind) -> &'static str {
    match k {
        Kind::Pass { .. } => "Pass",
        Kind::Task(_) => "Task",
        Kind::Choice { .. } => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail { .. } => "Fail",
        Kind::Parallel { .. } => "Parallel",
        Kind::Map(_) => "Map",
    }
}

fn resource_parts(resource: &str) -> (String, String) {
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::") {
        match rest.split_once(':') {
            Some((t, r)) => (t.to_string(), r.to_string()),
            None => (rest.to_string(), String::new()),
        }
    } else {
        let service = resource.split(':').nth(2).unwrap_or("").to_string();
        (service, resource.to_string())
    }
}

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
        let seed = info.execution_arn.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
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
            rng: AtomicU64::new(seed),
            now: now_ms,
            history: Vec::new(),
            event_count: 0,
            transitions: 0,
            invocations: HashMap::new(),
            redrive_point: None,
            redrive_count: 0,
            out: Vec::new(),
        };
        if ex.opts.history {
            let d = json!({"input": input.to_string(), "inputDetails": not_truncated(), "roleArn": ex.info.role_arn});
            ex.record("ExecutionStarted", 0, Some(("executionStartedEventDetails", d)));
        } else {
            ex.event_count = 1;
        }
        if let Err(e) = check_size(&input, "execution input") {
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
        let start = ex.machine.start();
        let fid = ex.new_frame(start, input, Parent::Top, 1);
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
            Event::TimerFired { token } => {
                if let Some((fid, kind)) = self.pending.remove(&token) {
                    self.timer(fid, token, kind);
                }
            }
        }
        self.drain();
        std::mem::take(&mut self.out)
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
        self.now = now_ms.max(self.now);
        self.status = Status::Running;
        self.redrive_count += 1;
        let d = self.opts.history.then(|| {
            (
                "executionRedrivenEventDetails",
                json!({"redriveCount": self.redrive_count}),
            )
        });
        let ev = self.record("ExecutionRedriven", self.event_count, d);
        let fid = self.new_frame(state, input, Parent::Top, ev);
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

    fn record(&mut self, ty: &'static str, prev: u64, details: Option<(&'static str, Value)>) -> u64 {
        self.event_count += 1;
        if self.opts.history {
            self.history.push(HistoryEvent {
                id: self.event_count,
                previous_event_id: prev,
                timestamp_ms: self.now,
                event_type: ty,
                details,
            });
        }
        self.event_count
    }

    fn new_frame(&mut self, state: StateId, input: Value, parent: Parent, last_event: u64) -> FrameId {
        let f = Frame {
            state,
            input,
            parent,
            phase: Phase::Ready,
            retries: Vec::new(),
            retry_count: 0,
            entered_ms: self.now,
            last_event,
            retrying: false,
        };
        match self.free.pop() {
            Some(id) => {
                self.frames[id as usize] = Some(f);
                id
            }
            None => {
                self.frames.push(Some(f));
                (self.frames.len() - 1) as FrameId
            }
        }
    }

    fn finish(&mut self, status: Status) {
        if self.status != Status::Running {
            return;
        }
        let last = self.event_count;
        match &status {
            Status::Succeeded(v) => {
                let d = self.opts.history.then(|| {
                    (
                        "executionSucceededEventDetails",
                        json!({"output": v.to_string(), "outputDetails": not_truncated()}),
                    )
                });
                self.record("ExecutionSucceeded", last, d);
            }
            Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e) => {
                let ty = match &status {
                    Status::Failed(_) => ("ExecutionFailed", "executionFailedEventDetails"),
                    Status::TimedOut(_) => ("ExecutionTimedOut", "executionTimedOutEventDetails"),
                    _ => ("ExecutionAborted", "executionAbortedEventDetails"),
                };
                let d = self
                    .opts
                    .history
                    .then(|| (ty.1, json!({"error": e.error, "cause": e.cause})));
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
            }
        }
        self.status = status;
        // Nothing else may happen: cancel every outstanding task and timer.
        let mut tokens: Vec<(u64, Pending)> = self.pending.drain().map(|(t, (_, k))| (t, k)).collect();
        tokens.sort_unstable_by_key(|t| t.0);
        for (token, kind) in tokens {
            self.out.push(match kind {
                Pending::Task => Command::CancelTask { token },
                _ => Command::CancelTimer { token },
            });
        }
        self.frames.clear();
        self.free.clear();
        self.ready.clear();
    }

    fn drain(&mut self) {
        while let Some(fid) = self.ready.pop_front() {
            if self.status != Status::Running {
                return;
            }
            self.run_frame(fid);
        }
    }

    fn take_frame(&mut self, fid: FrameId) -> Option<Frame> {
        self.frames.get_mut(fid as usize).and_then(Option::take)
    }

    fn put_frame(&mut self, fid: FrameId, f: Frame) {
        self.frames[fid as usize] = Some(f);
    }

    /// Runs a frame's states until it blocks or ends.
    fn run_frame(&mut self, fid: FrameId) {
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        loop {
            let flow = match self.run_state(fid, &mut f) {
                Ok(flow) => flow,
                Err(e) => self.state_error(fid, &mut f, e),
            };
            match flow {
                Flow::Continue => continue,
                Flow::Blocked => {
                    self.put_frame(fid, f);
                    return;
                }
                Flow::Ended(r) => {
                    self.free.push(fid);
                    self.frame_ended(f, r);
                    return;
                }
            }
        }
    }

    fn context_for(&self, f: &Frame, task_token: Option<&str>, map_item: Option<(u32, &Value)>) -> Value {
        let st = self.machine.state(f.state);
        let mut c = json!({
            "Execution": {
                "Id": self.info.execution_arn,
                "Input": self.input,
                "Name": self.info.name,
                "RoleArn": self.info.role_arn,
                "StartTime": iso_millis(self.info.start_time_ms),
                "RedriveCount": self.redrive_count,
            },
            "State": {
                "EnteredTime": iso_millis(f.entered_ms),
                "Name": &*st.name,
                "RetryCount": f.retry_count,
            },
            "StateMachine": {
                "Id": self.info.state_machine_arn,
                "Name": self.info.state_machine_name,
            },
        });
        if let Some(t) = task_token {
            c["Task"] = json!({ "Token": t });
        }
        if let Some((i, v)) = map_item {
            c["Map"] = json!({"Item": {"Index": i, "Value": v}});
        }
        c
    }

    fn effective_input<'a>(
        st: &State,
        input: &'a Value,
        ctx: &dyn Fn() -> Value,
    ) -> Result<Cow<'a, Value>, StateError> {
        match &st.input_path {
            PathSpec::Root => Ok(Cow::Borrowed(input)),
            PathSpec::Null => Ok(Cow::Owned(Value::Object(Map::new()))),
            PathSpec::Path(p) => select_path(p, input, ctx, "InputPath"),
        }
    }

    fn apply_output_path(st: &State, v: Value, ctx: &dyn Fn() -> Value) -> Result<Value, StateError> {
        match &st.output_path {
            PathSpec::Root => Ok(v),
            PathSpec::Null => Ok(Value::Object(Map::new())),
            PathSpec::Path(p) if p.root() == super::path::Root::Input => {
                if p.is_definite() && p.select(&v).is_none() {
                    return Err(StateError::runtime(format!(
                        "Invalid path '{p}' : No results for path: {p} (applying OutputPath to {v})"
                    )));
                }
                Ok(p.take(v).unwrap_or(Value::Null))
            }
            PathSpec::Path(p) => select_path(p, &v, ctx, "OutputPath").map(Cow::into_owned),
        }
    }

    fn apply_result_path(rp: &ResultPathSpec, mut input: Value, result: Value) -> Result<Value, StateError> {
        match rp {
            ResultPathSpec::Root => Ok(result),
            ResultPathSpec::Discard => Ok(input),
            ResultPathSpec::Path(p) => match p.set(&mut input, result) {
                Ok(()) => Ok(input),
                Err(_) => Err(StateError::new(
                    error::RESULT_PATH_MATCH_FAILURE,
                    format!("Unable to apply ResultPath \"{p}\" to input \"{input}\""),
                )),
            },
        }
    }

    fn enter(&mut self, f: &mut Frame) {
        self.transitions += 1;
        f.entered_ms = self.now;
        if f.retrying {
            f.retrying = false;
            return;
        }
        f.retries.clear();
        f.retry_count = 0;
        if self.opts.history {
            let st = self.machine.state(f.state);
            let ty = history::state_event_types(type_name(&st.kind)).0;
            let d = json!({"name": &*st.name, "input": f.input.to_string(), "inputDetails": not_truncated()});
            f.last_event = self.record(ty, f.last_event, Some(("stateEnteredEventDetails", d)));
        }
    }

    /// Finishes a state with `output`: StateExited, then Next or End.
    fn exit(&mut self, f: &mut Frame, output: Value, next: Option<StateId>) -> Result<Flow, StateError> {
        check_size(&output, "state output")?;
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        if self.opts.history {
            let ty = history::state_event_types(type_name(&st.kind)).1;
            let d = json!({"name": &*st.name, "output": output.to_string(), "outputDetails": not_truncated()});
            f.last_event = self.record(ty, f.last_event, Some(("stateExitedEventDetails", d)));
        }
        match next {
            Some(n) => {
                f.state = n;
                f.input = output;
                f.phase = Phase::Ready;
                Ok(Flow::Continue)
            }
            None => Ok(Flow::Ended(Ok(output))),
        }
    }

    fn scope<'a>(&'a self, input: &'a Value, build: &'a dyn Fn() -> Value) -> StateScope<'a> {
        StateScope {
            input,
            ctx: OnceCell::new(),
            build,
            rng: &self.rng,
        }
    }

    fn run_state(&mut self, fid: FrameId, f: &mut Frame) -> Result<Flow, StateError> {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        if !matches!(f.phase, Phase::Ready) {
            return Ok(Flow::Blocked);
        }
        self.enter(f);
        match &st.kind {
            Kind::Pass { result } => {
                let r: Option<Value> = {
                    let eff = Self::effective_input(st, &f.input, &|| self.context_for(f, None, None))?;
                    if let Some(r) = result {
                        Some(r.clone())
                    } else if let Some(p) = &st.parameters {
                        let build = || self.context_for(f, None, None);
                        Some(p.eval(&self.scope(&eff, &build))?)
                    } else {
                        match eff {
                            Cow::Owned(v) => Some(v),
                            Cow::Borrowed(v) if !matches!(st.input_path, PathSpec::Root) => Some(v.clone()),
                            Cow::Borrowed(_) => None,
                        }
                    }
                };
                let input = std::mem::take(&mut f.input);
                let output = match r {
                    // The state passes its input through untouched.
                    None if matches!(st.result_path, ResultPathSpec::Root | ResultPathSpec::Discard) => input,
                    None => Self::apply_result_path(&st.result_path, input.clone(), input)?,
                    Some(r) => Self::apply_result_path(&st.result_path, input, r)?,
                };
                let output = Self::apply_output_path(st, output, &|| self.context_for(f, None, None))?;
                self.exit(f, output, st.next)
            }
            Kind::Choice { choices, default } => {
                let eff = Self::effective_input(st, &f.input, &|| self.context_for(f, None, None))?;
                let build = || self.context_for(f, None, None);
                let scope = self.scope(&eff, &build);
                let mut next = None;
                for (rule, target) in choices {
                    if rule.eval(&scope)? {
                        next = Some(*target);
                        break;
                    }
                }
                let next = next.or(*default).ok_or_else(|| {
                    StateError::new(
                        error::NO_CHOICE_MATCHED,
                        format!(
                            "No Choice Rules matched and no Default was specified in state '{}'",
                            st.name
                        ),
                    )
                })?;
                drop(scope);
                let eff = eff.into_owned();
                let output = Self::apply_output_path(st, eff, &|| self.context_for(f, None, None))?;
                self.exit(f, output, Some(next))
            }
            Kind::Succeed => {
                let eff = Self::effective_input(st, &f.input, &|| self.context_for(f, None, None))?.into_owned();
                let output = Self::apply_output_path(st, eff, &|| self.context_for(f, None, None))?;
                self.exit(f, output, None)
            }
            Kind::Fail { error, cause } => {
                let build = || self.context_for(f, None, None);
                let scope = self.scope(&f.input, &build);
                let e = match error {
                    Some(d) => d.eval(&scope)?,
                    None => String::new(),
                };
                let c = match cause {
                    Some(d) => d.eval(&scope)?,
                    None => String::new(),
                };
                Ok(Flow::Ended(Err(StateError::new(e, c))))
            }
            Kind::Wait(spec) => {
                let eff = Self::effective_input(st, &f.input, &|| self.context_for(f, None, None))?;
                let fire_at = match spec {
                    WaitSpec::Seconds(s) => self.now + *s as i64 * 1000,
                    WaitSpec::Timestamp(t) => t.timestamp_millis(),
                    WaitSpec::SecondsPath(p) => {
                        let v = select_path(p, &eff, &|| self.context_for(f, None, None), "SecondsPath")?;
                        match v.as_u64() {
                            Some(s) => self.now + (s.min(i64::MAX as u64 / 2000)) as i64 * 1000,
                            None => {
                                return Err(StateError::runtime(format!(
                                    "The SecondsPath parameter does not reference a valid non-negative integer: {v}"
                                )))
                            }
                        }
                    }
                    WaitSpec::TimestampPath(p) => {
                        let v = select_path(p, &eff, &|| self.context_for(f, None, None), "TimestampPath")?;
                        match v.as_str().and_then(super::choice::parse_timestamp) {
                            Some(t) => t.timestamp_millis(),
                            None => return Err(StateError::runtime(format!("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {v}"))),
                        }
                    }
                };
                let output = Self::apply_output_path(st, eff.into_owned(), &|| self.context_for(f, None, None))?;
                if fire_at <= self.now {
                    return self.exit(f, output, st.next);
                }
                let token = self.token();
                self.pending.insert(token, (fid, Pending::Wait));
                self.out.push(Command::StartTimer {
                    token,
                    fire_at_ms: fire_at,
                });
                f.phase = Phase::Waiting { token, output };
                Ok(Flow::Blocked)
            }
            Kind::Task(spec) => {
                let token = self.token();
                let task_token = format!(
                    "{:016x}{:08x}",
                    splitmix(self.rng.load(Ordering::Relaxed) ^ token),
                    token
                );
                let (parameters, credentials, timeout, heartbeat) = {
                    let eff = Self::effective_input(st, &f.input, &|| self.context_for(f, None, None))?;
                    let build = || self.context_for(f, Some(&task_token), None);
                    let scope = self.scope(&eff, &build);
                    let parameters = match &st.parameters {
                        Some(p) => p.eval(&scope)?,
                        None => eff.as_ref().clone(),
                    };
                    let credentials = spec.credentials.as_ref().map(|c| c.eval(&scope)).transpose()?;
                    let secs = |s: &Option<Seconds>, name: &str| -> Result<Option<u64>, StateError> {
                        match s {
                            None => Ok(None),
                            Some(Seconds::Literal(n)) => Ok(Some(*n)),
                            Some(Seconds::Path(p)) => {
                                let v = select_path(p, &eff, &|| self.context_for(f, None, None), name)?;
                                match v.as_u64() {
                                    Some(n) if n > 0 => Ok(Some(n)),
                                    _ => Err(StateError::runtime(format!(
                                        "The {name} field must reference a positive integer, got {v}"
                                    ))),
                                }
                            }
                        }
                    };
                    (
                        parameters,
                        credentials,
                        secs(&spec.timeout, "TimeoutSecondsPath")?,
                        secs(&spec.heartbeat, "HeartbeatSecondsPath")?,
                    )
                };
                check_size(&parameters, "task parameters")?;
                if self.opts.history {
                    let (rt, r) = resource_parts(&spec.resource);
                    let mut d = json!({"resourceType": rt, "resource": r, "region": "us-east-1", "parameters": parameters.to_string()});
                    if let Some(t) = timeout {
                        d["timeoutInSeconds"] = json!(t);
                    }
                    if let Some(h) = heartbeat {
                        d["heartbeatInSeconds"] = json!(h);
                    }
                    f.last_event = self.record("TaskScheduled", f.last_event, Some(("taskScheduledEventDetails", d)));
                    f.last_event = self.record(
                        "TaskStarted",
                        f.last_event,
                        Some(("taskStartedEventDetails", json!({"resourceType": rt, "resource": r}))),
                    );
                }
                self.pending.insert(token, (fid, Pending::Task));
                let timeout_token = timeout.map(|t| {
                    let tt = self.token();
                    self.pending.insert(tt, (fid, Pending::TaskTimeout));
                    self.out.push(Command::StartTimer {
                        token: tt,
                        fire_at_ms: self.now + t as i64 * 1000,
                    });
                    tt
                });
                let heartbeat_token = heartbeat.map(|h| {
                    let ht = self.token();
                    self.pending.insert(ht, (fid, Pending::Heartbeat));
                    self.out.push(Command::StartTimer {
                        token: ht,
                        fire_at_ms: self.now + h as i64 * 1000,
                    });
                    (ht, h)
                });
                let invocation = {
                    let n = self.invocations.entry(f.state).or_insert(0);
                    *n += 1;
                    *n - 1
                };
                self.out.push(Command::InvokeTask(Box::new(TaskInvocation {
                    token,
                    resource: spec.resource.clone(),
                    parameters,
                    state_name: st.name.clone(),
                    task_token,
                    timeout_seconds: timeout,
                    heartbeat_seconds: heartbeat,
                    attempt: f.retry_count,
                    invocation,
                    credentials,
                })));
                f.phase = Phase::Task {
                    token,
                    timeout: timeout_token,
                    heartbeat: heartbeat_token,
                };
                Ok(Flow::Blocked)
            }
            Kind::Parallel { branches } => {
                let eff = Self::effective_input(st, &f.input, &|| self.context_for(f, None, None))?;
                let branch_input = match &st.parameters {
                    Some(p) => {
                        let build = || self.context_for(f, None, None);
                        p.eval(&self.scope(&eff, &build))?
                    }
                    None => eff.into_owned(),
                };
                f.last_event = self.record("ParallelStateStarted", f.last_event, None);
                for (i, list) in branches.iter().enumerate() {
                    let start = machine.lists[*list as usize].start;
                    let child = self.new_frame(
                        start,
                        branch_input.clone(),
                        Parent::Child {
                            frame: fid,
                            slot: i as u32,
                        },
                        f.last_event,
                    );
                    self.ready.push_back(child);
                }
                f.phase = Phase::Children(Box::new(Children {
                    is_map: false,
                    results: vec![Value::Null; branches.len()],
                    pending_items: VecDeque::new(),
                    remaining: branches.len(),
                    running: branches.len(),
                    max_concurrency: 0,
                }));
                Ok(Flow::Blocked)
            }
            Kind::Map(spec) => {
                let eff = Self::effective_input(st, &f.input, &|| self.context_for(f, None, None))?;
                let items = match &spec.items_path {
                    PathSpec::Root => eff.clone(),
                    PathSpec::Null => Cow::Owned(Value::Object(Map::new())),
                    PathSpec::Path(p) => select_path(p, &eff, &|| self.context_for(f, None, None), "ItemsPath")?,
                };
                let Value::Array(items) = items.into_owned() else {
                    return Err(StateError::runtime(format!(
                        "Map state '{}': ItemsPath must reference a JSON array",
                        st.name
                    )));
                };
                let max_concurrency = match &spec.max_concurrency {
                    Seconds::Literal(n) => *n as usize,
                    Seconds::Path(p) => {
                        let v = select_path(p, &eff, &|| self.context_for(f, None, None), "MaxConcurrencyPath")?;
                        v.as_u64().ok_or_else(|| {
                            StateError::runtime(format!(
                                "MaxConcurrencyPath must reference a non-negative integer, got {v}"
                            ))
                        })? as usize
                    }
                };
                let mut pending_items = VecDeque::with_capacity(items.len());
                let n = items.len();
                match &spec.item_selector {
                    Some(sel) => {
                        for (i, item) in items.into_iter().enumerate() {
                            let build = || self.context_for(f, None, Some((i as u32, &item)));
                            let v = sel.eval(&self.scope(&eff, &build))?;
                            pending_items.push_back((i as u32, v));
                        }
                    }
                    None => pending_items.extend(items.into_iter().enumerate().map(|(i, v)| (i as u32, v))),
                }
                drop(eff);
                let d = self
                    .opts
                    .history
                    .then(|| ("mapStateStartedEventDetails", json!({"length": n})));
                f.last_event = self.record("MapStateStarted", f.last_event, d);
                let mut ch = Children {
                    is_map: true,
                    results: vec![Value::Null; n],
                    pending_items,
                    running: 0,
                    remaining: n,
                    max_concurrency,
                };
                if n == 0 {
                    return self.children_done(f, ch.results);
                }
                self.spawn_items(fid, f, &mut ch);
                f.phase = Phase::Children(Box::new(ch));
                Ok(Flow::Blocked)
            }
        }
    }

    fn spawn_items(&mut self, fid: FrameId, f: &mut Frame, ch: &mut Children) {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let Kind::Map(spec) = &st.kind else { return };
        let start = machine.lists[spec.processor as usize].start;
        while ch.max_concurrency == 0 || ch.running < ch.max_concurrency {
            let Some((i, input)) = ch.pending_items.pop_front() else {
                break;
            };
            let d = self.opts.history.then(|| {
                (
                    "mapIterationStartedEventDetails",
                    json!({"name": &*st.name, "index": i}),
                )
            });
            let ev = self.record("MapIterationStarted", f.last_event, d);
            let child = self.new_frame(start, input, Parent::Child { frame: fid, slot: i }, ev);
            ch.running += 1;
            self.ready.push_back(child);
        }
    }

    /// All children of a Parallel/Map finished: apply the result like a task's.
    fn children_done(&mut self, f: &mut Frame, results: Vec<Value>) -> Result<Flow, StateError> {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let ty = if matches!(st.kind, Kind::Map(_)) {
            "MapStateSucceeded"
        } else {
            "ParallelStateSucceeded"
        };
        f.last_event = self.record(ty, f.last_event, None);
        self.apply_result(f, Value::Array(results))
    }

    /// ResultSelector, ResultPath and OutputPath on a result, then exit.
    fn apply_result(&mut self, f: &mut Frame, result: Value) -> Result<Flow, StateError> {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let result = match &st.result_selector {
            Some(sel) => {
                let build = || self.context_for(f, None, None);
                sel.eval(&self.scope(&result, &build))?
            }
            None => result,
        };
        let output = Self::apply_result_path(&st.result_path, std::mem::take(&mut f.input), result)?;
        let output = Self::apply_output_path(st, output, &|| self.context_for(f, None, None))?;
        self.exit(f, output, st.next)
    }

    /// A state raised an error: Retry, then Catch, else the frame fails.
    fn state_error(&mut self, fid: FrameId, f: &mut Frame, e: StateError) -> Flow {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let is_task = matches!(st.kind, Kind::Task(_));
        if e.is_terminal() {
            return Flow::Ended(Err(e));
        }
        if let Some(i) = st.retry.iter().position(|r| errors_match(&r.errors, &e.error, is_task)) {
            let r = &st.retry[i];
            if f.retries.len() < st.retry.len() {
                f.retries.resize(st.retry.len(), 0);
            }
            let used = f.retries[i];
            if (used as u64) < r.max_attempts {
                let mut delay = r.interval_seconds as f64 * 1000.0 * r.backoff_rate.powi(used as i32);
                if let Some(m) = r.max_delay_seconds {
                    delay = delay.min(m as f64 * 1000.0);
                }
                if r.full_jitter {
                    let rnd = next_random(&self.rng);
                    delay *= (rnd >> 11) as f64 / (1u64 << 53) as f64;
                }
                f.retries[i] += 1;
                f.retry_count += 1;
                f.retrying = true;
                let token = self.token();
                self.pending.insert(token, (fid, Pending::Backoff));
                f.phase = Phase::Backoff { token };
                self.out.push(Command::StartTimer {
                    token,
                    fire_at_ms: self.now + delay.min(1.0e15) as i64,
                });
                return Flow::Blocked;
            }
        }
        if let Some(c) = st.catch.iter().find(|c| errors_match(&c.errors, &e.error, is_task)) {
            let err_out = json!({"Error": e.error, "Cause": e.cause});
            let output = match Self::apply_result_path(&c.result_path, std::mem::take(&mut f.input), err_out) {
                Ok(o) => o,
                Err(e2) => return Flow::Ended(Err(e2)),
            };
            return match self.exit(f, output, Some(c.next)) {
                Ok(flow) => flow,
                Err(e2) => Flow::Ended(Err(e2)),
            };
        }
        if let Kind::Parallel { .. } | Kind::Map(_) = st.kind {
            let ty = if matches!(st.kind, Kind::Map(_)) {
                "MapStateFailed"
            } else {
                "ParallelStateFailed"
            };
            f.last_event = self.record(ty, f.last_event, None);
        }
        Flow::Ended(Err(e))
    }

    fn frame_ended(&mut self, f: Frame, r: Result<Value, StateError>) {
        match f.parent {
            Parent::Top => match r {
                Ok(v) => self.finish(Status::Succeeded(v)),
                Err(e) => {
                    self.redrive_point = Some((f.state, f.input));
                    self.finish(Status::Failed(e))
                }
            },
            Parent::Child { frame: pid, slot } => {
                let Some(mut p) = self.take_frame(pid) else {
                    return;
                };
                let Phase::Children(mut ch) = std::mem::replace(&mut p.phase, Phase::Ready) else {
                    self.put_frame(pid, p);
                    return;
                };
                ch.running -= 1;
                let machine = self.machine.clone();
                let name = machine.state(p.state).name.clone();
                let flow = match r {
                    Ok(v) => {
                        if ch.is_map {
                            let d = self.opts.history.then(|| {
                                (
                                    "mapIterationSucceededEventDetails",
                                    json!({"name": &*name, "index": slot}),
                                )
                            });
                            p.last_event = self.record("MapIterationSucceeded", f.last_event, d);
                        }
                        ch.results[slot as usize] = v;
                        ch.remaining -= 1;
                        if ch.remaining == 0 {
                            let results = std::mem::take(&mut ch.results);
                            match self.children_done(&mut p, results) {
                                Ok(flow) => flow,
                                Err(e) => self.state_error(pid, &mut p, e),
                            }
                        } else {
                            self.spawn_items(pid, &mut p, &mut ch);
                            p.phase = Phase::Children(ch);
                            Flow::Blocked
                        }
                    }
                    Err(e) => {
                        if ch.is_map {
                            let d = self
                                .opts
                                .history
                                .then(|| ("mapIterationFailedEventDetails", json!({"name": &*name, "index": slot})));
                            p.last_event = self.record("MapIterationFailed", f.last_event, d);
                        }
                        self.cancel_children(pid, ch.is_map.then_some(&*name));
                        self.state_error(pid, &mut p, e)
                    }
                };
                match flow {
                    Flow::Blocked => self.put_frame(pid, p),
                    Flow::Continue => {
                        self.put_frame(pid, p);
                        self.ready.push_back(pid);
                    }
                    Flow::Ended(r) => {
                        self.free.push(pid);
                        self.frame_ended(p, r);
                    }
                }
            }
        }
    }

    /// Cancels every running child of `parent` (a scan of all frames: this
    /// only happens when a branch or iteration fails).
    fn cancel_children(&mut self, parent: FrameId, map_name: Option<&str>) {
        let children: Vec<FrameId> = self
            .frames
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f, Some(Frame { parent: Parent::Child { frame, .. }, .. }) if *frame == parent))
            .map(|(i, _)| i as FrameId)
            .collect();
        for c in children {
            self.cancel_frame(c, map_name);
        }
    }

    /// Removes a frame and everything below it, cancelling its tasks and timers.
    fn cancel_frame(&mut self, fid: FrameId, map_name: Option<&str>) {
        let Some(f) = self.take_frame(fid) else {
            return;
        };
        self.free.push(fid);
        self.ready.retain(|r| *r != fid);
        let tokens: Vec<(u64, Pending)> = self
            .pending
            .iter()
            .filter(|(_, (id, _))| *id == fid)
            .map(|(t, (_, k))| (*t, *k))
            .collect();
        for (t, k) in tokens {
            self.pending.remove(&t);
            self.out.push(match k {
                Pending::Task => Command::CancelTask { token: t },
                _ => Command::CancelTimer { token: t },
            });
        }
        if let Phase::Children(ch) = f.phase {
            let machine = self.machine.clone();
            let name = machine.state(f.state).name.clone();
            self.cancel_children(fid, ch.is_map.then_some(&*name));
        }
        if let (Some(name), Parent::Child { slot, .. }) = (map_name, f.parent) {
            let d = self
                .opts
                .history
                .then(|| ("mapIterationAbortedEventDetails", json!({"name": name, "index": slot})));
            self.record("MapIterationAborted", f.last_event, d);
        }
    }

    fn cancel_timer(&mut self, token: Option<u64>) {
        if let Some(t) = token {
            if self.pending.remove(&t).is_some() {
                self.out.push(Command::CancelTimer { token: t });
            }
        }
    }

    fn task_done(&mut self, fid: FrameId, r: Result<Value, StateError>) {
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        let Phase::Task { timeout, heartbeat, .. } = std::mem::replace(&mut f.phase, Phase::Ready) else {
            self.put_frame(fid, f);
            return;
        };
        self.cancel_timer(timeout);
        self.cancel_timer(heartbeat.map(|h| h.0));
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let (rt, res) = if self.opts.history {
            let Kind::Task(spec) = &st.kind else { unreachable!() };
            resource_parts(&spec.resource)
        } else {
            Default::default()
        };
        let r = r.and_then(|v| check_size(&v, "task result").map(|_| v));
        let flow = match r {
            Ok(v) => {
                if self.opts.history {
                    let d = json!({"resourceType": rt, "resource": res, "output": v.to_string(), "outputDetails": not_truncated()});
                    f.last_event = self.record("TaskSucceeded", f.last_event, Some(("taskSucceededEventDetails", d)));
                }
                match self.apply_result(&mut f, v) {
                    Ok(flow) => flow,
                    Err(e) => self.state_error(fid, &mut f, e),
                }
            }
            Err(e) => {
                if self.opts.history {
                    let d = json!({"resourceType": rt, "resource": res, "error": e.error, "cause": e.cause});
                    f.last_event = self.record("TaskFailed", f.last_event, Some(("taskFailedEventDetails", d)));
                }
                self.state_error(fid, &mut f, e)
            }
        };
        self.after(fid, f, flow);
    }

    fn after(&mut self, fid: FrameId, f: Frame, flow: Flow) {
        match flow {
            Flow::Continue => {
                self.put_frame(fid, f);
                self.ready.push_back(fid);
            }
            Flow::Blocked => self.put_frame(fid, f),
            Flow::Ended(r) => {
                self.free.push(fid);
                self.frame_ended(f, r);
            }
        }
    }

    fn heartbeat(&mut self, fid: FrameId) {
        let Some(f) = self.frames.get_mut(fid as usize).and_then(Option::as_mut) else {
            return;
        };
        if let Phase::Task {
            heartbeat: Some((ht, secs)),
            ..
        } = &mut f.phase
        {
            let old = *ht;
            let secs = *secs;
            let new = self.next_token;
            self.next_token += 1;
            *ht = new;
            self.pending.remove(&old);
            self.pending.insert(new, (fid, Pending::Heartbeat));
            self.out.push(Command::CancelTimer { token: old });
            self.out.push(Command::StartTimer {
                token: new,
                fire_at_ms: self.now + secs as i64 * 1000,
            });
        }
    }

    fn timer(&mut self, fid: FrameId, token: u64, kind: Pending) {
        if let Pending::ExecutionTimeout = kind {
            let e = StateError::new(
                error::TIMEOUT,
                "The execution ran longer than the state machine's TimeoutSeconds",
            );
            self.finish(Status::TimedOut(e));
            return;
        }
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        let flow = match (kind, std::mem::replace(&mut f.phase, Phase::Ready)) {
            (Pending::Wait, Phase::Waiting { token: t, output }) if t == token => {
                let next = self.machine.state(f.state).next;
                match self.exit(&mut f, output, next) {
                    Ok(flow) => flow,
                    Err(e) => self.state_error(fid, &mut f, e),
                }
            }
            (Pending::Backoff, Phase::Backoff { token: t }) if t == token => Flow::Continue,
            (
                Pending::TaskTimeout | Pending::Heartbeat,
                Phase::Task {
                    token: task,
                    timeout,
                    heartbeat,
                },
            ) => {
                self.pending.remove(&task);
                self.out.push(Command::CancelTask { token: task });
                self.cancel_timer(timeout);
                self.cancel_timer(heartbeat.map(|h| h.0));
                let (name, cause) = match kind {
                    Pending::TaskTimeout => (error::TIMEOUT, "The task ran longer than its TimeoutSeconds"),
                    _ => (
                        error::HEARTBEAT_TIMEOUT,
                        "The task sent no heartbeat within its HeartbeatSeconds",
                    ),
                };
                if self.opts.history {
                    let machine = self.machine.clone();
                    let Kind::Task(spec) = &machine.state(f.state).kind else {
                        unreachable!()
                    };
                    let (rt, res) = resource_parts(&spec.resource);
                    let d = json!({"resourceType": rt, "resource": res, "error": name, "cause": cause});
                    f.last_event = self.record("TaskTimedOut", f.last_event, Some(("taskTimedOutEventDetails", d)));
                }
                self.state_error(fid, &mut f, StateError::new(name, cause))
            }
            (_, phase) => {
                f.phase = phase;
                Flow::Blocked
            }
        };
        self.after(fid, f, flow);
    }
}

#[cfg(test)]
mod tests;
