//! The durable executor: restarts resume executions, timers and tasks.

use aslan::asl::StateError;
use aslan::exec::durable::ExecError;
use aslan::exec::ManualClock;
use aslan::tasks::{Integration, Outcome, Pattern, Resource, Task, TaskFuture};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

mod common;
use common::*;
const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

/// Records every invocation; answers only once `release` is set.
#[derive(Default)]
struct Gate {
    seen: Mutex<Vec<(String, String)>>,
    release: Mutex<bool>,
}

impl Integration for Gate {
    fn patterns(&self, r: &Resource) -> Option<&'static [Pattern]> {
        (r.operation() == "lambda:invoke").then_some(&[Pattern::RequestResponse][..])
    }

    fn start(&self, task: Task) -> TaskFuture {
        let inv = task.invocation;
        self.seen
            .lock()
            .unwrap()
            .push((inv.state_name.to_string(), task.ctx.idempotency_key.clone()));
        if *self.release.lock().unwrap() {
            Box::pin(std::future::ready(if inv.parameters.get("fail").is_some() {
                Outcome::Failed(StateError::new("Boom", "asked to fail"))
            } else {
                Outcome::Succeeded(json!({"done": inv.parameters}))
            }))
        } else {
            Box::pin(std::future::pending())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_year_wait_survives_a_restart() {
    let dir = tempdir("year");
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(Gate::default());
    let (store, ex, report) = executor(&dir, clock.clone(), gate.clone());
    assert_eq!(report.executions, 0);
    let sm = machine(
        &store,
        "yearly",
        json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 31_536_000, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"woke.$": "$$.State.EnteredTime", "in.$": "$"}, "End": true}}}),
    )
    .await;
    let rec = ex.start_execution(start(&sm, "e1", json!({"a": 1}))).await.unwrap();
    assert_eq!(rec.status, "RUNNING");
    ex.shutdown().await;
    drop(store);

    let (store, ex, report) = executor(&dir, clock.clone(), gate);
    assert_eq!((report.executions, report.timers, report.tasks), (1, 1, 0));
    clock.advance(YEAR_MS);
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "SUCCEEDED");
    let out: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["in"], json!({"a": 1}));
    assert_eq!(out["woke"], "2026-06-15T15:06:40.000Z");
    let history = store.history(rec.id).unwrap();
    let types: Vec<&str> = history.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "WaitStateEntered",
            "WaitStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    for (i, e) in history.iter().enumerate() {
        assert_eq!(e["id"], json!(i + 1), "gapless ids");
    }
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_tasks_are_redispatched_with_the_same_idempotency_key() {
    let dir = tempdir("task");
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(Gate::default());
    let (store, ex, _) = executor(&dir, clock.clone(), gate.clone());
    let sm = machine(
        &store,
        "tasky",
        json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"x.$": "$.x"}, "End": true}}}),
    ).await;
    let rec = ex.start_execution(start(&sm, "e1", json!({"x": 7}))).await.unwrap();
    // The task is dispatched once its start is durable; let it arrive.
    until(|| !gate.seen.lock().unwrap().is_empty()).await;
    ex.shutdown().await;
    drop(store);
    let first_key = gate.seen.lock().unwrap()[0].1.clone();

    *gate.release.lock().unwrap() = true;
    let (store, ex, report) = executor(&dir, clock, gate.clone());
    assert_eq!(report.tasks, 1);
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "SUCCEEDED");
    assert_eq!(done.output.as_deref(), Some(r#"{"done":{"x":7}}"#));
    let seen = gate.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].1, first_key);
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique_stop_aborts_and_failures_redrive() {
    let dir = tempdir("names");
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(Gate::default());
    *gate.release.lock().unwrap() = true;
    let (store, ex, _) = executor(&dir, clock.clone(), gate.clone());
    let sm = machine(
        &store,
        "m",
        json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 10, "Next": "T"},
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}}),
    )
    .await;
    let a = ex.start_execution(start(&sm, "same", json!({"n": 1}))).await.unwrap();
    let again = ex.start_execution(start(&sm, "same", json!({"n": 1}))).await.unwrap();
    assert_eq!(a.arn, again.arn, "same name and input while running: same execution");
    assert!(matches!(
        ex.start_execution(start(&sm, "same", json!({"n": 2}))).await,
        Err(ExecError::AlreadyExists(_))
    ));

    let stopped = ex
        .stop_execution(&a.arn, Some("Halt".into()), Some("by test".into()))
        .await
        .unwrap();
    assert_eq!(stopped.status, "ABORTED");
    assert_eq!(stopped.error.as_deref(), Some("Halt"));
    assert!(matches!(
        ex.start_execution(start(&sm, "same", json!({"n": 1}))).await,
        Err(ExecError::AlreadyExists(_))
    ));
    assert!(matches!(
        ex.stop_execution("arn:nope", None, None).await,
        Err(ExecError::DoesNotExist(_))
    ));

    // A failure, then a redrive from the failed state.
    let b = ex
        .start_execution(start(&sm, "b", json!({"fail": true})))
        .await
        .unwrap();
    clock.advance(10_000);
    let failed = settle(&store, &b.arn).await;
    assert_eq!(
        (failed.status.as_str(), failed.error.as_deref()),
        ("FAILED", Some("Boom"))
    );
    assert!(matches!(
        ex.redrive_execution(&a.arn.replace("same", "zzz")).await,
        Err(ExecError::DoesNotExist(_))
    ));
    let redriven = ex.redrive_execution(&b.arn).await.unwrap();
    assert_eq!(redriven.redrive_count, 1);
    let again = settle(&store, &b.arn).await;
    assert_eq!(
        again.status, "FAILED",
        "the task fails again: the redrive ran the Task state, not the Wait"
    );
    let types: Vec<String> = store
        .history(b.id)
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types.iter().filter(|t| *t == "WaitStateEntered").count(), 1);
    assert_eq!(types.iter().filter(|t| *t == "TaskStateEntered").count(), 2);
    assert!(types.contains(&"ExecutionRedriven".to_string()));
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_snapshot_fails_only_its_execution() {
    let dir = tempdir("corrupt");
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(Gate::default());
    let (store, ex, _) = executor(&dir, clock.clone(), gate.clone());
    let sm = machine(
        &store,
        "w",
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": true}}}),
    )
    .await;
    let good = ex.start_execution(start(&sm, "good", json!(1))).await.unwrap();
    let bad = ex.start_execution(start(&sm, "bad", json!(2))).await.unwrap();
    ex.shutdown().await;
    let mut b = sled::Batch::default();
    b.insert(aslan::store::key::snapshot(bad.id), &b"{not a snapshot"[..]);
    store.apply(b).unwrap();
    drop(store);

    let (store, ex, report) = executor(&dir, clock.clone(), gate);
    assert_eq!((report.executions, report.failed, report.timers), (1, 1, 1));
    let failed = store.execution_by_arn(&bad.arn).unwrap().unwrap();
    assert_eq!(
        (failed.status.as_str(), failed.error.as_deref()),
        ("FAILED", Some("States.Runtime"))
    );
    clock.advance(5_000);
    assert_eq!(settle(&store, &good.arn).await.status, "SUCCEEDED");
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_executions_share_group_commits() {
    use std::sync::atomic::Ordering;
    let dir = tempdir("group");
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(Gate::default());
    *gate.release.lock().unwrap() = true;
    let (store, ex, _) = executor(&dir, clock, gate);
    let sm = machine(
        &store,
        "g",
        json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "U"},
        "U": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}}),
    )
    .await;
    let starts: Vec<_> = (0..200)
        .map(|i| {
            let ex = ex.clone();
            let req = start(&sm, &format!("g{i}"), json!(i));
            tokio::spawn(async move { ex.start_execution(req).await.unwrap().arn })
        })
        .collect();
    for s in starts {
        let arn = s.await.unwrap();
        assert_eq!(settle(&store, &arn).await.status, "SUCCEEDED");
    }
    let steps = ex.stats().steps.load(Ordering::Relaxed);
    let commits = ex.stats().commits.load(Ordering::Relaxed);
    assert_eq!(steps, 600, "a start and two task results per execution");
    eprintln!("group commit: {commits} commits for {steps} steps");
    assert!(
        commits * 4 < steps,
        "{commits} commits for {steps} steps: steps should share commits"
    );
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_leaves_the_executor_free_and_stops_when_asked() {
    let dir = tempdir("endless");
    let clock = Arc::new(ManualClock::new(T0));
    let (store, ex, _) = executor(&dir, clock.clone(), Arc::new(Gate::default()));
    let endless = machine(
        &store,
        "endless",
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Choice", "Choices": [{"Variable": "$.never", "IsPresent": true, "Next": "Done"}], "Default": "B"},
            "B": {"Type": "Pass", "Next": "A"},
            "Done": {"Type": "Succeed"}}}),
    )
    .await;
    let quick = machine(
        &store,
        "quick",
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let looping = ex.start_execution(start(&endless, "l", json!({}))).await.unwrap();
    // The loop runs in steps: other executions start and end meanwhile.
    let other = ex.start_execution(start(&quick, "q", json!({"x": 1}))).await.unwrap();
    assert_eq!(settle(&store, &other.arn).await.status, "SUCCEEDED");
    until(|| store.history(looping.id).unwrap().len() > 30_000).await;
    let stopped = ex.stop_execution(&looping.arn, None, None).await.unwrap();
    assert_eq!(stopped.status, "ABORTED");
    ex.shutdown().await;
}
