//! The embedding API ([`aslan::Engine`]): in-process task handlers with
//! Retry and Catch, durability across an engine restart in one process,
//! and the committed-event stream.

use aslan::asl::StateError;
use aslan::exec::clock::SimulatedClock;
use aslan::exec::durable::TaskAnswer;
use aslan::store::ExecutionStatus;
use aslan::{Engine, EngineError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

fn types(history: &[Value]) -> Vec<&str> {
    history.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_custom_handler_is_retried_and_caught_by_its_error_name() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    // The retries' backoff (5 s, then 10 s) passes on a simulated clock.
    let clock = Arc::new(SimulatedClock::new(1_700_000_000_000));
    let engine = Engine::builder()
        .in_memory()
        .clock(clock.clone())
        .task("arn:aslan:states:::task:flaky", move |t| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                // Fails twice, then answers.
                if n < 2 {
                    Err(StateError::new("Custom.Flaky", format!("attempt {n}")))
                } else {
                    Ok(json!({"got": t.invocation.parameters["x"], "attempts": n + 1}))
                }
            }
        })
        .task("arn:aslan:states:::task:broken", |_| async {
            Err(StateError::new("Custom.Fatal", "always"))
        })
        .open()
        .await
        .unwrap();
    let def = json!({"StartAt": "Flaky", "States": {
        "Flaky": {"Type": "Task", "Resource": "arn:aslan:states:::task:flaky",
                  "Parameters": {"x.$": "$.x"}, "ResultPath": "$.flaky",
                  "Retry": [{"ErrorEquals": ["Custom.Flaky"], "IntervalSeconds": 5, "MaxAttempts": 3}],
                  "Next": "Broken"},
        "Broken": {"Type": "Task", "Resource": "arn:aslan:states:::task:broken",
                   "Catch": [{"ErrorEquals": ["Custom.Fatal"], "ResultPath": "$.caught", "Next": "Done"}],
                   "End": true},
        "Done": {"Type": "Succeed"}}});
    engine
        .create_state_machine("retry-catch", &def.to_string())
        .await
        .unwrap();
    let started = engine
        .start_execution("retry-catch", Some("one"), &json!({"x": 7}))
        .await
        .unwrap();
    assert_eq!(
        started.arn,
        "arn:aws:states:us-east-1:123456789012:execution:retry-catch:one"
    );
    let ended = engine.wait_for_execution(&started.arn).await.unwrap();
    assert_eq!(ended.status, ExecutionStatus::Succeeded, "{ended:?}");
    let out: Value = serde_json::from_str(ended.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["flaky"], json!({"got": 7, "attempts": 3}));
    assert_eq!(out["caught"], json!({"Error": "Custom.Fatal", "Cause": "always"}));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let h = engine.history(&started.arn).unwrap();
    let failed = types(&h).iter().filter(|t| **t == "TaskFailed").count();
    assert_eq!(failed, 3, "two retried failures and the caught one: {:?}", types(&h));
    assert_eq!(*types(&h).last().unwrap(), "ExecutionSucceeded");
    assert!(ended.stop_ms.unwrap() - ended.start_ms >= 15_000, "{ended:?}");
    engine.shutdown().await;
}

#[tokio::test]
async fn bad_definitions_names_and_machines_are_refused_with_every_problem() {
    let engine = Engine::builder().in_memory().open().await.unwrap();
    let bad = json!({"StartAt": "Nope", "States": {
        "A": {"Type": "Pass", "Next": "Missing"},
        "T": {"Type": "Task", "Resource": "arn:aslan:states:::task:none", "End": true}}});
    match engine.create_state_machine("bad", &bad.to_string()).await {
        Err(EngineError::InvalidDefinition(d)) => {
            let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
            assert!(d.len() >= 2, "{text:?}");
            assert!(text.iter().any(|t| t.contains("Nope")), "{text:?}");
            assert!(text.iter().any(|t| t.contains("Missing")), "{text:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        engine.create_state_machine("has space", "{}").await,
        Err(EngineError::InvalidName(_))
    ));
    assert!(matches!(
        engine.start_execution("absent", None, &json!({})).await,
        Err(EngineError::StateMachineDoesNotExist(_))
    ));
    let ok = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}).to_string();
    let rec = engine.create_state_machine("ok", &ok).await.unwrap();
    // Idempotent for the same definition, a conflict for another.
    assert_eq!(engine.create_state_machine("ok", &ok).await.unwrap().arn, rec.arn);
    let other = json!({"StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": true}}}).to_string();
    assert!(matches!(
        engine.create_state_machine("ok", &other).await,
        Err(EngineError::StateMachineAlreadyExists(_))
    ));
    // By ARN as well as by name.
    let e = engine.start_execution(&rec.arn, None, &json!({"a": 1})).await.unwrap();
    let ended = engine.wait_for_execution(&e.arn).await.unwrap();
    assert_eq!(ended.output.as_deref(), Some(r#"{"a":1}"#));
    assert!(matches!(
        engine.describe_execution("arn:aws:states:us-east-1:123456789012:execution:ok:nope"),
        Err(EngineError::ExecutionDoesNotExist(_))
    ));
    engine.shutdown().await;
}

/// An execution waiting on a task token survives the engine: shut down,
/// opened again on the same folder in the same process, the callback
/// completes it, and the handler is not called a second time.
#[tokio::test]
async fn an_execution_outlives_its_engine() {
    let dir = tempdir();
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let open = |tokens: Arc<Mutex<Vec<String>>>| {
        Engine::builder()
            .path(&dir)
            .fsync(false)
            .task("arn:aslan:states:::task:approve", move |t| {
                tokens.lock().unwrap().push(t.invocation.task_token.clone());
                async { Ok(json!({})) }
            })
            .open()
    };
    let engine = open(tokens.clone()).await.unwrap();
    let def = json!({"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "arn:aslan:states:::task:approve.waitForTaskToken",
                "Parameters": {"token.$": "$$.Task.Token"}, "Next": "After"},
        "After": {"Type": "Pass", "Parameters": {"approved.$": "$.ok"}, "End": true}}});
    engine.create_state_machine("approval", &def.to_string()).await.unwrap();
    let started = engine
        .start_execution("approval", Some("e1"), &json!({}))
        .await
        .unwrap();
    // The token has been handed out (the task parked) before we stop.
    let mut events = engine.subscribe();
    while tokens.lock().unwrap().is_empty() {
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), events.recv()).await;
    }
    engine.shutdown().await;

    let engine = open(tokens.clone()).await.unwrap();
    assert_eq!(engine.recovery().executions, 1);
    assert_eq!(engine.recovery().parked, 1);
    assert_eq!(
        engine.describe_execution(&started.arn).unwrap().status,
        ExecutionStatus::Running
    );
    let token = tokens.lock().unwrap()[0].clone();
    engine
        .executor()
        .answer_task(&token, TaskAnswer::Success(r#"{"ok": true}"#.into()))
        .await
        .unwrap();
    let ended = engine.wait_for_execution(&started.arn).await.unwrap();
    assert_eq!(ended.output.as_deref(), Some(r#"{"approved":true}"#));
    assert_eq!(tokens.lock().unwrap().len(), 1, "a parked task is not dispatched again");
    engine.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every event that commits reaches a subscriber exactly once, in order:
/// for 20 concurrent executions, the events streamed per execution are
/// its stored history, byte for byte.
#[tokio::test]
async fn the_event_stream_carries_every_committed_event_once_in_order() {
    let engine = Engine::builder()
        .in_memory()
        .fsync(false)
        .task("arn:aslan:states:::task:echo", |t| async move {
            Ok(t.invocation.parameters)
        })
        .open()
        .await
        .unwrap();
    let def = json!({"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                 "ItemProcessor": {"StartAt": "Echo", "States": {
                     "Echo": {"Type": "Task", "Resource": "arn:aslan:states:::task:echo",
                              "Parameters": {"v.$": "$"}, "End": true}}},
                 "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$[0].v", "NumericEquals": 0, "Next": "Done"}],
                  "Default": "Done"},
        "Done": {"Type": "Succeed"}}});
    engine.create_state_machine("fanout", &def.to_string()).await.unwrap();
    let mut stream = engine.subscribe();
    let mut arns = Vec::new();
    for i in 0..20 {
        let input = json!({"items": (0..5).collect::<Vec<_>>()});
        let e = engine
            .start_execution("fanout", Some(&format!("run-{i}")), &input)
            .await
            .unwrap();
        arns.push(e.arn);
    }
    let mut seen: HashMap<String, Vec<Value>> = HashMap::new();
    let mut ended = 0;
    while ended < arns.len() {
        let c = stream.recv().await.expect("no event is missed");
        for e in c.events.iter() {
            if e.event_type.starts_with("Execution") && e.event_type != "ExecutionStarted" {
                ended += 1;
            }
            seen.entry(c.execution_arn.to_string()).or_default().push(e.to_json());
        }
    }
    for arn in &arns {
        let streamed = &seen[arn];
        let stored = engine.history(arn).unwrap();
        assert_eq!(streamed, &stored, "{arn}");
        let ids: Vec<u64> = streamed.iter().map(|e| e["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
        assert_eq!(types(streamed).last(), Some(&"ExecutionSucceeded"));
    }
    engine.shutdown().await;
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("aslan-engine-test-{}-{}", std::process::id(), uuid()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn uuid() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(42);
    h.finish()
}

/// Watching one execution from the middle of its run gives what had
/// committed, then the rest as it commits: its whole history, once, in
/// order, ending with its end. An ended execution gives its history.
#[tokio::test]
async fn watching_an_execution_mid_run_gives_its_whole_history_once() {
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let t = tokens.clone();
    let engine = Engine::builder()
        .in_memory()
        .fsync(false)
        .task("arn:aslan:states:::task:approve", move |task| {
            t.lock().unwrap().push(task.invocation.task_token.clone());
            async { Ok(json!({})) }
        })
        .open()
        .await
        .unwrap();
    let def = json!({"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "arn:aslan:states:::task:approve.waitForTaskToken", "Next": "Wrap"},
        "Wrap": {"Type": "Pass", "Parameters": {"answer.$": "$"}, "End": true}}});
    engine.create_state_machine("watched", &def.to_string()).await.unwrap();
    let mut all = engine.subscribe();
    let started = engine.start_execution("watched", None, &json!({})).await.unwrap();
    while tokens.lock().unwrap().is_empty() {
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), all.recv()).await;
    }
    let mut watch = engine.watch_execution(&started.arn).unwrap();
    // What had committed comes first, before any new step.
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first["type"], "ExecutionStarted");
    let token = tokens.lock().unwrap()[0].clone();
    engine
        .executor()
        .answer_task(&token, TaskAnswer::Success(r#""yes""#.into()))
        .await
        .unwrap();
    let mut streamed = vec![first];
    while let Some(e) = watch.next().await {
        streamed.push(e.unwrap());
    }
    let stored = engine.history(&started.arn).unwrap();
    assert_eq!(streamed, stored);
    assert_eq!(types(&stored).last(), Some(&"ExecutionSucceeded"));
    assert!(types(&stored).contains(&"TaskSucceeded"));

    // An ended execution: its history, then the end.
    let mut again = engine.watch_execution(&started.arn).unwrap();
    let mut replayed = Vec::new();
    while let Some(e) = again.next().await {
        replayed.push(e.unwrap());
    }
    assert_eq!(replayed, stored);
    assert!(matches!(
        engine.watch_execution("arn:aws:states:us-east-1:123456789012:execution:watched:nope"),
        Err(EngineError::ExecutionDoesNotExist(_))
    ));
    engine.shutdown().await;
}

/// Waiting with no other subscriber never misses the end: the step that
/// ends an execution is published even when no one listened when it was
/// made (the wait may subscribe between the step and its commit).
#[tokio::test]
async fn waits_without_a_subscriber_see_every_end() {
    let engine = Engine::builder()
        .in_memory()
        .task(
            "arn:aslan:states:::task:now",
            |t| async move { Ok(t.invocation.parameters) },
        )
        .open()
        .await
        .unwrap();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aslan:states:::task:now", "Parameters": {"n.$": "$.n"}, "End": true}}});
    engine.create_state_machine("quick", &def.to_string()).await.unwrap();
    for n in 0..200 {
        let e = engine.start_execution("quick", None, &json!({"n": n})).await.unwrap();
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), engine.wait_for_execution(&e.arn))
            .await
            .expect("the wait saw the end")
            .unwrap();
        assert_eq!(ended.output.as_deref(), Some(format!(r#"{{"n":{n}}}"#).as_str()));
    }
    engine.shutdown().await;
}

/// A redriven execution's history has an end before its redrive: watching
/// it goes on to the last end.
#[tokio::test]
async fn watching_a_redriven_execution_goes_on_past_its_first_end() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let engine = Engine::builder()
        .in_memory()
        .task("arn:aslan:states:::task:once", move |_| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(StateError::new("Custom.Once", "first time"))
                } else {
                    Ok(json!("second time"))
                }
            }
        })
        .open()
        .await
        .unwrap();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aslan:states:::task:once", "End": true}}});
    engine.create_state_machine("redriven", &def.to_string()).await.unwrap();
    let e = engine.start_execution("redriven", None, &json!({})).await.unwrap();
    assert_eq!(
        engine.wait_for_execution(&e.arn).await.unwrap().status,
        ExecutionStatus::Failed
    );
    engine.redrive_execution(&e.arn).await.unwrap();
    let mut watch = engine.watch_execution(&e.arn).unwrap();
    let mut streamed = Vec::new();
    while let Some(ev) = watch.next().await {
        streamed.push(ev.unwrap());
    }
    let t = types(&streamed);
    assert!(
        t.contains(&"ExecutionFailed") && t.contains(&"ExecutionRedriven"),
        "{t:?}"
    );
    assert_eq!(t.last(), Some(&"ExecutionSucceeded"));
    assert_eq!(streamed, engine.history(&e.arn).unwrap());
    engine.shutdown().await;
}

/// When the executor stops under a live engine (as `aslan serve` stops
/// it), waits and streams end with an error instead of waiting forever.
#[tokio::test]
async fn a_stopped_executor_closes_waits_and_streams() {
    let engine = Engine::builder()
        .in_memory()
        .task("arn:aslan:states:::task:park", |_| async { Ok(json!({})) })
        .open()
        .await
        .unwrap();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aslan:states:::task:park.waitForTaskToken", "End": true}}});
    engine.create_state_machine("parked", &def.to_string()).await.unwrap();
    let e = engine.start_execution("parked", None, &json!({})).await.unwrap();
    let mut stream = engine.subscribe();
    engine.executor().shutdown().await;
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match stream.recv().await {
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                _ => continue,
            }
        }
    });
    closed.await.expect("the stream closed");
    let waited = tokio::time::timeout(std::time::Duration::from_secs(10), engine.wait_for_execution(&e.arn))
        .await
        .expect("the wait ended");
    assert!(matches!(waited, Err(EngineError::Exec(_))), "{waited:?}");
}

#[tokio::test]
async fn run_once_runs_in_memory_with_the_builders_handlers_and_refuses_bad_definitions() {
    let clock = Arc::new(SimulatedClock::new(1_700_000_000_000));
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let builder = || {
        let c = c.clone();
        Engine::builder()
            .clock(clock.clone())
            .region_account("eu-west-1", "111122223333")
            .task("arn:aslan:states:::task:flaky", move |_| {
                let n = c.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Err(StateError::new("Custom.Flaky", "first"))
                    } else {
                        Ok(json!({"attempt": n + 1}))
                    }
                }
            })
    };
    let def = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aslan:states:::task:flaky",
        "Retry": [{"ErrorEquals": ["Custom.Flaky"], "IntervalSeconds": 30}],
        "ResultSelector": {"attempt.$": "$.attempt", "arn.$": "$$.Execution.Id", "role.$": "$$.Execution.RoleArn"},
        "End": true}}});
    let once = aslan::RunOnce {
        state_machine_name: "m".into(),
        execution_name: Some("e".into()),
        history: true,
        history_sink: None,
    };
    let ended = builder()
        .run_once(&def.to_string(), json!({}), once.clone())
        .await
        .unwrap();
    let aslan::asl::Status::Succeeded(out) = &ended.status else {
        panic!("{:?}", ended.status)
    };
    assert_eq!(
        out,
        &json!({"attempt": 2, "arn": "arn:aws:states:eu-west-1:111122223333:execution:m:e",
                "role": "arn:aws:iam::111122223333:role/StepFunctionsRole"})
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let kinds: Vec<&str> = ended.history.iter().map(|e| e.event_type).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "TaskFailed").count(), 1, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"ExecutionSucceeded"));

    // A history sink gets the same events, in order, as they are recorded;
    // the result then holds none.
    calls.store(0, Ordering::SeqCst);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = {
        let seen = seen.clone();
        aslan::asl::HistorySink(Arc::new(move |e| seen.lock().unwrap().push(e)))
    };
    let streamed = builder()
        .run_once(
            &def.to_string(),
            json!({}),
            aslan::RunOnce {
                history: false,
                history_sink: Some(sink),
                ..once.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(streamed.status, ended.status);
    assert!(streamed.history.is_empty());
    let ids = |h: &[aslan::asl::history::HistoryEvent]| {
        h.iter()
            .map(|e| (e.id, e.previous_event_id, e.event_type))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&seen.lock().unwrap()), ids(&ended.history));

    // Invalid ASL, and a pattern the integration lacks.
    let bad = json!({"StartAt": "Nowhere", "States": {"T": {
        "Type": "Task", "Resource": "arn:aslan:states:::task:flaky.sync", "End": true}}});
    match builder().run_once(&bad.to_string(), json!({}), once.clone()).await {
        Err(EngineError::InvalidDefinition(problems)) => {
            let text = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n");
            assert!(text.contains("Nowhere"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let unsupported = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aslan:states:::task:flaky.sync", "End": true}}});
    match builder().run_once(&unsupported.to_string(), json!({}), once).await {
        Err(EngineError::InvalidDefinition(problems)) => {
            let text = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n");
            assert!(text.contains(".sync"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}
