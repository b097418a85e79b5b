//! [`Engine`]: Aslan embedded in a Rust program.
//!
//! An engine is a durable store (a folder, or memory) with the durable
//! executor running over it, and the task integrations it dispatches to,
//! including handlers the host program registers for its own resources.
//! It is what `aslan serve` runs, without the HTTP server.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), aslan::EngineError> {
//! use aslan::Engine;
//! use serde_json::json;
//!
//! let engine = Engine::builder()
//!     .in_memory()
//!     // Any Task whose Resource starts with this ARN runs the closure.
//!     .task("arn:aslan:states:::task:double", |task| async move {
//!         let n = task.invocation.parameters["n"].as_i64().unwrap_or(0);
//!         Ok(json!({ "doubled": n * 2 }))
//!     })
//!     .open()
//!     .await?;
//! let definition = json!({
//!     "StartAt": "Double",
//!     "States": {
//!         "Double": {"Type": "Task", "Resource": "arn:aslan:states:::task:double", "End": true}
//!     }
//! });
//! engine.create_state_machine("doubler", &definition.to_string()).await?;
//! let started = engine.start_execution("doubler", None, &json!({"n": 21})).await?;
//! let ended = engine.wait_for_execution(&started.arn).await?;
//! assert_eq!(ended.output.as_deref(), Some(r#"{"doubled":42}"#));
//! engine.shutdown().await;
//! # Ok(()) }
//! ```

use crate::asl::{Diagnostic, ExecutionInfo, HistorySink, Options, StateError};
use crate::exec::clock::{Clock, SystemClock};
use crate::exec::durable::{CommittedEvents, ExecError, Executor, ExecutorConfig, RecoveryReport, StartRequest};
use crate::exec::RunResult;
use crate::store::{ExecutionRecord, ExecutionStatus, StateMachineRecord, Store, StoreError};
use crate::tasks::{FnIntegration, Integration, Registry, Task};
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::broadcast;

/// The role ARN state machines get when the host gives none.
pub const DEFAULT_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/aslan";

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The definition is not valid ASL, or asks an integration for what it
    /// cannot do: every problem, with its location.
    #[error("Invalid State Machine Definition: '{}'", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidDefinition(Vec<Diagnostic>),
    /// A state machine or execution name AWS would refuse.
    #[error("Invalid Name: '{0}'")]
    InvalidName(String),
    /// A state machine with this name exists with another definition.
    #[error("State Machine Already Exists: '{0}'")]
    StateMachineAlreadyExists(String),
    /// No state machine by this name or ARN.
    #[error("State Machine Does Not Exist: '{0}'")]
    StateMachineDoesNotExist(String),
    /// No execution with this ARN.
    #[error("Execution Does Not Exist: '{0}'")]
    ExecutionDoesNotExist(String),
    /// The input is not JSON, or too large.
    #[error("{0}")]
    InvalidInput(String),
    /// The executor refused or failed (an execution name in use, a redrive
    /// refused, shutdown).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sets an [`Engine`] up: [`Engine::builder`].
pub struct EngineBuilder {
    store: Option<Store>,
    dir: Option<PathBuf>,
    registry: Registry,
    clock: Arc<dyn Clock>,
    region: String,
    account: String,
    fsync: bool,
}

impl EngineBuilder {
    /// Keeps everything in this folder (created if missing; one engine at a
    /// time: sled locks it). The default.
    pub fn path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Keeps everything in memory (gone when the engine is dropped).
    pub fn in_memory(mut self) -> Self {
        self.dir = None;
        self
    }

    /// Runs over a store opened already (`aslan serve` opens it first to
    /// load the WebAssembly modules kept in it); [`EngineBuilder::path`]
    /// and [`EngineBuilder::in_memory`] are then ignored.
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Answers every Task whose `Resource` starts with `resource` with `f`,
    /// in this process (request-response and `.waitForTaskToken`). An
    /// `Err` fails the state with its error name, which Retry and Catch
    /// match; a panic fails it with `States.TaskFailed`. Like the built-in
    /// integrations, a handler runs at least once: after a crash, a task
    /// that was running is dispatched again.
    pub fn task<F, Fut>(mut self, resource: &str, f: F) -> Self
    where
        F: Fn(Task) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, StateError>> + Send + 'static,
    {
        self.registry.register(Arc::new(FnIntegration::new(resource, f)));
        self
    }

    /// Adds an integration with the full task seam (start, poll, cancel).
    pub fn integration(mut self, i: Arc<dyn Integration>) -> Self {
        self.registry.register(i);
        self
    }

    /// Uses these integrations instead of none (for example
    /// [`Registry::builtin`] with the EKS and Kubernetes integrations).
    /// Handlers added with [`EngineBuilder::task`] before are dropped.
    pub fn registry(mut self, r: Registry) -> Self {
        self.registry = r;
        self
    }

    /// The time source for Wait states, retries and timeouts (the system
    /// clock by default; tests use a simulated one).
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }

    /// The region and account in ARNs (`us-east-1`, `123456789012` by
    /// default).
    pub fn region_account(mut self, region: &str, account: &str) -> Self {
        self.region = region.into();
        self.account = account.into();
        self
    }

    /// Whether every group commit reaches stable storage (`fdatasync`)
    /// before its effects (true by default; see
    /// [`ExecutorConfig::fsync`]).
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    /// Runs one execution of `definition` to its end in memory, with no
    /// store and no executor: the task integrations, clock, region and
    /// account set on this builder, and the same core as [`Engine`]. What
    /// `aslan run` does. Nothing is durable; a `.waitForTaskToken` task or
    /// an Activity can end only by its timeout, since nothing can send its
    /// token back. The definition is validated first, as
    /// [`Engine::create_state_machine`] does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), aslan::EngineError> {
    /// use aslan::{asl::Status, Engine, RunOnce};
    /// let def = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": true}}}"#;
    /// let ended = Engine::builder().run_once(def, serde_json::json!({}), RunOnce::default()).await?;
    /// assert!(matches!(ended.status, Status::Succeeded(ref v) if v == 1));
    /// # Ok(()) }
    /// ```
    pub async fn run_once(self, definition: &str, input: Value, opts: RunOnce) -> Result<RunResult, EngineError> {
        let machine = self
            .registry
            .compile(definition)
            .map_err(EngineError::InvalidDefinition)?;
        // Code workflows keep their journal in memory, on this run's clock.
        self.registry
            .bind_durable(Arc::new(crate::tasks::workflow::MemoryDurable::with_clock(
                self.clock.clone(),
            )));
        let start = self.clock.now_ms();
        let exec_name = opts.execution_name.unwrap_or_else(|| format!("run-{start}"));
        let mut info = ExecutionInfo::local(&opts.state_machine_name, &exec_name, start);
        let prefix = format!("arn:aws:states:{}:{}", self.region, self.account);
        info.execution_arn = format!("{prefix}:execution:{}:{exec_name}", opts.state_machine_name);
        info.state_machine_arn = format!("{prefix}:stateMachine:{}", opts.state_machine_name);
        info.role_arn = format!("arn:aws:iam::{}:role/StepFunctionsRole", self.account);
        let options = Options {
            history: opts.history || opts.history_sink.is_some(),
            seed: Some(crate::exec::fresh_seed()),
            history_sink: opts.history_sink,
            variables: None,
            start_list: None,
        };
        Ok(crate::exec::run(
            Arc::new(machine),
            info,
            input,
            options,
            self.clock.as_ref(),
            Arc::new(self.registry),
        )
        .await)
    }

    /// Opens the store, recovers the executions that were running (see
    /// [`Engine::recovery`]) and starts the executor on the current tokio
    /// runtime.
    pub async fn open(self) -> Result<Engine, EngineError> {
        let store = match (self.store, &self.dir) {
            (Some(s), _) => s,
            (None, Some(d)) => Store::open(d)?,
            (None, None) => Store::temporary()?,
        };
        let tasks = Arc::new(self.registry);
        let (executor, recovery) = Executor::start(
            store.clone(),
            ExecutorConfig {
                clock: self.clock.clone(),
                tasks: tasks.clone(),
                region: self.region.clone(),
                account: self.account.clone(),
                fsync: self.fsync,
            },
        )?;
        Ok(Engine {
            admin: tokio::sync::Mutex::new(()),
            store,
            executor,
            tasks,
            clock: self.clock,
            region: self.region,
            account: self.account,
            recovery,
        })
    }
}

/// Names and options for [`EngineBuilder::run_once`].
#[derive(Debug, Clone)]
pub struct RunOnce {
    /// The state machine's name in ARNs and the Context object
    /// (`StateMachine` by default).
    pub state_machine_name: String,
    /// The execution's name (`run-<start time in ms>` by default).
    pub execution_name: Option<String>,
    /// Whether to record the history events ([`RunResult::history`]).
    pub history: bool,
    /// Hand each history event to this sink as it is recorded, instead of
    /// collecting them in [`RunResult::history`] (which is then empty):
    /// a long run holds no history in memory. Implies `history`.
    pub history_sink: Option<HistorySink>,
}

impl Default for RunOnce {
    fn default() -> Self {
        RunOnce {
            state_machine_name: "StateMachine".into(),
            execution_name: None,
            history: false,
            history_sink: None,
        }
    }
}

/// A durable Step Functions engine in this process. See the [module
/// documentation](self).
pub struct Engine {
    /// Serializes state machine changes (a check, then a write).
    admin: tokio::sync::Mutex<()>,
    store: Store,
    executor: Executor,
    tasks: Arc<Registry>,
    clock: Arc<dyn Clock>,
    region: String,
    account: String,
    recovery: RecoveryReport,
}

impl Engine {
    /// A builder: a store in `./aslan-data` unless told otherwise, no task
    /// integrations, the system clock, fsync on.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            store: None,
            dir: Some(PathBuf::from("aslan-data")),
            registry: Registry::new(),
            clock: Arc::new(SystemClock),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            fsync: true,
        }
    }

    /// What recovery found when the engine opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The ARN of the state machine `name`.
    pub fn state_machine_arn(&self, name: &str) -> String {
        format!("arn:aws:states:{}:{}:stateMachine:{name}", self.region, self.account)
    }

    /// Every problem of a definition (empty when it is valid), as
    /// ValidateStateMachineDefinition reports them.
    pub fn validate(&self, definition: &str) -> Vec<Diagnostic> {
        self.tasks.compile(definition).err().unwrap_or_default()
    }

    /// Creates a STANDARD state machine (idempotent for the same
    /// definition, as CreateStateMachine is).
    pub async fn create_state_machine(&self, name: &str, definition: &str) -> Result<StateMachineRecord, EngineError> {
        if !valid_name(name) {
            return Err(EngineError::InvalidName(name.into()));
        }
        let problems = self.validate(definition);
        if !problems.is_empty() {
            return Err(EngineError::InvalidDefinition(problems));
        }
        let _serial = self.admin.lock().await;
        if let Some(old) = self.store.machine(name)? {
            if old.definition == definition {
                return Ok(old);
            }
            return Err(EngineError::StateMachineAlreadyExists(old.arn));
        }
        let now = self.clock.now_ms();
        let rec = StateMachineRecord {
            name: name.into(),
            arn: self.state_machine_arn(name),
            definition: definition.into(),
            role_arn: DEFAULT_ROLE_ARN.into(),
            sm_type: "STANDARD".into(),
            created_ms: now,
            updated_ms: now,
            revision: self.store.next_revision(name)?,
        };
        self.store.put_machine(&rec).await?;
        Ok(rec)
    }

    /// A state machine by name or ARN.
    pub fn state_machine(&self, name_or_arn: &str) -> Result<StateMachineRecord, EngineError> {
        let name = name_or_arn.rsplit(':').next().unwrap_or(name_or_arn);
        match self.store.machine(name)? {
            Some(m) if name == name_or_arn || m.arn == name_or_arn => Ok(m),
            _ => Err(EngineError::StateMachineDoesNotExist(name_or_arn.into())),
        }
    }

    /// Starts an execution of a state machine (by name or ARN) and returns
    /// once its first step is durable. Without a name, it gets a fresh
    /// UUID. The same name and input while it runs return the same
    /// execution, as on AWS.
    pub async fn start_execution(
        &self,
        machine: &str,
        name: Option<&str>,
        input: &Value,
    ) -> Result<ExecutionRecord, EngineError> {
        let machine = self.state_machine(machine)?;
        let name = match name {
            Some(n) if !valid_name(n) => return Err(EngineError::InvalidName(n.into())),
            Some(n) => n.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let req = StartRequest {
            machine,
            name,
            input: input.to_string(),
            test_case: None,
        };
        self.start(req).await
    }

    /// Starts an execution from a full request (with a mock test case, as
    /// StartExecution with `stateMachineArn#TestCase` does), once its first
    /// step is durable.
    pub async fn start(&self, req: StartRequest) -> Result<ExecutionRecord, EngineError> {
        self.executor.start_execution(req).await.map_err(exec_error)
    }

    /// An execution as DescribeExecution shows it.
    pub fn describe_execution(&self, arn: &str) -> Result<ExecutionRecord, EngineError> {
        self.store
            .execution_by_arn(arn)?
            .ok_or_else(|| EngineError::ExecutionDoesNotExist(arn.into()))
    }

    /// Stops a running execution (ABORTED), running its tasks' cancels.
    pub async fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<ExecutionRecord, EngineError> {
        let (error, cause) = (error.map(String::from), cause.map(String::from));
        self.executor
            .stop_execution(arn, error, cause)
            .await
            .map_err(exec_error)
    }

    /// Redrives a failed, timed-out or aborted execution from where it
    /// stopped.
    pub async fn redrive_execution(&self, arn: &str) -> Result<ExecutionRecord, EngineError> {
        self.executor.redrive_execution(arn).await.map_err(exec_error)
    }

    /// Waits until the execution is no longer running and returns its
    /// record (output, or error and cause).
    pub async fn wait_for_execution(&self, arn: &str) -> Result<ExecutionRecord, EngineError> {
        // Subscribe before looking, so an end committed in between is seen.
        let mut events = self.executor.subscribe();
        loop {
            let rec = self.describe_execution(arn)?;
            if rec.status != ExecutionStatus::Running {
                return Ok(rec);
            }
            // Look again after each step of this execution (or, having
            // fallen behind, after any step).
            loop {
                match events.recv().await {
                    Ok(c) if &*c.execution_arn == arn => break,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return Err(ExecError::Shutdown.into()),
                }
            }
        }
    }

    /// An execution's history events, as GetExecutionHistory returns them.
    pub fn history(&self, arn: &str) -> Result<Vec<Value>, EngineError> {
        let rec = self.describe_execution(arn)?;
        Ok(self.store.history(rec.id)?)
    }

    /// History events as they commit; see [`Executor::subscribe`]. Filter
    /// on [`CommittedEvents::execution_arn`] for one execution.
    pub fn subscribe(&self) -> broadcast::Receiver<CommittedEvents> {
        self.executor.subscribe()
    }

    /// One execution's history events as the API shows them: those already
    /// committed, then each one as it commits, each once and in order,
    /// until the execution's end (`ExecutionSucceeded`, `Failed`,
    /// `Aborted` or `TimedOut`). For an ended execution it is its history.
    pub fn watch_execution(&self, arn: &str) -> Result<ExecutionEvents, EngineError> {
        // Subscribe before reading what is stored, so nothing falls between.
        let rx = self.executor.subscribe();
        let rec = self.describe_execution(arn)?;
        let mut w = ExecutionEvents {
            store: self.store.clone(),
            id: rec.id,
            arn: arn.into(),
            rx,
            pending: std::collections::VecDeque::new(),
            last_id: 0,
            ended: false,
        };
        w.catch_up()?;
        Ok(w)
    }

    /// The store, for what this API does not cover (listings, Activities).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The task integrations the executor dispatches to.
    pub fn tasks(&self) -> &Arc<Registry> {
        &self.tasks
    }

    /// The engine's time source.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The region and account in ARNs.
    pub fn region_account(&self) -> (&str, &str) {
        (&self.region, &self.account)
    }

    /// The executor, for what this API does not cover (task tokens,
    /// Activity workers).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// Finishes the current group commit, stops dispatching and releases
    /// the store. Running executions stay running in the store: the next
    /// engine opened on the folder resumes them.
    pub async fn shutdown(self) {
        self.executor.shutdown().await;
    }
}

/// Whether AWS accepts `name` for a state machine, execution or activity:
/// 1 to 80 characters, with no whitespace, no control characters, no
/// backtick and none of `< > { } [ ] ? * " # % \ ^ | ~ $ & , ; : /`.
pub fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=80).contains(&n)
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c))
}

/// One execution's history events: [`Engine::watch_execution`].
pub struct ExecutionEvents {
    store: Store,
    id: u64,
    arn: Arc<str>,
    rx: broadcast::Receiver<CommittedEvents>,
    pending: std::collections::VecDeque<Value>,
    /// The id of the last event queued: none is yielded twice.
    last_id: u64,
    ended: bool,
}

impl ExecutionEvents {
    /// Queues the stored events after the last one queued (at the start,
    /// and after falling behind the live stream).
    fn catch_up(&mut self) -> Result<(), EngineError> {
        for e in self.store.history(self.id)? {
            let id = e["id"].as_u64().unwrap_or(0);
            if id > self.last_id {
                self.last_id = id;
                self.pending.push_back(e);
            }
        }
        Ok(())
    }

    /// The next event (as GetExecutionHistory shows it), or `None` after
    /// the one that ended the execution.
    pub async fn next(&mut self) -> Option<Result<Value, EngineError>> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                // A redriven execution's history goes on after its first
                // end: only the last event counts.
                self.ended = e["type"].as_str().is_some_and(is_terminal);
                return Some(Ok(e));
            }
            if self.ended {
                return None;
            }
            match self.rx.recv().await {
                Ok(c) if c.execution_arn == self.arn => {
                    // A step committed before we subscribed but after we read
                    // the store: read it again.
                    if c.events.first().is_some_and(|e| e.id > self.last_id + 1) {
                        if let Err(e) = self.catch_up() {
                            return Some(Err(e));
                        }
                    }
                    for e in c.events.iter() {
                        if e.id > self.last_id {
                            self.last_id = e.id;
                            self.pending.push_back(e.to_json());
                        }
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Err(e) = self.catch_up() {
                        return Some(Err(e));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return Some(Err(ExecError::Shutdown.into())),
            }
        }
    }
}

/// Whether a history event type ends an execution (until a redrive).
fn is_terminal(ty: &str) -> bool {
    matches!(
        ty,
        "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut"
    )
}

fn exec_error(e: ExecError) -> EngineError {
    match e {
        ExecError::DoesNotExist(arn) => EngineError::ExecutionDoesNotExist(arn),
        ExecError::InvalidInput(m) => EngineError::InvalidInput(m),
        e => EngineError::Exec(e),
    }
}
