//! The task seam in the durable executor: durable poll steps across
//! restarts, parked tasks, signals, cancellation, and names that stay unique
//! inside one group commit.

use aslan::asl::StateError;
use aslan::exec::durable::{Executor, ExecutorConfig, TaskAnswer};
use aslan::exec::ManualClock;
use aslan::store::Store;
use aslan::tasks::{CancelFuture, Integration, Outcome, Pattern, Registry, Resource, Task, TaskFuture};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::*;

/// A fake long-running job: `start` creates it (counted), every poll
/// advances it by one step, and it is done after `steps` polls. `cancel`
/// records which job it deleted. Heartbeats and "started" are signalled by
/// the `job:signal` resource.
#[derive(Default)]
struct Jobs {
    starts: AtomicUsize,
    polls: Mutex<Vec<Value>>,
    cancelled: Mutex<Vec<(String, Option<Value>)>>,
    /// How many `job:signal` tasks were dispatched; only the first one
    /// heartbeats, once `beat` is notified.
    signals: AtomicUsize,
    beat: Arc<tokio::sync::Notify>,
}

impl Integration for Jobs {
    fn patterns(&self, r: &Resource) -> Option<&'static [Pattern]> {
        (r.service() == "job").then_some(&[Pattern::RequestResponse, Pattern::Sync][..])
    }

    fn start(&self, task: Task) -> TaskFuture {
        self.starts.fetch_add(1, Ordering::SeqCst);
        let steps = task.invocation.parameters["steps"].as_u64().unwrap_or(1);
        let name = task.ctx.idempotency_key.clone();
        if task.resource.action() == "signal" {
            let first = self.signals.fetch_add(1, Ordering::SeqCst) == 0;
            let beat = self.beat.clone();
            return Box::pin(async move {
                task.ctx.started();
                if first {
                    beat.notified().await;
                    task.ctx.heartbeat();
                }
                task.ctx.cancelled().await;
                Outcome::Failed(StateError::new("Never", "cancelled tasks never end"))
            });
        }
        Box::pin(std::future::ready(Outcome::Poll {
            after_ms: 60_000,
            state: json!({"job": name, "left": steps}),
        }))
    }

    fn poll(&self, _task: Task, state: Value) -> TaskFuture {
        self.polls.lock().unwrap().push(state.clone());
        let left = state["left"].as_u64().unwrap_or(0).saturating_sub(1);
        Box::pin(std::future::ready(if left == 0 {
            Outcome::Succeeded(json!({"job": state["job"], "status": "Complete"}))
        } else {
            Outcome::Poll {
                after_ms: 60_000,
                state: json!({"job": state["job"], "left": left}),
            }
        }))
    }

    fn cancel(&self, task: Task, state: Option<Value>) -> CancelFuture {
        self.cancelled.lock().unwrap().push((task.ctx.idempotency_key, state));
        Box::pin(std::future::ready(()))
    }
}

fn open(
    dir: &std::path::Path,
    clock: Arc<ManualClock>,
    jobs: Arc<Jobs>,
) -> (Store, Executor, aslan::exec::durable::RecoveryReport) {
    executor(dir, clock, jobs)
}

/// Whether a stored task record contains `text` (its phase, its poll state).
fn a_task_record_holds(store: &Store, text: &str) -> bool {
    store
        .tasks()
        .unwrap()
        .iter()
        .any(|(_, _, b)| String::from_utf8_lossy(b).contains(text))
}

fn history_types(store: &Store, id: u64) -> Vec<String> {
    store
        .history(id)
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_resumes_from_its_stored_state_after_a_restart_without_starting_again() {
    let dir = tempdir("poll");
    let clock = Arc::new(ManualClock::new(T0));
    let jobs = Arc::new(Jobs::default());
    let (store, ex, _) = open(&dir, clock.clone(), jobs.clone());
    let sm = machine(
        &store,
        "jobs",
        json!({"StartAt": "J", "States": {"J": {"Type": "Task", "Resource": "arn:aws:states:::job:run.sync", "End": true}}}),
    )
    .await;
    let rec = ex.start_execution(start(&sm, "e1", json!({"steps": 3}))).await.unwrap();
    until(|| jobs.starts.load(Ordering::SeqCst) == 1).await;
    // The first poll is 60 s away; let it run once, then restart.
    until(|| a_task_record_holds(&store, "Polling")).await;
    clock.advance(60_000);
    until(|| jobs.polls.lock().unwrap().len() == 1).await;
    until(|| a_task_record_holds(&store, "\"left\":2")).await;
    ex.shutdown().await;
    drop(store);

    let (store, ex, report) = open(&dir, clock.clone(), jobs.clone());
    assert_eq!((report.tasks, report.polls), (0, 1), "{report:?}");
    clock.advance(60_000);
    until(|| jobs.polls.lock().unwrap().len() == 2).await;
    // The next poll is due 60 s after the executor handles this poll's
    // outcome: advance only once that outcome (its new state) is stored.
    until(|| a_task_record_holds(&store, "\"left\":1")).await;
    clock.advance(60_000);
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "SUCCEEDED");
    assert_eq!(jobs.starts.load(Ordering::SeqCst), 1, "the job was created once");
    let polls = jobs.polls.lock().unwrap().clone();
    assert_eq!(
        polls.iter().map(|p| p["left"].as_u64().unwrap()).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    let job = polls[0]["job"].as_str().unwrap().to_string();
    assert!(job.starts_with("aslan-jobs-") && job.len() <= 63, "{job}");
    assert_eq!(
        done.output.as_deref(),
        Some(&*json!({"job": job, "status": "Complete"}).to_string())
    );
    let types = history_types(&store, rec.id);
    assert_eq!(
        types[1..types.len() - 1],
        [
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited"
        ],
        "TaskStarted once, when the job started"
    );
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_runs_the_integrations_cancel_and_history_records_it() {
    let dir = tempdir("cancel");
    let clock = Arc::new(ManualClock::new(T0));
    let jobs = Arc::new(Jobs::default());
    let (store, ex, _) = open(&dir, clock.clone(), jobs.clone());
    let sm = machine(
        &store,
        "c",
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "J", "States": {"J": {"Type": "Task", "Resource": "arn:aws:states:::job:run.sync", "End": true}}},
            {"StartAt": "F", "States": {"F": {"Type": "Wait", "Seconds": 120, "Next": "X"}, "X": {"Type": "Fail", "Error": "Sibling"}}}]}}}),
    )
    .await;
    // A failing sibling branch cancels the job.
    let a = ex
        .start_execution(start(&sm, "sibling", json!({"steps": 9})))
        .await
        .unwrap();
    until(|| a_task_record_holds(&store, "Polling")).await;
    clock.advance(120_000);
    let done = settle(&store, &a.arn).await;
    assert_eq!(done.error.as_deref(), Some("Sibling"));
    until(|| jobs.cancelled.lock().unwrap().len() == 1).await;
    let (key, state) = jobs.cancelled.lock().unwrap()[0].clone();
    assert!(key.starts_with("aslan-c-"));
    assert_eq!(state.unwrap()["job"], json!(key), "cancel gets the last poll state");
    assert!(history_types(&store, a.id).contains(&"TaskStateAborted".to_string()));

    // StopExecution cancels it too.
    let b = ex
        .start_execution(start(&sm, "stopped", json!({"steps": 9})))
        .await
        .unwrap();
    until(|| jobs.starts.load(Ordering::SeqCst) == 2).await;
    ex.stop_execution(&b.arn, Some("Halt".into()), None).await.unwrap();
    until(|| jobs.cancelled.lock().unwrap().len() == 2).await;
    let types = history_types(&store, b.id);
    assert_eq!(types[types.len() - 2..], ["TaskStateAborted", "ExecutionAborted"]);
    // Nothing is left in flight: no task records, no pending cancels.
    until(|| store.tasks().unwrap().is_empty() && store.cancels().unwrap().is_empty()).await;
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_and_heartbeat_signals_are_recorded_and_keep_the_task() {
    let dir = tempdir("signal");
    let clock = Arc::new(ManualClock::new(T0));
    let jobs = Arc::new(Jobs::default());
    let (store, ex, _) = open(&dir, clock.clone(), jobs.clone());
    let sm = machine(
        &store,
        "s",
        json!({"StartAt": "J", "States": {"J": {"Type": "Task", "Resource": "arn:aws:states:::job:signal", "HeartbeatSeconds": 5, "End": true}}}),
    )
    .await;
    let rec = ex.start_execution(start(&sm, "e", json!({}))).await.unwrap();
    until(|| history_types(&store, rec.id).contains(&"TaskStarted".to_string())).await;
    let timer_at = |at: i64| store.timers().unwrap().iter().any(|t| t.0 == at);
    until(|| timer_at(T0 + 5_000)).await;
    // 4 s later the task heartbeats: its timer moves to 5 s from then.
    clock.advance(4_000);
    jobs.beat.notify_one();
    until(|| timer_at(T0 + 9_000) && !timer_at(T0 + 5_000)).await;
    // Past the first deadline, the task is still running.
    clock.advance(4_000);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.execution_by_arn(&rec.arn).unwrap().unwrap().status, "RUNNING");
    assert_eq!(store.tasks().unwrap().len(), 1, "a heartbeat keeps the task's record");
    ex.shutdown().await;
    drop(store);
    // After a restart the task is dispatched again (it sends no heartbeat
    // this time), its stored timer fires, and its start is not recorded
    // twice.
    let (store, ex, report) = open(&dir, clock.clone(), jobs.clone());
    assert_eq!(report.tasks, 1);
    clock.advance(60_000);
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.error.as_deref(), Some("States.HeartbeatTimeout"));
    let started = history_types(&store, rec.id)
        .iter()
        .filter(|t| *t == "TaskStarted")
        .count();
    assert_eq!(started, 1);
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_task_is_not_dispatched_again_and_its_token_completes_it_after_a_restart() {
    let dir = tempdir("park");
    let clock = Arc::new(ManualClock::new(T0));
    let jobs = Arc::new(Jobs::default());
    let (store, ex, _) = open(&dir, clock.clone(), jobs.clone());
    let sm = machine(
        &store,
        "p",
        json!({"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"t.$": "$$.Task.Token"}, "End": true}}}),
    )
    .await;
    let rec = ex.start_execution(start(&sm, "e", json!({}))).await.unwrap();
    until(|| a_task_record_holds(&store, "Parked")).await;
    let history = store.history(rec.id).unwrap();
    let params = history.iter().find(|e| e["type"] == "TaskScheduled").unwrap()["taskScheduledEventDetails"]
        ["parameters"]
        .as_str()
        .unwrap()
        .to_string();
    let token = serde_json::from_str::<Value>(&params).unwrap()["t"]
        .as_str()
        .unwrap()
        .to_string();
    ex.shutdown().await;
    drop(store);

    let (store, ex, report) = open(&dir, clock, jobs);
    assert_eq!((report.tasks, report.parked), (0, 1));
    ex.answer_task(&token, TaskAnswer::Success(r#"{"ok":1}"#.into()))
        .await
        .unwrap();
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.output.as_deref(), Some(r#"{"ok":1}"#));
    let again = ex.answer_task(&token, TaskAnswer::Heartbeat).await.unwrap_err();
    assert_eq!(again.to_string(), "Task does not exist anymore");
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_starts_with_one_name_in_one_group_make_one_execution() {
    let dir = tempdir("dup");
    let clock = Arc::new(ManualClock::new(T0));
    let (store, ex, _) = open(&dir, clock, Arc::new(Jobs::default()));
    let sm = machine(
        &store,
        "d",
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    )
    .await;
    for round in 0..20 {
        let name = format!("same-{round}");
        let (a, b) = tokio::join!(
            ex.start_execution(start(&sm, &name, json!({"a": 1}))),
            ex.start_execution(start(&sm, &name, json!({"a": 1})))
        );
        // The first ran to its end at once; the second must see it.
        let ok = [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count();
        assert_eq!(
            ok, 1,
            "round {round}: one start wins, the other is ExecutionAlreadyExists"
        );
        let arn = format!("{}:{name}", sm.arn.replace(":stateMachine:", ":execution:"));
        let (a, b) = tokio::join!(ex.stop_execution(&arn, None, None), ex.redrive_execution(&arn));
        assert_eq!(a.unwrap().status, "SUCCEEDED", "stop sees the ended execution");
        assert!(b.is_err(), "a succeeded execution is not redriven");
    }
    let listed = store.executions_of("d").count();
    assert_eq!(listed, 20);
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_task_record_fails_its_task_and_recovery_goes_on() {
    let dir = tempdir("corrupt");
    let clock = Arc::new(ManualClock::new(T0));
    let jobs = Arc::new(Jobs::default());
    let (store, ex, _) = open(&dir, clock.clone(), jobs.clone());
    let sm = machine(
        &store,
        "k",
        json!({"StartAt": "J", "States": {"J": {"Type": "Task", "Resource": "arn:aws:states:::job:run.sync",
            "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "Caught"}], "End": true},
            "Caught": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let bad = ex
        .start_execution(start(&sm, "bad", json!({"steps": 5})))
        .await
        .unwrap();
    let good = ex
        .start_execution(start(&sm, "good", json!({"steps": 1})))
        .await
        .unwrap();
    until(|| {
        store.tasks().unwrap().len() == 2
            && store
                .tasks()
                .unwrap()
                .iter()
                .all(|(_, _, b)| String::from_utf8_lossy(b).contains("Polling"))
    })
    .await;
    ex.shutdown().await;
    let (id, token, _) = store
        .tasks()
        .unwrap()
        .into_iter()
        .find(|(id, _, _)| *id == bad.id)
        .unwrap();
    let mut b = sled::Batch::default();
    b.insert(aslan::store::key::task(id, token), b"{not json".to_vec());
    store.apply(b).unwrap();
    drop(store);

    let (store, ex, report) = open(&dir, clock.clone(), jobs.clone());
    assert_eq!(
        (report.executions, report.failed, report.polls),
        (2, 1, 1),
        "{report:?}"
    );
    let done = settle(&store, &bad.arn).await;
    assert_eq!(done.status, "SUCCEEDED", "Catch handled the unreadable task");
    let out: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["err"]["Error"], "States.TaskFailed");
    clock.advance(60_000);
    assert_eq!(settle(&store, &good.arn).await.status, "SUCCEEDED");
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_task_context_use_the_servers_region() {
    let dir = tempdir("region");
    let store = Store::open(&dir).unwrap();
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    let mut r = Registry::new();
    r.register(Arc::new(aslan::tasks::FnIntegration::new(
        "arn:aws:states:::x:",
        move |t: Task| {
            *s2.lock().unwrap() = Some((t.ctx.region.clone(), t.ctx.account.clone()));
            async { Ok(json!(1)) }
        },
    )));
    let cfg = ExecutorConfig {
        clock: Arc::new(ManualClock::new(T0)),
        tasks: Arc::new(r),
        region: "eu-west-1".into(),
        account: "111122223333".into(),
        fsync: false,
    };
    let (ex, _) = Executor::start(store.clone(), cfg).unwrap();
    let sm = machine(
        &store,
        "r",
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x:y", "End": true}}}),
    )
    .await;
    let rec = ex.start_execution(start(&sm, "e", json!({}))).await.unwrap();
    assert!(rec
        .arn
        .starts_with("arn:aws:states:eu-west-1:111122223333:execution:r:"));
    settle(&store, &rec.arn).await;
    let h = store.history(rec.id).unwrap();
    let sched = h.iter().find(|e| e["type"] == "TaskScheduled").unwrap();
    assert_eq!(sched["taskScheduledEventDetails"]["region"], "eu-west-1");
    assert_eq!(*seen.lock().unwrap(), Some(("eu-west-1".into(), "111122223333".into())));
    ex.shutdown().await;
}
