//! The durable executor: every execution's events, snapshot, timers and
//! in-flight tasks live in the sled [`Store`].
//!
//! One actor task owns every running [`Execution`]. It takes messages
//! (start, stop, redrive, task results) and due timers in *groups*: each
//! group's steps are written in one atomic sled batch and made durable with
//! one flush (group commit) before any effect of them becomes visible: no
//! task is dispatched, no timer armed, no client answered until then. A
//! crash therefore loses nothing a client was told. On start, the actor
//! restores every running execution from its snapshot, re-arms its timers
//! (late ones fire at once) and re-dispatches its in-flight tasks
//! (at-least-once, with [`TaskContext::idempotency_key`]).

use super::clock::Clock;
use crate::asl::{Command, Event, Execution, ExecutionInfo, Machine, Options, Status, TaskInvocation};
use crate::store::{key, ExecutionRecord, StateMachineRecord, Store, StoreError};
use crate::tasks::{run_task, TaskContext, TaskHandler};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

/// How the executor is set up.
pub struct ExecutorConfig {
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Task integrations.
    pub tasks: Arc<dyn TaskHandler>,
    /// Region in ARNs.
    pub region: String,
    /// Account in ARNs.
    pub account: String,
    /// Flush (fsync) every group commit before effects; when false, sled
    /// flushes in the background every 200 ms and a crash may lose the last
    /// fraction of a second (effects may then repeat after recovery).
    pub fsync: bool,
}

/// What recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Running executions resumed.
    pub executions: usize,
    /// Timers re-armed.
    pub timers: usize,
    /// Tasks re-dispatched.
    pub tasks: usize,
    /// Executions that could not be restored and were marked FAILED.
    pub failed: usize,
    /// How long recovery took.
    pub elapsed_ms: u128,
}

/// Why a request to the executor failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// An execution with this name exists with another input, or has ended.
    #[error("Execution Already Exists: '{0}'")]
    AlreadyExists(String),
    /// No such execution.
    #[error("Execution Does Not Exist: '{0}'")]
    DoesNotExist(String),
    /// The input is not JSON, or too large.
    #[error("{0}")]
    InvalidInput(String),
    /// The stored definition no longer compiles.
    #[error("{0}")]
    InvalidDefinition(String),
    /// Redrive refused.
    #[error("{0}")]
    NotRedrivable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A group commit failed; nothing of it happened.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The executor is shutting down.
    #[error("the executor is shutting down")]
    Shutdown,
}

/// A StartExecution request.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// The machine to run (its current revision).
    pub machine: StateMachineRecord,
    /// Execution name.
    pub name: String,
    /// Input JSON text.
    pub input: String,
    /// Mock test case.
    pub test_case: Option<String>,
}

type Reply = oneshot::Sender<Result<ExecutionRecord, ExecError>>;

enum Msg {
    Start(Box<StartRequest>, Reply),
    Stop {
        arn: String,
        error: Option<String>,
        cause: Option<String>,
        reply: Reply,
    },
    Redrive {
        arn: String,
        reply: Reply,
    },
    Task {
        id: u64,
        event: Event,
    },
    Timer {
        at: i64,
        id: u64,
        token: u64,
    },
    Shutdown(oneshot::Sender<()>),
}

/// A handle to the executor actor.
#[derive(Clone)]
pub struct Executor {
    tx: mpsc::UnboundedSender<Msg>,
    stats: Arc<Stats>,
}

/// Counters of the executor's work since it started.
#[derive(Debug, Default)]
pub struct Stats {
    /// Execution steps persisted.
    pub steps: std::sync::atomic::AtomicU64,
    /// Group commits (each one batch and, with fsync, one flush).
    pub commits: std::sync::atomic::AtomicU64,
}

impl Executor {
    /// Recovers from `store` and starts the actor on the current tokio runtime.
    pub fn start(store: Store, cfg: ExecutorConfig) -> Result<(Executor, RecoveryReport), ExecError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut actor = Actor {
            next_id: store.next_id()?,
            store,
            cfg,
            rx,
            tx: tx.clone(),
            machines: HashMap::new(),
            live: HashMap::new(),
            by_arn: HashMap::new(),
            timers: BTreeSet::new(),
            timer_at: HashMap::new(),
            inflight: HashMap::new(),
            stats: Arc::new(Stats::default()),
        };
        let report = actor.recover()?;
        let stats = actor.stats.clone();
        tokio::spawn(actor.run());
        Ok((Executor { tx, stats }, report))
    }

    async fn ask(&self, f: impl FnOnce(Reply) -> Msg) -> Result<ExecutionRecord, ExecError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(f(reply)).map_err(|_| ExecError::Shutdown)?;
        rx.await.map_err(|_| ExecError::Shutdown)?
    }

    /// Starts an execution; returns once its first step is durable.
    pub async fn start_execution(&self, req: StartRequest) -> Result<ExecutionRecord, ExecError> {
        self.ask(|reply| Msg::Start(Box::new(req), reply)).await
    }

    /// Stops a running execution (ABORTED).
    pub async fn stop_execution(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<ExecutionRecord, ExecError> {
        let arn = arn.to_string();
        self.ask(|reply| Msg::Stop {
            arn,
            error,
            cause,
            reply,
        })
        .await
    }

    /// Redrives a failed, timed-out or aborted execution.
    pub async fn redrive_execution(&self, arn: &str) -> Result<ExecutionRecord, ExecError> {
        let arn = arn.to_string();
        self.ask(|reply| Msg::Redrive { arn, reply }).await
    }

    /// Counters of work done so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Finishes the current group commit and stops dispatching.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Live {
    ex: Execution,
    rec: ExecutionRecord,
    /// The record must be written with the next step (it is only rewritten
    /// when it changes: at start, redrive and the end).
    dirty: bool,
}

enum Effect {
    Dispatch(u64, Box<TaskInvocation>),
    Abort(u64, u64),
    Timer(i64, u64, u64),
}

#[derive(Default)]
struct Group {
    batch: sled::Batch,
    effects: Vec<Effect>,
    replies: Vec<(Reply, Result<ExecutionRecord, ExecError>)>,
    /// Running executions stepped in this group: snapshotted once, at commit.
    dirty: std::collections::BTreeSet<u64>,
}

struct Actor {
    store: Store,
    cfg: ExecutorConfig,
    rx: mpsc::UnboundedReceiver<Msg>,
    tx: mpsc::UnboundedSender<Msg>,
    next_id: u64,
    machines: HashMap<(String, u64), Arc<Machine>>,
    live: HashMap<u64, Live>,
    by_arn: HashMap<String, u64>,
    timers: BTreeSet<(i64, u64, u64)>,
    timer_at: HashMap<(u64, u64), i64>,
    inflight: HashMap<(u64, u64), AbortHandle>,
    stats: Arc<Stats>,
}

fn to_vec<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

impl Actor {
    fn machine(&mut self, sm_name: &str, revision: u64) -> Result<Arc<Machine>, ExecError> {
        if let Some(m) = self.machines.get(&(sm_name.to_string(), revision)) {
            return Ok(m.clone());
        }
        let text = self.store.definition(sm_name, revision)?.ok_or_else(|| {
            ExecError::InvalidDefinition(format!("definition {sm_name} revision {revision} is missing"))
        })?;
        let m = Arc::new(Machine::from_json(&text).map_err(|e| ExecError::InvalidDefinition(e.to_string()))?);
        self.machines.insert((sm_name.to_string(), revision), m.clone());
        Ok(m)
    }

    fn recover(&mut self) -> Result<RecoveryReport, ExecError> {
        let t0 = std::time::Instant::now();
        let mut report = RecoveryReport::default();
        let snaps: Vec<(u64, sled::IVec)> = self.store.snapshots().collect::<Result<_, _>>()?;
        for (id, bytes) in snaps {
            let Some(mut rec) = self.store.execution(id)? else {
                continue;
            };
            if rec.status != "RUNNING" {
                continue; // kept only for RedriveExecution
            }
            match self.restore(&rec, &bytes) {
                Ok(ex) => {
                    self.by_arn.insert(rec.arn.clone(), id);
                    self.live.insert(id, Live { ex, rec, dirty: false });
                    report.executions += 1;
                }
                Err(e) => {
                    // One unreadable execution fails alone; the rest recover.
                    tracing::error!(execution = %rec.arn, "cannot recover: {e}");
                    rec.status = "FAILED".into();
                    rec.error = Some(crate::asl::error::RUNTIME.into());
                    rec.cause = Some(format!("The execution could not be recovered after a restart: {e}"));
                    rec.stop_ms = Some(self.cfg.clock.now_ms());
                    let mut b = sled::Batch::default();
                    b.insert(key::execution(id), to_vec(&rec));
                    b.remove(key::snapshot(id));
                    self.store.apply(b)?;
                    report.failed += 1;
                }
            }
        }
        for (at, id, token) in self.store.timers()? {
            if !self.live.contains_key(&id) {
                continue;
            }
            self.timers.insert((at, id, token));
            self.timer_at.insert((id, token), at);
            report.timers += 1;
        }
        for (id, _token, bytes) in self.store.tasks()? {
            if !self.live.contains_key(&id) {
                continue;
            }
            let inv: TaskInvocation = serde_json::from_slice(&bytes).map_err(StoreError::from)?;
            self.dispatch(id, inv);
            report.tasks += 1;
        }
        report.elapsed_ms = t0.elapsed().as_millis();
        Ok(report)
    }

    fn restore(&mut self, rec: &ExecutionRecord, bytes: &[u8]) -> Result<Execution, ExecError> {
        let machine = self.machine(&rec.sm_name, rec.revision)?;
        let ex: Execution = serde_json::from_slice(bytes).map_err(StoreError::from)?;
        let input = serde_json::from_str(&rec.input).map_err(StoreError::from)?;
        let ex = ex.restore(machine, input);
        ex.check().map_err(ExecError::InvalidDefinition)?;
        Ok(ex)
    }

    async fn run(mut self) {
        loop {
            let first = match self.timers.first().copied() {
                Some((at, id, token)) => {
                    let clock = self.cfg.clock.clone();
                    tokio::select! {
                        biased;
                        m = self.rx.recv() => m,
                        _ = clock.sleep_until(at) => Some(Msg::Timer { at, id, token }),
                    }
                }
                None => self.rx.recv().await,
            };
            let Some(first) = first else { return };
            let mut msgs = vec![first];
            while msgs.len() < 1024 {
                match self.rx.try_recv() {
                    Ok(m) => msgs.push(m),
                    Err(_) => break,
                }
            }
            let now = self.cfg.clock.now_ms();
            while let Some(&(at, id, token)) = self.timers.first() {
                if at > now {
                    break;
                }
                msgs.push(Msg::Timer { at, id, token });
                self.timers.pop_first();
            }
            let mut group = Group::default();
            let mut shutdown = None;
            for m in msgs {
                match m {
                    Msg::Shutdown(done) => shutdown = Some(done),
                    m => self.process(m, &mut group),
                }
            }
            for id in std::mem::take(&mut group.dirty) {
                if let Some(l) = self.live.get(&id) {
                    group.batch.insert(key::snapshot(id), to_vec(&l.ex));
                }
            }
            let committed = self.commit(group.batch).await;
            self.stats.commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = committed {
                // Nothing of this group is durable, but the executions in
                // memory have moved past it: stop rather than run on from a
                // state the store does not have. A restart recovers from the
                // last commit.
                tracing::error!("commit failed, stopping the executor: {e}");
                for (reply, _) in group.replies {
                    let _ = reply.send(Err(ExecError::Commit(e.to_string())));
                }
                for h in self.inflight.values() {
                    h.abort();
                }
                return;
            }
            if let Some(done) = shutdown {
                for (reply, r) in group.replies {
                    let _ = reply.send(r);
                }
                for h in self.inflight.values() {
                    h.abort();
                }
                // Release the store (and its file lock) before saying done.
                drop(self);
                let _ = done.send(());
                return;
            }
            for e in group.effects {
                match e {
                    Effect::Dispatch(id, inv) => self.dispatch(id, *inv),
                    Effect::Abort(id, token) => {
                        if let Some(h) = self.inflight.remove(&(id, token)) {
                            h.abort();
                        }
                    }
                    Effect::Timer(at, id, token) => {
                        if self.timer_at.get(&(id, token)) == Some(&at) {
                            self.timers.insert((at, id, token));
                        }
                    }
                }
            }
            for (reply, r) in group.replies {
                let _ = reply.send(r);
            }
        }
    }

    async fn commit(&self, batch: sled::Batch) -> Result<(), StoreError> {
        self.store.apply(batch)?;
        if self.cfg.fsync {
            self.store.flush().await?;
        }
        Ok(())
    }

    fn dispatch(&mut self, id: u64, inv: TaskInvocation) {
        let Some(live) = self.live.get(&id) else { return };
        let token = inv.token;
        let ctx = TaskContext {
            state_machine_name: live.rec.sm_name.clone(),
            execution_name: live.rec.name.clone(),
            test_case: live.rec.test_case.clone(),
            idempotency_key: format!("{}#{}", live.rec.arn, token),
        };
        let tasks = self.cfg.tasks.clone();
        let tx = self.tx.clone();
        let handle = tokio::spawn(async move {
            let event = run_task(tasks.as_ref(), inv, ctx).await;
            let _ = tx.send(Msg::Task { id, event });
        });
        self.inflight.insert((id, token), handle.abort_handle());
    }

    fn process(&mut self, m: Msg, g: &mut Group) {
        let now = self.cfg.clock.now_ms();
        match m {
            Msg::Start(req, reply) => {
                let r = self.start(*req, now, g);
                g.replies.push((reply, r));
            }
            Msg::Stop {
                arn,
                error,
                cause,
                reply,
            } => {
                let r = match self.by_arn.get(&arn).copied() {
                    Some(id) => {
                        let cmds = self
                            .live
                            .get_mut(&id)
                            .map(|l| l.ex.handle(Event::Stop { error, cause }, now));
                        Ok(self.step(id, cmds.unwrap_or_default(), now, g))
                    }
                    None => match self.store.execution_by_arn(&arn) {
                        Ok(Some(rec)) => Ok(rec),
                        Ok(None) => Err(ExecError::DoesNotExist(arn)),
                        Err(e) => Err(e.into()),
                    },
                };
                g.replies.push((reply, r));
            }
            Msg::Redrive { arn, reply } => {
                let r = self.redrive(&arn, now, g);
                g.replies.push((reply, r));
            }
            Msg::Task { id, event } => {
                let token = match &event {
                    Event::TaskSucceeded { token, .. }
                    | Event::TaskFailed { token, .. }
                    | Event::TaskHeartbeat { token } => *token,
                    _ => return,
                };
                self.inflight.remove(&(id, token));
                g.batch.remove(key::task(id, token));
                if let Some(l) = self.live.get_mut(&id) {
                    let cmds = l.ex.handle(event, now);
                    self.step(id, cmds, now, g);
                }
            }
            Msg::Timer { at, id, token } => {
                g.batch.remove(key::timer(at, id, token));
                if self.timer_at.get(&(id, token)) == Some(&at) {
                    self.timer_at.remove(&(id, token));
                    if let Some(l) = self.live.get_mut(&id) {
                        let cmds = l.ex.handle(Event::TimerFired { token }, now);
                        self.step(id, cmds, now, g);
                    }
                }
            }
            Msg::Shutdown(_) => unreachable!("handled by run"),
        }
    }

    fn start(&mut self, req: StartRequest, now: i64, g: &mut Group) -> Result<ExecutionRecord, ExecError> {
        let sm = &req.machine;
        let arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{}",
            self.cfg.region, self.cfg.account, sm.name, req.name
        );
        let existing = match self.by_arn.get(&arn) {
            Some(id) => self.live.get(id).map(|l| l.rec.clone()),
            None => self.store.execution_by_arn(&arn)?,
        };
        if let Some(rec) = existing {
            // As AWS: the same name and input while running returns the same
            // execution; anything else is a conflict.
            return if rec.status == "RUNNING" && rec.input == req.input {
                Ok(rec)
            } else {
                Err(ExecError::AlreadyExists(arn))
            };
        }
        let input: Value = serde_json::from_str(&req.input)
            .map_err(|e| ExecError::InvalidInput(format!("Invalid State Machine Execution Input: '{e}'")))?;
        let machine = self.machine(&sm.name, sm.revision)?;
        let id = self.next_id;
        self.next_id += 1;
        g.batch.insert(key::COUNTER, &self.next_id.to_be_bytes());
        let info = ExecutionInfo {
            execution_arn: arn.clone(),
            name: req.name.clone(),
            state_machine_arn: sm.arn.clone(),
            state_machine_name: sm.name.clone(),
            role_arn: sm.role_arn.clone(),
            start_time_ms: now,
        };
        let (ex, cmds) = Execution::start(machine, info, input, Options { history: true }, now);
        let rec = ExecutionRecord {
            id,
            arn: arn.clone(),
            name: req.name,
            sm_arn: sm.arn.clone(),
            sm_name: sm.name.clone(),
            revision: sm.revision,
            test_case: req.test_case,
            status: "RUNNING".into(),
            input: req.input,
            output: None,
            error: None,
            cause: None,
            start_ms: now,
            stop_ms: None,
            redrive_count: 0,
            redrive_ms: None,
        };
        g.batch.insert(key::arn(&arn), &id.to_be_bytes());
        g.batch.insert(key::listing(&sm.name, now, id), b"");
        self.by_arn.insert(arn, id);
        self.live.insert(id, Live { ex, rec, dirty: true });
        Ok(self.step(id, cmds, now, g))
    }

    fn redrive(&mut self, arn: &str, now: i64, g: &mut Group) -> Result<ExecutionRecord, ExecError> {
        let rec = self
            .store
            .execution_by_arn(arn)?
            .ok_or_else(|| ExecError::DoesNotExist(arn.to_string()))?;
        if self.by_arn.contains_key(arn) || !matches!(rec.status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED") {
            return Err(ExecError::NotRedrivable(format!(
                "Execution is {}; only FAILED, TIMED_OUT and ABORTED executions can be redriven",
                rec.status
            )));
        }
        let Some(bytes) = self.store.snapshot(rec.id)? else {
            return Err(ExecError::NotRedrivable(
                "the execution's final state was not kept".into(),
            ));
        };
        let machine = self.machine(&rec.sm_name, rec.revision)?;
        let input = serde_json::from_str(&rec.input).map_err(StoreError::from)?;
        let mut ex = serde_json::from_slice::<Execution>(&bytes)
            .map_err(StoreError::from)?
            .restore(machine, input);
        let cmds = ex
            .redrive(now)
            .ok_or_else(|| ExecError::NotRedrivable("the execution cannot be redriven".into()))?;
        let id = rec.id;
        let mut rec = rec;
        rec.redrive_count = ex.redrive_count();
        rec.redrive_ms = Some(now);
        self.by_arn.insert(rec.arn.clone(), id);
        self.live.insert(id, Live { ex, rec, dirty: true });
        Ok(self.step(id, cmds, now, g))
    }

    /// Persists one execution's step into the group: history, commands,
    /// record and snapshot.
    fn step(&mut self, id: u64, cmds: Vec<Command>, now: i64, g: &mut Group) -> ExecutionRecord {
        self.stats.steps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(live) = self.live.get_mut(&id) else {
            return ExecutionRecord::default_for(id);
        };
        // A step's history events go under one key (the first event's id):
        // fewer, larger writes.
        let events = live.ex.drain_history();
        if let Some(first) = events.first() {
            let json: Vec<Value> = events.iter().map(|h| h.to_json()).collect();
            g.batch.insert(key::history(id, first.id), to_vec(&json));
        }
        for c in cmds {
            match c {
                Command::InvokeTask(inv) => {
                    g.batch.insert(key::task(id, inv.token), to_vec(&*inv));
                    g.effects.push(Effect::Dispatch(id, inv));
                }
                Command::CancelTask { token } => {
                    g.batch.remove(key::task(id, token));
                    g.effects.push(Effect::Abort(id, token));
                }
                Command::StartTimer { token, fire_at_ms } => {
                    g.batch.insert(key::timer(fire_at_ms, id, token), b"");
                    self.timer_at.insert((id, token), fire_at_ms);
                    g.effects.push(Effect::Timer(fire_at_ms, id, token));
                }
                Command::CancelTimer { token } => {
                    if let Some(at) = self.timer_at.remove(&(id, token)) {
                        g.batch.remove(key::timer(at, id, token));
                        self.timers.remove(&(at, id, token));
                    }
                }
            }
        }
        let rec = &mut live.rec;
        let ended = match live.ex.status() {
            Status::Running => false,
            Status::Succeeded(v) => {
                rec.status = "SUCCEEDED".into();
                rec.output = Some(v.to_string());
                true
            }
            Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e) => {
                rec.status = match live.ex.status() {
                    Status::Failed(_) => "FAILED",
                    Status::TimedOut(_) => "TIMED_OUT",
                    _ => "ABORTED",
                }
                .into();
                rec.error = (!e.error.is_empty()).then(|| e.error.clone());
                rec.cause = (!e.cause.is_empty()).then(|| e.cause.clone());
                true
            }
        };
        if ended {
            rec.stop_ms = Some(now);
        } else {
            rec.status = "RUNNING".into();
            rec.output = None;
            rec.error = None;
            rec.cause = None;
            rec.stop_ms = None;
        }
        if ended || std::mem::take(&mut live.dirty) {
            g.batch.insert(key::execution(id), to_vec(&*rec));
        }
        // A running execution is snapshotted once per group, however many
        // steps it took in it (see `run`). The snapshot stays after a
        // failure so the execution can be redriven.
        if !ended {
            g.dirty.insert(id);
        } else {
            g.dirty.remove(&id);
            if matches!(live.ex.status(), Status::Succeeded(_)) {
                g.batch.remove(key::snapshot(id));
            } else {
                g.batch.insert(key::snapshot(id), to_vec(&live.ex));
            }
        }
        let out = rec.clone();
        if ended {
            self.by_arn.remove(&out.arn);
            self.live.remove(&id);
        }
        out
    }
}

impl ExecutionRecord {
    fn default_for(id: u64) -> ExecutionRecord {
        ExecutionRecord {
            id,
            arn: String::new(),
            name: String::new(),
            sm_arn: String::new(),
            sm_name: String::new(),
            revision: 0,
            test_case: None,
            status: "UNKNOWN".into(),
            input: String::new(),
            output: None,
            error: None,
            cause: None,
            start_ms: 0,
            stop_ms: None,
            redrive_count: 0,
            redrive_ms: None,
        }
    }
}
