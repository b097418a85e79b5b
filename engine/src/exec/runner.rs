//! Runs one execution in process until it ends.
//!
//! Tasks go through the same [`Registry`] as in the durable executor, with
//! the same outcomes: polls sleep on the clock between calls; a parked task
//! (`.waitForTaskToken`, an Activity) can only end by its timeout here, since
//! nothing can send its token back: when nothing else can happen, the run
//! fails with `States.Runtime` saying so.
//!
//! A Distributed Map's Map Run runs here too: its children are executions
//! of the Map's `ItemProcessor`, run by this same function, concurrently
//! up to `MaxConcurrency`, without history.

use super::clock::Clock;
use crate::asl::history::HistoryEvent;
use crate::asl::maprun::{self, ChildEnd, MapRun, MapRunRequest, MapRunStatus};
use crate::asl::{Command, Event, Execution, ExecutionInfo, Machine, Options, StateError, Status};
use crate::tasks::{catch_panics, forwarding_signals, Outcome, Pattern, Registry, Resource, Signal, Task, TaskContext};
use futures_util::future::{AbortHandle, Abortable, BoxFuture};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Final status.
    pub status: Status,
    /// History (empty unless requested in [`Options`]).
    pub history: Vec<HistoryEvent>,
    /// States entered.
    pub transitions: u64,
    /// The last error a catcher took, if any (TestState reports it).
    pub caught: Option<StateError>,
}

enum Wake {
    Outcome(u64, Box<Task>, Outcome),
    Signal(u64, Signal),
    MapRun(u64, Result<Value, StateError>),
}

/// A Map Run's child: its index, how it ended, and (for a `ResultWriter`)
/// its identity and input.
type ChildResult = (u32, Status, Option<(ExecutionInfo, String)>);

/// Map Runs in flight: each ends with its token and result, or is aborted.
type MapRuns<'a> = FuturesUnordered<BoxFuture<'a, Option<(u64, Result<Value, StateError>)>>>;

/// Runs an execution to its end, dispatching tasks to `tasks` and sleeping
/// on `clock` for timers and polls. `opts.seed` should be fresh randomness
/// ([`super::durable::fresh_seed`]) unless a test wants a fixed one.
pub async fn run(
    machine: Arc<Machine>,
    info: ExecutionInfo,
    input: Value,
    opts: Options,
    clock: &dyn Clock,
    tasks: Arc<Registry>,
) -> RunResult {
    let (sm_arn, role) = (info.state_machine_arn.clone(), info.role_arn.clone());
    let exec_arn = info.execution_arn.clone();
    let parent = info.clone();
    let (mut ex, mut cmds) = Execution::start(machine.clone(), info, input, opts, clock.now_ms());
    let mut map_runs: MapRuns<'_> = FuturesUnordered::new();
    let mut map_aborts: HashMap<u64, AbortHandle> = HashMap::new();
    // Timers: (at, token, poll?) where polls carry the task's token.
    let mut timers: BTreeSet<(i64, u64, bool)> = BTreeSet::new();
    let mut timer_at: HashMap<u64, i64> = HashMap::new();
    let mut poll_state: HashMap<u64, (Task, Value)> = HashMap::new();
    let mut running: JoinSet<Wake> = JoinSet::new();
    let (sig_tx, mut sig_rx) = mpsc::unbounded_channel::<(u64, Signal)>();
    let mut aborts = HashMap::new();
    let mut parked = 0usize;
    let mut parked_tokens = BTreeSet::new();
    // Each start or poll runs in its own task, which also forwards the
    // handler's signals (started, heartbeat) tagged with the task's token.
    let spawn =
        |running: &mut JoinSet<Wake>, token: u64, mut task: Task, state: Option<Value>, tasks: Arc<Registry>| {
            let (stx, srx) = mpsc::unbounded_channel();
            task.ctx = task.ctx.with_signals(stx);
            let sig_tx = sig_tx.clone();
            running.spawn(async move {
                let t2 = task.clone();
                let fut = catch_panics(move || match state {
                    None => tasks.start(t2),
                    Some(s) => tasks.poll(t2, s),
                });
                let o = forwarding_signals(fut, srx, |s| {
                    let _ = sig_tx.send((token, s));
                    std::future::ready(())
                })
                .await;
                Wake::Outcome(token, Box::new(task), o)
            })
        };
    loop {
        for c in cmds.drain(..) {
            match c {
                Command::InvokeTask(inv) => {
                    let token = inv.token;
                    let ctx = TaskContext::new(&exec_arn, &sm_arn, &role, &inv);
                    let task = Task {
                        resource: Resource::parse(&inv.resource),
                        invocation: *inv,
                        ctx,
                    };
                    if task.resource.pattern() == Pattern::Activity {
                        parked += 1;
                        parked_tokens.insert(token);
                        continue;
                    }
                    let h = spawn(&mut running, token, task, None, tasks.clone());
                    aborts.insert(token, h);
                }
                Command::CancelTask { token, .. } => {
                    if let Some(h) = aborts.remove(&token) {
                        h.abort();
                    }
                    if let Some(at) = timer_at.remove(&token) {
                        timers.remove(&(at, token, true));
                    }
                    if let Some((task, state)) = poll_state.remove(&token) {
                        tokio::spawn(tasks.cancel(task, Some(state)));
                    }
                    if parked_tokens.remove(&token) {
                        parked -= 1;
                    }
                }
                Command::StartTimer { token, fire_at_ms } => {
                    timers.insert((fire_at_ms, token, false));
                    timer_at.insert(token, fire_at_ms);
                }
                Command::CancelTimer { token } => {
                    if let Some(at) = timer_at.remove(&token) {
                        timers.remove(&(at, token, false));
                    }
                }
                Command::StartMapRun(req) => {
                    let token = req.token;
                    let (handle, reg) = AbortHandle::new_pair();
                    let fut = map_run(machine.clone(), parent.clone(), *req, clock, tasks.clone());
                    let fut = Abortable::new(fut, reg);
                    map_runs.push(Box::pin(async move { fut.await.ok().map(|r| (token, r)) }));
                    map_aborts.insert(token, handle);
                }
                Command::AbortMapRun { token } => {
                    if let Some(h) = map_aborts.remove(&token) {
                        h.abort();
                    }
                }
            }
        }
        if *ex.status() != Status::Running {
            break;
        }
        let next_timer = timers.first().copied();
        let wake = if clock.is_simulated() && (!running.is_empty() || !map_runs.is_empty()) {
            // Simulated time only moves when no task or Map Run is in flight.
            next_wake(&mut running, &mut sig_rx, &mut map_runs).await
        } else {
            match next_timer {
                None if running.is_empty() && map_runs.is_empty() => {
                    let e = if parked > 0 {
                        StateError::runtime(
                            "The execution waits for a task token or an Activity worker, which `aslan run` cannot serve: use `aslan serve` and SendTaskSuccess/GetActivityTask",
                        )
                    } else {
                        // Nothing can ever wake this execution: a bug in the core.
                        StateError::runtime("the execution is blocked with nothing in flight")
                    };
                    return RunResult {
                        status: Status::Failed(e),
                        history: ex.drain_history(),
                        transitions: ex.transitions(),
                        caught: ex.last_caught().cloned(),
                    };
                }
                None => next_wake(&mut running, &mut sig_rx, &mut map_runs).await,
                Some((at, token, poll)) => {
                    tokio::select! {
                        biased;
                        w = next_wake(&mut running, &mut sig_rx, &mut map_runs), if !running.is_empty() || !map_runs.is_empty() => w,
                        _ = clock.sleep_until(at) => {
                            timers.remove(&(at, token, poll));
                            timer_at.remove(&token);
                            if poll {
                                if let Some((task, state)) = poll_state.remove(&token) {
                                    let h = spawn(&mut running, token, task, Some(state), tasks.clone());
                                    aborts.insert(token, h);
                                }
                                None
                            } else {
                                // A timer may be due at once (a long run
                                // resuming, a simulated clock): let the
                                // runtime's other tasks and timeouts run.
                                tokio::task::yield_now().await;
                                cmds = ex.handle(Event::TimerFired { token }, clock.now_ms());
                                continue;
                            }
                        }
                    }
                }
            }
        };
        let event = match wake {
            None => continue,
            Some(Wake::MapRun(token, result)) => {
                map_aborts.remove(&token);
                Event::MapRunEnded { token, result }
            }
            Some(Wake::Signal(token, Signal::Started)) => Event::TaskStarted { token, worker: None },
            Some(Wake::Signal(token, Signal::Heartbeat)) => Event::TaskHeartbeat { token },
            Some(Wake::Outcome(token, task, o)) => {
                aborts.remove(&token);
                match o {
                    Outcome::Succeeded(output) => Event::TaskSucceeded { token, output },
                    Outcome::Failed(error) => Event::TaskFailed { token, error },
                    Outcome::Poll { after_ms, state } => {
                        let at = clock.now_ms().saturating_add(after_ms.min(i64::MAX as u64 / 2) as i64);
                        timers.insert((at, token, true));
                        timer_at.insert(token, at);
                        poll_state.insert(token, (*task, state));
                        Event::TaskStarted { token, worker: None }
                    }
                    Outcome::Parked => {
                        parked += 1;
                        parked_tokens.insert(token);
                        Event::TaskStarted { token, worker: None }
                    }
                }
            }
        };
        cmds = ex.handle(event, clock.now_ms());
    }
    running.abort_all();
    for h in map_aborts.values() {
        h.abort();
    }
    drop(map_runs);
    let (history, transitions) = (ex.drain_history(), ex.transitions());
    let caught = ex.last_caught().cloned();
    RunResult {
        caught,
        status: ex.into_status(),
        history,
        transitions,
    }
}

/// The next task outcome, signal or Map Run end.
async fn next_wake(
    set: &mut JoinSet<Wake>,
    signals: &mut mpsc::UnboundedReceiver<(u64, Signal)>,
    map_runs: &mut MapRuns<'_>,
) -> Option<Wake> {
    if map_runs.is_empty() {
        return join_next(set, signals).await;
    }
    tokio::select! {
        biased;
        w = join_next(set, signals), if !set.is_empty() => w,
        Some(r) = map_runs.next() => r.map(|(token, r)| Wake::MapRun(token, r)),
    }
}

/// Runs a Map Run in memory: children up to `MaxConcurrency`, each an
/// execution of the Map's `ItemProcessor`; the outputs in item order (a
/// failed child's entry is its error and cause), or
/// `States.ExceedToleratedFailureThreshold`. Dropping it drops (stops) the
/// running children.
fn map_run<'a>(
    machine: Arc<Machine>,
    parent: ExecutionInfo,
    req: MapRunRequest,
    clock: &'a dyn Clock,
    tasks: Arc<Registry>,
) -> BoxFuture<'a, Result<Value, StateError>> {
    Box::pin(async move {
        if req.redrive {
            return Err(StateError::runtime("a Map Run is only redriven by a durable executor"));
        }
        if req.inputs.is_empty() {
            return Ok(Value::Array(Vec::new()));
        }
        let mut run = MapRun::new(&req);
        let mut outputs = vec![Value::Null; req.inputs.len()];
        let mut inputs: Vec<Option<Value>> = req.inputs.into_iter().map(Some).collect();
        let mut children: FuturesUnordered<BoxFuture<'a, ChildResult>> = FuturesUnordered::new();
        loop {
            for i in run.to_start() {
                let uuid = uuid::Uuid::new_v4().to_string();
                let info = maprun::child_info(&parent, &req.label, &uuid, clock.now_ms());
                let opts = Options {
                    history: false,
                    seed: Some(super::durable::fresh_seed()),
                    start_list: Some(req.processor),
                    ..Options::default()
                };
                let input = inputs[i as usize].take().unwrap_or_default();
                let detail = req.detailed.then(|| (info.clone(), input.to_string()));
                let child = run_boxed(machine.clone(), info, input, opts, clock, tasks.clone());
                children.push(Box::pin(async move { (i, child.await.status, detail) }));
            }
            let Some((i, status, detail)) = children.next().await else {
                return Err(StateError::runtime("the Map Run has no child running"));
            };
            let (end, status_name) = match &status {
                Status::Succeeded(_) => (ChildEnd::Succeeded, "SUCCEEDED"),
                Status::Failed(_) => (ChildEnd::Failed, "FAILED"),
                Status::TimedOut(_) => (ChildEnd::TimedOut, "TIMED_OUT"),
                Status::Aborted(_) | Status::Running => (ChildEnd::Aborted, "ABORTED"),
            };
            let out = match (status, detail) {
                (status, Some((info, input))) => {
                    let text;
                    let output = match &status {
                        Status::Succeeded(v) => {
                            text = v.to_string();
                            Ok(text.as_str())
                        }
                        Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e) => {
                            Err((e.error.as_str(), e.cause.as_str()))
                        }
                        Status::Running => Err(("", "")),
                    };
                    maprun::child_detail(
                        &info.execution_arn,
                        &info.name,
                        &info.state_machine_arn,
                        status_name,
                        &input,
                        info.start_time_ms,
                        clock.now_ms(),
                        output,
                    )
                }
                (Status::Succeeded(v), None) => v,
                (Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e), None) => {
                    maprun::failed_entry(&e.error, &e.cause)
                }
                (Status::Running, None) => maprun::failed_entry("", ""),
            };
            outputs[i as usize] = out;
            match run.child_ended(i, end) {
                Some(MapRunStatus::Succeeded) => return Ok(Value::Array(outputs)),
                Some(_) => return Err(run.error.unwrap_or_else(|| StateError::runtime("the Map Run failed"))),
                None => {}
            }
        }
    })
}

/// [`run`], boxed: a Map Run's children recurse into it.
fn run_boxed<'a>(
    machine: Arc<Machine>,
    info: ExecutionInfo,
    input: Value,
    opts: Options,
    clock: &'a dyn Clock,
    tasks: Arc<Registry>,
) -> BoxFuture<'a, RunResult> {
    Box::pin(run(machine, info, input, opts, clock, tasks))
}

async fn join_next(set: &mut JoinSet<Wake>, signals: &mut mpsc::UnboundedReceiver<(u64, Signal)>) -> Option<Wake> {
    tokio::select! {
        biased;
        Some((token, s)) = signals.recv() => Some(Wake::Signal(token, s)),
        // `None` for a cancelled task: nothing to report.
        r = set.join_next() => r.and_then(Result::ok),
    }
}
