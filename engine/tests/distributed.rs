//! Distributed Map: Map Runs whose children are stored executions, in the
//! durable executor (restarts included) and in process (`exec::run`).

use aslan::asl::{ExecutionInfo, Machine, Options, StateError, Status};
use aslan::exec::{ManualClock, SimulatedClock};
use aslan::tasks::{Integration, Outcome, Pattern, Resource, Task, TaskFuture};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

mod common;
use common::*;

/// Records every invocation's idempotency key; answers once `release` is
/// set: fails when the parameters say `fail`, else echoes them.
#[derive(Default)]
struct Gate {
    seen: Mutex<Vec<String>>,
    release: Mutex<bool>,
    /// Items with `"fail": true` succeed instead.
    heal: Mutex<bool>,
}

impl Integration for Gate {
    fn patterns(&self, r: &Resource) -> Option<&'static [Pattern]> {
        (r.operation() == "lambda:invoke").then_some(&[Pattern::RequestResponse][..])
    }

    fn start(&self, task: Task) -> TaskFuture {
        let inv = task.invocation;
        self.seen.lock().unwrap().push(task.ctx.idempotency_key.clone());
        if *self.release.lock().unwrap() {
            let heal = *self.heal.lock().unwrap();
            Box::pin(std::future::ready(
                if inv.parameters.get("fail") == Some(&json!(true)) && !heal {
                    Outcome::Failed(StateError::new("Boom", "asked to fail"))
                } else {
                    Outcome::Succeeded(json!({"echo": inv.parameters}))
                },
            ))
        } else {
            Box::pin(std::future::pending())
        }
    }
}

/// A Distributed Map over `$.items` whose children call the Gate.
fn task_map(extra: Value) -> Value {
    let mut map = json!({
        "Type": "Map", "ItemsPath": "$.items", "Label": "Work",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}
        },
        "End": true
    });
    for (k, v) in extra.as_object().unwrap() {
        map[k] = v.clone();
    }
    json!({"StartAt": "M", "States": {"M": map}})
}

fn items(n: usize, fail: &[usize]) -> Value {
    let v: Vec<Value> = (0..n).map(|i| json!({"n": i, "fail": fail.contains(&i)})).collect();
    json!({ "items": v })
}

fn types(history: &[Value]) -> Vec<String> {
    history
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_are_stored_executions_and_a_restart_starts_none_twice() {
    let dir = tempdir("dmap-restart");
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(Gate::default());
    let (store, ex, _) = executor(&dir, clock.clone(), gate.clone());
    let sm = machine(&store, "dm", task_map(json!({"MaxConcurrency": 7}))).await;
    let rec = ex.start_execution(start(&sm, "e1", items(40, &[]))).await.unwrap();
    // Seven children wait in their task; no more start.
    until(|| gate.seen.lock().unwrap().len() == 7).await;
    let runs = store.map_runs_of(&rec.arn).unwrap();
    assert_eq!(runs.len(), 1);
    let run_arn = runs[0].clone();
    assert!(
        run_arn.starts_with("arn:aws:states:us-east-1:123456789012:mapRun:dm/Work:"),
        "{run_arn}"
    );
    let run = store.map_run(&run_arn).unwrap().unwrap();
    assert_eq!(run.run.status.as_str(), "RUNNING");
    assert_eq!((run.run.executions.running, run.run.executions.pending), (7, 33));
    ex.shutdown().await;
    drop(store);

    *gate.release.lock().unwrap() = true;
    let (store, ex, report) = executor(&dir, clock, gate.clone());
    assert_eq!(report.executions, 8, "the parent and its 7 running children");
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let out: Vec<Value> = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out.len(), 40);
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o["echo"]["n"], json!(i), "outputs in item order");
    }
    // Every child is an execution of its own, started once.
    let children: Vec<u64> = store.executions_of(&run_arn).map(|r| r.unwrap().1).collect();
    assert_eq!(children.len(), 40);
    let mut names = HashSet::new();
    for id in &children {
        let c = store.execution(*id).unwrap().unwrap();
        assert_eq!(c.status, "SUCCEEDED");
        assert!(c
            .arn
            .starts_with("arn:aws:states:us-east-1:123456789012:execution:dm/Work:"));
        assert_eq!(c.map_run.as_ref().unwrap().0, run_arn);
        assert!(names.insert(c.name.clone()));
        let h = types(&store.history(*id).unwrap());
        assert_eq!(h.first().map(String::as_str), Some("ExecutionStarted"));
        assert_eq!(h.last().map(String::as_str), Some("ExecutionSucceeded"));
    }
    // The 7 waiting children's tasks were dispatched again with the same
    // keys; no child was started twice.
    let seen = gate.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 47);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 40);
    let run = store.map_run(&run_arn).unwrap().unwrap();
    assert_eq!(run.run.status.as_str(), "SUCCEEDED");
    assert_eq!((run.run.executions.succeeded, run.run.items.succeeded), (40, 40));
    let h = types(&store.history(rec.id).unwrap());
    assert_eq!(
        h,
        [
            "ExecutionStarted",
            "MapStateEntered",
            "MapStateStarted",
            "MapRunStarted",
            "MapRunSucceeded",
            "MapStateSucceeded",
            "MapStateExited",
            "ExecutionSucceeded"
        ]
    );
    let started = &store.history(rec.id).unwrap()[3];
    assert_eq!(started["mapRunStartedEventDetails"]["mapRunArn"], json!(run_arn));
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_beyond_the_tolerated_fail_the_map_and_catch_takes_them() {
    let dir = tempdir("dmap-fail");
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(Gate::default());
    *gate.release.lock().unwrap() = true;
    let (store, ex, _) = executor(&dir, clock, gate);
    // Two of ten fail: a count of 2 tolerates them, and their entries are
    // their errors.
    let sm = machine(&store, "tol", task_map(json!({"ToleratedFailureCount": 2}))).await;
    let rec = ex.start_execution(start(&sm, "ok", items(10, &[3, 7]))).await.unwrap();
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let out: Vec<Value> = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out[3], json!({"Error": "Boom", "Cause": "asked to fail"}));
    assert_eq!(out[4]["echo"]["n"], json!(4));
    let run = store
        .map_run(&store.map_runs_of(&rec.arn).unwrap()[0])
        .unwrap()
        .unwrap();
    assert_eq!((run.run.executions.succeeded, run.run.executions.failed), (8, 2));

    // 10% tolerated, two failed: the Map fails, and a catcher takes it.
    let def = json!({"StartAt": "M", "States": {
        "M": task_map(json!({"ToleratedFailurePercentage": 10, "MaxConcurrency": 1,
            "Catch": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "ResultPath": "$.err", "Next": "Caught"}]}))["States"]["M"].clone(),
        "Caught": {"Type": "Pass", "End": true}
    }});
    let sm = machine(&store, "tol2", def).await;
    let rec = ex.start_execution(start(&sm, "bad", items(10, &[1, 2]))).await.unwrap();
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let out: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["err"]["Error"], "States.ExceedToleratedFailureThreshold");
    let run = store
        .map_run(&store.map_runs_of(&rec.arn).unwrap()[0])
        .unwrap()
        .unwrap();
    assert_eq!(run.run.status.as_str(), "FAILED");
    // One at a time: the run stopped at the second failure, item 2.
    assert_eq!(run.run.executions.succeeded + run.run.executions.failed, 3);
    let h = types(&store.history(rec.id).unwrap());
    assert!(h.contains(&"MapRunFailed".to_string()), "{h:?}");
    let at = h.iter().position(|t| t == "MapRunFailed").unwrap();
    assert_eq!(
        h[at + 1],
        "MapStateExited",
        "caught: the Map exits to the catcher's target"
    );
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_parent_aborts_the_map_run_and_its_children() {
    let dir = tempdir("dmap-stop");
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(Gate::default());
    let (store, ex, _) = executor(&dir, clock, gate.clone());
    let sm = machine(&store, "stop", task_map(json!({"MaxConcurrency": 3}))).await;
    let rec = ex.start_execution(start(&sm, "e", items(10, &[]))).await.unwrap();
    until(|| gate.seen.lock().unwrap().len() == 3).await;
    ex.stop_execution(&rec.arn, None, None).await.unwrap();
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "ABORTED");
    let run_arn = store.map_runs_of(&rec.arn).unwrap()[0].clone();
    let run = store.map_run(&run_arn).unwrap().unwrap();
    assert_eq!(run.run.status.as_str(), "ABORTED");
    assert_eq!(run.run.executions.aborted, 3);
    for r in store.executions_of(&run_arn) {
        let c = store.execution(r.unwrap().1).unwrap().unwrap();
        assert_eq!(c.status, "ABORTED");
    }
    let h = types(&store.history(rec.id).unwrap());
    assert!(
        h.ends_with(&["MapRunAborted".into(), "ExecutionAborted".into()]),
        "{h:?}"
    );
    ex.shutdown().await;
}

#[tokio::test]
async fn in_process_batches_and_selects_items() {
    let def = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "Label": "B",
        "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
        "ItemBatcher": {"MaxItemsPerBatch": 3, "BatchInput": {"job.$": "$.job"}},
        "ItemsPath": "$.xs",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "P",
            "States": {"P": {"Type": "Pass", "Parameters": {
                "count.$": "States.ArrayLength($.Items)", "job.$": "$.BatchInput.job",
                "first.$": "$.Items[0]", "machine.$": "$$.StateMachine.Name"}, "End": true}}
        },
        "End": true}}});
    let machine = Arc::new(Machine::from_json(&def.to_string()).unwrap());
    let clock = SimulatedClock::new(T0);
    let input = json!({"job": "j1", "xs": [10, 11, 12, 13, 14, 15, 16]});
    let r = aslan::exec::run(
        machine,
        ExecutionInfo::local("Batch", "e1", T0),
        input,
        Options {
            history: true,
            ..Options::default()
        },
        &clock,
        Arc::new(aslan::tasks::Registry::new()),
    )
    .await;
    let Status::Succeeded(out) = r.status else {
        panic!("{:?}", r.status)
    };
    assert_eq!(
        out,
        json!([
            {"count": 3, "job": "j1", "first": {"v": 10, "i": 0}, "machine": "Batch/B"},
            {"count": 3, "job": "j1", "first": {"v": 13, "i": 3}, "machine": "Batch/B"},
            {"count": 1, "job": "j1", "first": {"v": 16, "i": 6}, "machine": "Batch/B"}
        ])
    );
    let started = r.history.iter().find(|e| e.event_type == "MapStateStarted").unwrap();
    assert_eq!(started.to_json()["mapStateStartedEventDetails"]["length"], json!(7));
}

/// The real definitions with a Distributed Map (aws-samples'
/// workflow collection, `tests/corpus/distributed`) all validate; the one
/// that is not JSON upstream is kept as it is and still rejected, and SAM
/// substitutions are filled in first, as a deployment would.
#[test]
fn the_real_distributed_map_definitions_validate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/distributed");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        if name.starts_with("sfn-iot-data-analytics-dataset") {
            assert!(
                serde_json::from_str::<Value>(&text).is_err(),
                "{name} is invalid JSON upstream"
            );
            continue;
        }
        let mut def: Value = serde_json::from_str(&text).unwrap();
        sam_substitute(&mut def);
        let text = def.to_string();
        let r = Machine::from_json(&text);
        assert!(r.is_ok(), "{name}: {}", r.err().unwrap());
        n += 1;
    }
    assert_eq!(n, 16);
}

/// Replaces `"Resource": "${...}"` (a SAM substitution) with a Lambda ARN.
fn sam_substitute(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("Resource") {
                if r.starts_with("${") {
                    *r = "arn:aws:lambda:us-east-1:123456789012:function:f".into();
                }
            }
            o.values_mut().for_each(sam_substitute);
        }
        Value::Array(a) => a.iter_mut().for_each(sam_substitute),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_reruns_only_the_children_that_did_not_succeed() {
    let dir = tempdir("dmap-redrive");
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(Gate::default());
    *gate.release.lock().unwrap() = true;
    let (store, ex, _) = executor(&dir, clock, gate.clone());
    // One at a time: 0 and 1 succeed, 2 fails the run, 3 to 5 never start.
    let sm = machine(&store, "redrive", task_map(json!({"MaxConcurrency": 1}))).await;
    let rec = ex.start_execution(start(&sm, "e", items(6, &[2]))).await.unwrap();
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "FAILED");
    assert_eq!(done.error.as_deref(), Some("States.ExceedToleratedFailureThreshold"));
    assert_eq!(gate.seen.lock().unwrap().len(), 3);
    let run_arn = store.map_runs_of(&rec.arn).unwrap()[0].clone();

    *gate.heal.lock().unwrap() = true;
    ex.redrive_execution(&rec.arn).await.unwrap();
    let done = settle(&store, &rec.arn).await;
    let kids: Vec<_> = store
        .executions_of(&run_arn)
        .map(|r| store.execution(r.unwrap().1).unwrap().unwrap())
        .map(|c| (c.map_run.unwrap().1, c.status, c.error, c.cause))
        .collect();
    assert_eq!(
        done.status,
        "SUCCEEDED",
        "{kids:?} seen {}",
        gate.seen.lock().unwrap().len()
    );
    let out: Vec<Value> = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    let ns: Vec<Value> = out.iter().map(|o| o["echo"]["n"].clone()).collect();
    assert_eq!(ns, (0..6).map(|i| json!(i)).collect::<Vec<_>>());
    assert_eq!(gate.seen.lock().unwrap().len(), 7, "items 0 and 1 did not run again");
    assert_eq!(store.map_runs_of(&rec.arn).unwrap().len(), 1, "the same Map Run");
    assert_eq!(store.map_runs_of(&rec.arn).unwrap()[0], run_arn);
    let run = store.map_run(&run_arn).unwrap().unwrap();
    assert_eq!(run.run.status.as_str(), "SUCCEEDED");
    assert_eq!((run.run.redrive_count, run.run.executions.succeeded), (1, 6));
    assert_eq!(
        store.executions_of(&run_arn).count(),
        7,
        "the failed child and four new ones"
    );
    let h = types(&store.history(rec.id).unwrap());
    let at = h.iter().position(|t| t == "ExecutionRedriven").unwrap();
    assert_eq!(
        h[at + 1..at + 3],
        ["MapStateEntered".to_string(), "MapRunRedriven".to_string()]
    );
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_map_run_is_spread_over_bounded_groups() {
    let dir = tempdir("dmap-big");
    let clock = Arc::new(ManualClock::new(T0));
    let (store, ex, _) = executor(&dir, clock, Arc::new(Gate::default()));
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": true}}},
        "ResultSelector": {"n.$": "States.ArrayLength($)"}, "End": true}}});
    let sm = machine(&store, "big", def).await;
    let commits = ex.stats().commits.load(std::sync::atomic::Ordering::Relaxed);
    let rec = ex
        .start_execution(start(&sm, "e", json!({"items": vec![0; 7_000]})))
        .await
        .unwrap();
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.output.as_deref(), Some(r#"{"n":7000}"#));
    let used = ex.stats().commits.load(std::sync::atomic::Ordering::Relaxed) - commits;
    // At most 2,000 children start in one group: four groups, the last of
    // which may be counted just after its records became visible.
    assert!(used >= 3, "7,000 children in {used} group commits");
    let run_arn = store.map_runs_of(&rec.arn).unwrap()[0].clone();
    assert_eq!(store.executions_of(&run_arn).count(), 7_000);
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_run_waiting_for_its_next_group_goes_on_after_a_restart() {
    let dir = tempdir("dmap-backlog");
    let clock = Arc::new(ManualClock::new(T0));
    let (store, ex, _) = executor(&dir, clock.clone(), Arc::new(Gate::default()));
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": true}}},
        "ResultSelector": {"n.$": "States.ArrayLength($)"}, "End": true}}});
    let sm = machine(&store, "backlog", def).await;
    // The start and the shutdown arrive together: the first group starts
    // (and ends) 2,000 children, and the rest wait in memory when it stops.
    let (rec, ()) = tokio::join!(
        ex.start_execution(start(&sm, "e", json!({"items": vec![0; 7_000]}))),
        ex.shutdown()
    );
    let rec = rec.unwrap();
    drop(store);
    let store = aslan::store::Store::open(&dir).unwrap();
    let run_arn = store.map_runs_of(&rec.arn).unwrap()[0].clone();
    let run = store.map_run(&run_arn).unwrap().unwrap();
    assert_eq!(run.run.status.as_str(), "RUNNING");
    assert!(
        run.run.executions.succeeded < 7_000 && run.run.executions.running == 0,
        "{:?}",
        run.run.executions
    );
    drop(store);

    let (store, ex, _) = executor(&dir, clock, Arc::new(Gate::default()));
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.output.as_deref(), Some(r#"{"n":7000}"#));
    assert_eq!(store.executions_of(&run_arn).count(), 7_000);
    ex.shutdown().await;
}
