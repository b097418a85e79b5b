//! Runs one execution in process until it ends.

use super::clock::Clock;
use crate::asl::history::HistoryEvent;
use crate::asl::{Command, Event, Execution, ExecutionInfo, Machine, Options, Status};
use crate::tasks::{run_task, TaskContext, TaskHandler};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
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
}

/// Runs an execution to its end, dispatching tasks to `tasks` and sleeping
/// on `clock` for timers.
pub async fn run(
    machine: Arc<Machine>,
    info: ExecutionInfo,
    input: Value,
    opts: Options,
    clock: &dyn Clock,
    tasks: Arc<dyn TaskHandler>,
) -> RunResult {
    let ctx = TaskContext {
        state_machine_name: info.state_machine_name.clone(),
        execution_name: info.name.clone(),
        test_case: None,
        idempotency_key: info.execution_arn.clone(),
    };
    let (mut ex, mut cmds) = Execution::start(machine, info, input, opts, clock.now_ms());
    let mut timers: BTreeSet<(i64, u64)> = BTreeSet::new();
    let mut timer_at: HashMap<u64, i64> = HashMap::new();
    let mut running: JoinSet<Event> = JoinSet::new();
    let mut aborts = HashMap::new();
    loop {
        for c in cmds.drain(..) {
            match c {
                Command::InvokeTask(inv) => {
                    let token = inv.token;
                    let h = tasks.clone();
                    let mut ctx = ctx.clone();
                    ctx.idempotency_key = format!("{}#{token}", ctx.idempotency_key);
                    let handle = running.spawn(async move { run_task(h.as_ref(), *inv, ctx).await });
                    aborts.insert(token, handle);
                }
                Command::CancelTask { token } => {
                    if let Some(h) = aborts.remove(&token) {
                        h.abort();
                    }
                }
                Command::StartTimer { token, fire_at_ms } => {
                    timers.insert((fire_at_ms, token));
                    timer_at.insert(token, fire_at_ms);
                }
                Command::CancelTimer { token } => {
                    if let Some(at) = timer_at.remove(&token) {
                        timers.remove(&(at, token));
                    }
                }
            }
        }
        if *ex.status() != Status::Running {
            break;
        }
        let next_timer = timers.first().copied();
        let event = if clock.is_simulated() && !running.is_empty() {
            // Simulated time only moves when no task is in flight.
            join_next(&mut running).await
        } else {
            match next_timer {
                None if running.is_empty() => {
                    // Nothing can ever wake this execution: a bug in the core.
                    let e = crate::asl::StateError::runtime("the execution is blocked with nothing in flight");
                    return RunResult {
                        status: Status::Failed(e),
                        history: ex.history().to_vec(),
                        transitions: ex.transitions(),
                    };
                }
                None => join_next(&mut running).await,
                Some((at, token)) => {
                    tokio::select! {
                        biased;
                        ev = join_next(&mut running), if !running.is_empty() => ev,
                        _ = clock.sleep_until(at) => {
                            timers.remove(&(at, token));
                            timer_at.remove(&token);
                            Some(Event::TimerFired { token })
                        }
                    }
                }
            }
        };
        if let Some(ev) = event {
            if let Event::TaskSucceeded { token, .. } | Event::TaskFailed { token, .. } = &ev {
                aborts.remove(token);
            }
            cmds = ex.handle(ev, clock.now_ms());
        }
    }
    running.abort_all();
    RunResult {
        status: ex.status().clone(),
        history: ex.history().to_vec(),
        transitions: ex.transitions(),
    }
}

async fn join_next(set: &mut JoinSet<Event>) -> Option<Event> {
    // `None` for a cancelled task: nothing to report.
    set.join_next().await.and_then(Result::ok)
}
