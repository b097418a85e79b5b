//! The durable executor: every execution's events, snapshot, timers and
//! in-flight tasks live in the sled [`Store`].
//!
//! One actor task owns every running [`Execution`]. It takes messages
//! (start, stop, redrive, task outcomes, callbacks, workers' requests) and
//! due timers in *groups*: each group's steps are written in one atomic sled
//! batch and made durable with one flush (`fdatasync`, see
//! [`Store::flush`]) before any effect of them becomes visible: no task is
//! dispatched, no timer armed, no client or worker answered until then. A
//! crash therefore loses nothing a client was told.
//!
//! Tasks go through the [`Registry`]; each one's [`TaskRecord`] says where
//! it stands (dispatched, polling with a stored state, parked on a task
//! token, queued for or handed to an Activity worker). On start, the actor
//! restores every running execution from its snapshot, re-arms its timers
//! (late ones fire at once), re-dispatches tasks that were dispatched
//! (at-least-once, with a stable [`TaskContext::idempotency_key`](crate::tasks::TaskContext::idempotency_key)), resumes
//! polls from their stored state, re-queues Activity tasks, leaves parked
//! tasks parked, and finishes integrations' cancels that had not finished.
//!
//! The code is split: this file holds the public API and the actor's loop;
//! `steps.rs` starts, stops, redrives and persists execution steps;
//! `tasks.rs` carries tasks through their integrations; `callbacks.rs`
//! serves SendTask* and Activity workers; `recover.rs` is startup recovery.

mod callbacks;
mod journal;
mod maprun;
mod recover;
mod steps;
mod tasks;

use super::clock::Clock;
use crate::asl::{Event, Execution, Machine};
use crate::store::{ExecutionRecord, StateMachineRecord, Store, StoreError, TaskRecord};
use crate::tasks::{CancellationToken, Outcome, Registry, Signal};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::AbortHandle;

pub use callbacks::{ActivityTask, CallbackError, TaskAnswer};
pub use steps::fresh_seed;

/// Messages the actor's mailbox holds at most; senders wait beyond it.
pub const MAILBOX: usize = 4096;

/// Committed steps a subscriber may fall behind by (see
/// [`Executor::subscribe`]); beyond it, it misses the oldest ones and is
/// told how many.
pub const EVENT_BUFFER: usize = 4096;

/// The history events of one execution's step, published once they are
/// durable (after the group commit that wrote them).
#[derive(Debug, Clone)]
pub struct CommittedEvents {
    /// The execution's ARN.
    pub execution_arn: Arc<str>,
    /// The events, in order; ids continue where the last step's ended.
    pub events: Arc<[crate::asl::history::HistoryEvent]>,
}

/// State machine definitions kept compiled; beyond it the cache starts over
/// (running executions keep their own reference).
const MACHINE_CACHE: usize = 1024;

/// How the executor is set up.
pub struct ExecutorConfig {
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Task integrations.
    pub tasks: Arc<Registry>,
    /// Region in ARNs.
    pub region: String,
    /// Account in ARNs.
    pub account: String,
    /// Make every group commit durable (`fdatasync`) before its effects;
    /// when false, sled flushes in the background every 200 ms and a crash
    /// may lose the last fraction of a second (effects may then repeat after
    /// recovery).
    pub fsync: bool,
}

/// What recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Running executions resumed.
    pub executions: usize,
    /// Timers re-armed.
    pub timers: usize,
    /// Tasks re-dispatched (started again).
    pub tasks: usize,
    /// Polls resumed from their stored state.
    pub polls: usize,
    /// Tasks left parked on a task token or an Activity worker.
    pub parked: usize,
    /// Executions (or tasks) that could not be restored and were failed.
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
type AnswerReply = oneshot::Sender<Result<(), CallbackError>>;
/// A worker in GetActivityTask: its name and where its task goes.
type Waiter = (Option<String>, oneshot::Sender<ActivityTask>);

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
    /// A start or poll future ended.
    Outcome {
        id: u64,
        token: u64,
        epoch: u64,
        outcome: Outcome,
    },
    /// An integration said the work started, or sent a heartbeat.
    Signal {
        id: u64,
        token: u64,
        signal: Signal,
    },
    /// An integration's cancel finished.
    CancelDone {
        id: u64,
        token: u64,
    },
    /// SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat.
    Answer {
        task_token: String,
        answer: TaskAnswer,
        reply: oneshot::Sender<Result<(), CallbackError>>,
    },
    /// UpdateMapRun.
    UpdateMapRun {
        arn: String,
        max_concurrency: Option<u64>,
        count: Option<u64>,
        percentage: Option<f64>,
        reply: oneshot::Sender<bool>,
    },
    /// GetActivityTask.
    Fetch {
        activity_arn: String,
        worker: Option<String>,
        reply: oneshot::Sender<ActivityTask>,
    },
    /// A code workflow's journal entry (see `journal.rs`).
    Journal {
        at: crate::tasks::workflow::JournalAt,
        entry: Vec<u8>,
        note: serde_json::Value,
        callback: Option<String>,
        reply: journal::JournalReply,
    },
    Shutdown(oneshot::Sender<()>),
}

/// A handle to the executor actor.
#[derive(Clone)]
pub struct Executor {
    tx: mpsc::Sender<Msg>,
    stats: Arc<Stats>,
    /// Only the actor holds the sender: when it stops, subscribers see the
    /// stream close.
    events: broadcast::WeakSender<CommittedEvents>,
}

/// Counters of the executor's work since it started.
#[derive(Debug, Default)]
pub struct Stats {
    /// Execution steps persisted.
    pub steps: std::sync::atomic::AtomicU64,
    /// Group commits (each one batch and, with fsync, one `fdatasync`).
    pub commits: std::sync::atomic::AtomicU64,
}

impl Executor {
    /// Recovers from `store` and starts the actor on the current tokio runtime.
    pub fn start(store: Store, cfg: ExecutorConfig) -> Result<(Executor, RecoveryReport), ExecError> {
        let (tx, rx) = mpsc::channel(MAILBOX);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        // Code workflows journal through this executor (before recovery
        // dispatches their tasks again).
        let bound = cfg.tasks.bind_durable(Arc::new(journal::ExecDurable {
            tx: tx.downgrade(),
            store: store.clone(),
            clock: cfg.clock.clone(),
        }));
        if !bound {
            tracing::warn!("the task registry is bound to another executor: its code workflows journal there");
        }
        let mut actor = Actor {
            events: events.clone(),
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
            polls: BTreeSet::new(),
            tasks: HashMap::new(),
            queues: HashMap::new(),
            stale: HashMap::new(),
            waiters: HashMap::new(),
            requeue: VecDeque::new(),
            runs: HashMap::new(),
            map_backlog: Vec::new(),
            stats: Arc::new(Stats::default()),
        };
        let report = actor.recover()?;
        let stats = actor.stats.clone();
        let events = events.downgrade();
        tokio::spawn(actor.run());
        Ok((Executor { tx, stats, events }, report))
    }

    async fn ask(&self, f: impl FnOnce(Reply) -> Msg) -> Result<ExecutionRecord, ExecError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(f(reply)).await.map_err(|_| ExecError::Shutdown)?;
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

    /// SendTaskSuccess, SendTaskFailure or SendTaskHeartbeat: answers once
    /// the outcome is durable.
    pub async fn answer_task(&self, task_token: &str, answer: TaskAnswer) -> Result<(), CallbackError> {
        let (reply, rx) = oneshot::channel();
        let msg = Msg::Answer {
            task_token: task_token.to_string(),
            answer,
            reply,
        };
        self.tx.send(msg).await.map_err(|_| CallbackError::Shutdown)?;
        rx.await.map_err(|_| CallbackError::Shutdown)?
    }

    /// GetActivityTask: waits up to `wait` for a task of the Activity (or
    /// until `stop` fires, when the server shuts down), and returns `None`
    /// when none came. A task handed out is durably recorded as started
    /// (`ActivityStarted`) before it is returned.
    pub async fn get_activity_task(
        &self,
        activity_arn: &str,
        worker: Option<String>,
        wait: std::time::Duration,
        stop: &CancellationToken,
    ) -> Result<Option<ActivityTask>, ExecError> {
        let (reply, mut rx) = oneshot::channel();
        let msg = Msg::Fetch {
            activity_arn: activity_arn.to_string(),
            worker,
            reply,
        };
        self.tx.send(msg).await.map_err(|_| ExecError::Shutdown)?;
        let got = tokio::select! {
            r = &mut rx => Some(r),
            _ = tokio::time::sleep(wait) => None,
            _ = stop.cancelled() => None,
        };
        match got {
            Some(Ok(t)) => Ok(Some(t)),
            Some(Err(_)) => Err(ExecError::Shutdown),
            None => {
                // Closing first makes the executor's later send fail, so it
                // re-queues the task; a task sent just before is kept.
                rx.close();
                Ok(rx.try_recv().ok())
            }
        }
    }

    /// Every execution's history events from now on, one
    /// [`CommittedEvents`] per step, each sent once its group commit is
    /// durable, in commit order (so each execution's events arrive in id
    /// order, exactly once). A receiver that falls [`EVENT_BUFFER`] steps
    /// behind gets `RecvError::Lagged` with the number it missed; the
    /// store's history has them. Nothing is kept for steps no one
    /// subscribes to.
    ///
    /// When the executor has stopped (shutdown, or a failed commit), the
    /// stream is closed (`RecvError::Closed`).
    pub fn subscribe(&self) -> broadcast::Receiver<CommittedEvents> {
        match self.events.upgrade() {
            Some(tx) => tx.subscribe(),
            // Stopped: a receiver whose sender is gone reports Closed.
            None => broadcast::channel(1).1,
        }
    }

    /// UpdateMapRun: a running Map Run's `MaxConcurrency` and tolerated
    /// failures, applied from its next start of children on. Returns false
    /// when no such Map Run is running.
    pub async fn update_map_run(
        &self,
        arn: &str,
        max_concurrency: Option<u64>,
        tolerated_count: Option<u64>,
        tolerated_percentage: Option<f64>,
    ) -> Result<bool, ExecError> {
        let (reply, rx) = oneshot::channel();
        let msg = Msg::UpdateMapRun {
            arn: arn.to_string(),
            max_concurrency,
            count: tolerated_count,
            percentage: tolerated_percentage,
            reply,
        };
        self.tx.send(msg).await.map_err(|_| ExecError::Shutdown)?;
        rx.await.map_err(|_| ExecError::Shutdown)
    }

    /// Counters of work done so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Finishes the current group commit and stops dispatching.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).await.is_ok() {
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
    /// Task tokens of this execution's timed-out tasks, kept in the index
    /// (SendTask* answers TaskTimedOut) until the execution ends.
    timed_out_tokens: Vec<String>,
}

/// A task the actor carries: its durable record and what runs for it.
struct Inflight {
    rec: TaskRecord,
    cancel: CancellationToken,
    /// The start or poll future running now, if any.
    running: Option<AbortHandle>,
    /// Bumped for every future spawned, so a late outcome of an old one is
    /// ignored.
    epoch: u64,
    /// Woken (a code workflow's callback was answered) while it ran: its
    /// next poll is due at once.
    woken: bool,
}

impl Inflight {
    fn new(rec: TaskRecord) -> Inflight {
        Inflight {
            rec,
            cancel: CancellationToken::new(),
            running: None,
            epoch: 0,
            woken: false,
        }
    }
}

enum Effect {
    /// Run the task's start (epoch).
    Start(u64, u64),
    /// Arm the task's next poll.
    Poll(i64, u64, u64),
    /// Run an integration's cancel for this record.
    Cancel(u64, u64, Box<TaskRecord>),
    Timer(i64, u64, u64),
}

#[derive(Default)]
struct Group {
    batch: sled::Batch,
    effects: Vec<Effect>,
    replies: Vec<(Reply, Result<ExecutionRecord, ExecError>)>,
    answers: Vec<(AnswerReply, Result<(), CallbackError>)>,
    /// Activity tasks handed to workers, sent after the commit.
    handed: Vec<(oneshot::Sender<ActivityTask>, ActivityTask, (u64, u64))>,
    /// Running executions stepped in this group: snapshotted once, at commit.
    dirty: BTreeSet<u64>,
    /// Executions that ended in this group (not in the store until the
    /// commit): StartExecution, StopExecution and RedriveExecution must see
    /// them. The snapshot bytes are kept for a redrive.
    ended: HashMap<String, (ExecutionRecord, Option<Vec<u8>>)>,
    /// Events for executions, produced while handling commands (an Activity
    /// that does not exist): fed after the current message.
    deferred: Vec<(u64, Event)>,
    /// Steps' history events (execution ARN, events), sent to subscribers
    /// after the commit when there are any.
    published: Vec<(String, Vec<crate::asl::history::HistoryEvent>)>,
    /// Map Run children that ended, for the drain.
    child_ends: Vec<maprun::ChildDone>,
    /// Map Runs that may start children.
    map_starts: Vec<String>,
    /// Map Runs whose record changed.
    dirty_runs: BTreeSet<String>,
    /// UpdateMapRun answers, sent after the commit.
    updated: Vec<(oneshot::Sender<bool>, bool)>,
    /// Map Run children started in this group.
    started: usize,
    /// Journal appends, answered after the commit.
    journaled: Vec<(journal::JournalReply, Result<(), String>)>,
    /// Journal entries written in this group (execution ARN, token, seq).
    journal_keys: std::collections::HashSet<(String, u64, u32)>,
    /// Callback tokens registered in this group (execution ARN, task
    /// token, callback token).
    journal_callbacks: Vec<(String, u64, String)>,
    /// Callback tokens answered in this group (each answers once).
    answered: std::collections::HashSet<String>,
}

struct Actor {
    events: broadcast::Sender<CommittedEvents>,
    store: Store,
    cfg: ExecutorConfig,
    rx: mpsc::Receiver<Msg>,
    tx: mpsc::Sender<Msg>,
    next_id: u64,
    machines: HashMap<(String, u64), Arc<Machine>>,
    live: HashMap<u64, Live>,
    by_arn: HashMap<String, u64>,
    timers: BTreeSet<(i64, u64, u64)>,
    timer_at: HashMap<(u64, u64), i64>,
    /// Polls due: (at, id, token).
    polls: BTreeSet<(i64, u64, u64)>,
    tasks: HashMap<(u64, u64), Inflight>,
    /// Activity ARN → tasks waiting for a worker, oldest first.
    queues: HashMap<String, VecDeque<(u64, u64)>>,
    /// Activity ARN → cancelled tasks still in its queue.
    stale: HashMap<String, usize>,
    /// Activity ARN → workers waiting in GetActivityTask.
    waiters: HashMap<String, VecDeque<Waiter>>,
    /// Activity tasks whose worker left before the answer: back to the queue.
    requeue: VecDeque<(u64, u64)>,
    /// Running Map Runs by ARN.
    runs: HashMap<String, maprun::RunLive>,
    /// Map Runs with children left to start once this group is committed.
    map_backlog: Vec<String>,
    stats: Arc<Stats>,
}

/// Serializes a record; records are plain data, so this cannot fail.
fn to_vec<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
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
        if self.machines.len() >= MACHINE_CACHE {
            self.machines.clear();
        }
        self.machines.insert((sm_name.to_string(), revision), m.clone());
        Ok(m)
    }

    fn next_wake(&self) -> Option<i64> {
        if !self.map_backlog.is_empty() {
            return Some(i64::MIN);
        }
        let t = self.timers.first().map(|t| t.0);
        let p = self.polls.first().map(|p| p.0);
        match (t, p) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn run(mut self) {
        loop {
            let first = match self.next_wake() {
                Some(at) => {
                    let clock = self.cfg.clock.clone();
                    tokio::select! {
                        biased;
                        m = self.rx.recv() => m.map(Some),
                        _ = clock.sleep_until(at) => Some(None),
                    }
                }
                None => self.rx.recv().await.map(Some),
            };
            let Some(first) = first else { return };
            let mut msgs: Vec<Msg> = first.into_iter().collect();
            while msgs.len() < 1024 {
                match self.rx.try_recv() {
                    Ok(m) => msgs.push(m),
                    Err(_) => break,
                }
            }
            let now = self.cfg.clock.now_ms();
            let mut group = Group::default();
            while let Some((id, token)) = self.requeue.pop_front() {
                self.requeue_activity(id, token, &mut group);
            }
            // Map Runs with children left to start go on, the one that
            // used the last group's starts last.
            if self.map_backlog.len() > 1 {
                self.map_backlog.rotate_left(1);
            }
            group.map_starts.append(&mut self.map_backlog);
            self.drain_deferred(&mut group);
            // Messages first (a task result that arrived before its timeout
            // fired wins), then the timers and polls that are due.
            let mut shutdown = None;
            for m in msgs {
                match m {
                    Msg::Shutdown(done) => shutdown = Some(done),
                    m => self.process(m, &mut group),
                }
                self.drain_deferred(&mut group);
            }
            while let Some(&(at, id, token)) = self.timers.first() {
                if at > now {
                    break;
                }
                self.timers.pop_first();
                self.fire_timer(at, id, token, &mut group);
                self.drain_deferred(&mut group);
            }
            while let Some(&(at, id, token)) = self.polls.first() {
                if at > now {
                    break;
                }
                self.polls.pop_first();
                self.poll_now(id, token);
            }
            self.snapshot_dirty(&mut group);
            let committed = self.commit(std::mem::take(&mut group.batch)).await;
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
                for (reply, _) in group.answers {
                    let _ = reply.send(Err(CallbackError::Shutdown));
                }
                self.abort_all();
                return;
            }
            if let Some(done) = shutdown {
                self.publish(group.published);
                for (reply, r) in group.journaled {
                    let _ = reply.send(r);
                }
                for (reply, r) in group.replies {
                    let _ = reply.send(r);
                }
                for (reply, r) in group.answers {
                    let _ = reply.send(r);
                }
                self.abort_all();
                // Release the store (and its file lock) before saying done.
                drop(self);
                let _ = done.send(());
                return;
            }
            self.publish(group.published);
            for (reply, ok) in group.updated {
                let _ = reply.send(ok);
            }
            for (reply, r) in group.journaled {
                let _ = reply.send(r);
            }
            self.apply_effects(std::mem::take(&mut group.effects));
            for (reply, r) in group.replies {
                let _ = reply.send(r);
            }
            for (reply, r) in group.answers {
                let _ = reply.send(r);
            }
            for (reply, task, key) in group.handed {
                if reply.send(task).is_err() {
                    self.requeue.push_back(key);
                }
            }
        }
    }

    /// Snapshots every running execution stepped in the group. One that
    /// cannot be serialized fails alone (`States.Runtime`) rather than being
    /// stored as something recovery could not read.
    fn snapshot_dirty(&mut self, g: &mut Group) {
        let now = self.cfg.clock.now_ms();
        while !g.dirty.is_empty() {
            for id in std::mem::take(&mut g.dirty) {
                let Some(l) = self.live.get(&id) else { continue };
                match serde_json::to_vec(&l.ex) {
                    Ok(bytes) => g.batch.insert(crate::store::key::snapshot(id), bytes),
                    Err(e) => {
                        tracing::error!(execution = %l.rec.arn, "cannot snapshot: {e}");
                        let stop = Event::Stop {
                            error: Some(crate::asl::error::RUNTIME.into()),
                            cause: Some(format!("The execution's state could not be saved: {e}")),
                        };
                        self.feed(id, stop, now, g);
                    }
                }
            }
            // A stopped execution may end Map Run children or stop its own.
            self.drain_deferred(g);
        }
        self.write_runs(g);
    }

    /// Sends committed steps' events to the subscribers, if any (a
    /// subscriber that joined after a step was committed reads it from the
    /// store).
    fn publish(&self, steps: Vec<(String, Vec<crate::asl::history::HistoryEvent>)>) {
        if self.events.receiver_count() == 0 {
            return;
        }
        for (arn, events) in steps {
            // An error only means that no one listens any more.
            let _ = self.events.send(CommittedEvents {
                execution_arn: arn.into(),
                events: events.into(),
            });
        }
    }

    fn abort_all(&self) {
        for t in self.tasks.values() {
            if let Some(h) = &t.running {
                h.abort();
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

    fn apply_effects(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Start(id, token) => self.spawn_start(id, token),
                Effect::Poll(at, id, token) => {
                    // Only the task's current poll (a wake may have moved it).
                    let current = self.tasks.get(&(id, token)).is_some_and(
                        |t| matches!(t.rec.phase, crate::store::TaskPhase::Polling { next_ms, .. } if next_ms == at),
                    );
                    if current {
                        self.polls.insert((at, id, token));
                    }
                }
                Effect::Cancel(id, token, rec) => self.spawn_cancel(id, token, *rec),
                Effect::Timer(at, id, token) => {
                    if self.timer_at.get(&(id, token)) == Some(&at) {
                        self.timers.insert((at, id, token));
                    }
                }
            }
        }
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
                let r = self.stop(&arn, error, cause, now, g);
                g.replies.push((reply, r));
            }
            Msg::Redrive { arn, reply } => {
                let r = self.redrive(&arn, now, g);
                g.replies.push((reply, r));
            }
            Msg::Outcome {
                id,
                token,
                epoch,
                outcome,
            } => self.outcome(id, token, epoch, outcome, now, g),
            Msg::Signal { id, token, signal } => self.signal(id, token, signal, now, g),
            Msg::CancelDone { id, token } => g.batch.remove(crate::store::key::cancel(id, token)),
            Msg::Answer {
                task_token,
                answer,
                reply,
            } => {
                let r = self.answer(&task_token, answer, now, g);
                g.answers.push((reply, r));
            }
            Msg::Fetch {
                activity_arn,
                worker,
                reply,
            } => self.fetch(activity_arn, worker, reply, now, g),
            Msg::UpdateMapRun {
                arn,
                max_concurrency,
                count,
                percentage,
                reply,
            } => {
                let ok = self.update_map_run(&arn, max_concurrency, count, percentage, g);
                g.updated.push((reply, ok));
            }
            Msg::Journal {
                at,
                entry,
                note,
                callback,
                reply,
            } => {
                let r = self.journal(at, entry, note, callback, g);
                g.journaled.push((reply, r));
            }
            Msg::Shutdown(_) => unreachable!("handled by run"),
        }
    }

    /// Feeds an event to a running execution and persists the step.
    fn feed(&mut self, id: u64, event: Event, now: i64, g: &mut Group) {
        if let Some(l) = self.live.get_mut(&id) {
            let cmds = l.ex.handle(event, now);
            self.step(id, cmds, now, g);
        }
    }

    /// Feeds the events queued in the group and carries Map Runs on
    /// (children's ends and starts) until nothing is left.
    fn drain_deferred(&mut self, g: &mut Group) {
        let now = self.cfg.clock.now_ms();
        loop {
            if !g.deferred.is_empty() {
                for (id, ev) in std::mem::take(&mut g.deferred) {
                    self.feed(id, ev, now, g);
                }
            } else if !self.drain_map_runs(now, g) {
                return;
            }
        }
    }
}
