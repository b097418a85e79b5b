use super::*;
use serde_json::json;

pub(super) const T0: i64 = 1_700_000_000_000;

fn machine(def: Value) -> Arc<Machine> {
    Arc::new(Machine::compile(&def).unwrap_or_else(|e| panic!("{e}")))
}

pub(super) fn start(def: Value, input: Value) -> (Execution, Vec<Command>) {
    Execution::start(
        machine(def),
        ExecutionInfo::local("SM", "ex", T0),
        input,
        Options {
            history: true,
            seed: None,
            history_sink: None,
            variables: None,
            start_list: None,
        },
        T0,
    )
}

pub(super) fn types(ex: &Execution) -> Vec<&'static str> {
    ex.history().iter().map(|e| e.event_type).collect()
}

fn invocations(cmds: &[Command]) -> Vec<&TaskInvocation> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::InvokeTask(i) => Some(&**i),
            _ => None,
        })
        .collect()
}

pub(super) fn timers(cmds: &[Command]) -> Vec<(u64, i64)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::StartTimer { token, fire_at_ms } => Some((*token, *fire_at_ms)),
            _ => None,
        })
        .collect()
}

fn task(extra: Value) -> Value {
    let mut t = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true});
    t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    t
}

#[test]
fn pass_history_has_aws_names_and_chained_ids() {
    let (ex, cmds) = start(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}),
        json!({"x": 1}),
    );
    assert!(cmds.is_empty());
    assert_eq!(ex.status(), &Status::Succeeded(json!({"x": 1})));
    assert_eq!(
        types(&ex),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    for (i, e) in ex.history().iter().enumerate() {
        assert_eq!(e.id, i as u64 + 1);
        assert_eq!(e.previous_event_id, i as u64);
    }
    let entered = ex.history()[1].to_json();
    assert_eq!(entered["stateEnteredEventDetails"]["name"], "A");
    assert_eq!(entered["stateEnteredEventDetails"]["input"], "{\"x\":1}");
    assert_eq!(
        ex.history()[5].to_json()["executionSucceededEventDetails"]["output"],
        "{\"x\":1}"
    );
}

#[test]
fn task_lifecycle_and_context_token() {
    let def = json!({"StartAt": "T", "States": {"T": task(json!({"Parameters": {"token.$": "$$.Task.Token", "state.$": "$$.State.Name", "start.$": "$$.Execution.StartTime"}}))}});
    let (mut ex, cmds) = start(def, json!({}));
    let inv = invocations(&cmds)[0].clone();
    assert_eq!(inv.parameters["token"], json!(inv.task_token));
    assert_eq!(inv.parameters["state"], "T");
    assert_eq!(inv.parameters["start"], "2023-11-14T22:13:20.000Z");
    let cmds = ex.handle(
        Event::TaskSucceeded {
            token: inv.token,
            output: json!({"r": 1}),
        },
        T0 + 5,
    );
    assert!(cmds.is_empty());
    assert_eq!(ex.status(), &Status::Succeeded(json!({"r": 1})));
    assert_eq!(
        types(&ex),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let sched = ex.history()[2].to_json();
    assert_eq!(sched["taskScheduledEventDetails"]["resourceType"], "lambda");
    assert_eq!(sched["taskScheduledEventDetails"]["resource"], "invoke");
    // A duplicate delivery of the same result changes nothing.
    assert!(ex
        .handle(
            Event::TaskSucceeded {
                token: inv.token,
                output: json!(2)
            },
            T0 + 6
        )
        .is_empty());
    assert_eq!(ex.history().len(), 7);
}

#[test]
fn retry_backoff_grows_and_is_capped() {
    let def = json!({"StartAt": "T", "States": {"T": task(json!({
        "Parameters": {"n.$": "$$.State.RetryCount"},
        "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxAttempts": 3, "MaxDelaySeconds": 10}]
    }))}});
    let (mut ex, cmds) = start(def, json!({}));
    let mut inv = invocations(&cmds)[0].clone();
    let mut now = T0;
    let mut delays = Vec::new();
    for attempt in 0..3 {
        assert_eq!(inv.parameters["n"], json!(attempt));
        assert_eq!(inv.attempt, attempt);
        let cmds = ex.handle(
            Event::TaskFailed {
                token: inv.token,
                error: StateError::new("E", "c"),
            },
            now,
        );
        let (tok, at) = timers(&cmds)[0];
        delays.push(at - now);
        now = at;
        let cmds = ex.handle(Event::TimerFired { token: tok }, now);
        inv = invocations(&cmds)[0].clone();
    }
    assert_eq!(delays, [2000, 6000, 10000]);
    ex.handle(
        Event::TaskFailed {
            token: inv.token,
            error: StateError::new("E", "last"),
        },
        now,
    );
    assert_eq!(ex.status(), &Status::Failed(StateError::new("E", "last")));
    // Retries do not enter the state again.
    assert_eq!(types(&ex).iter().filter(|t| **t == "TaskStateEntered").count(), 1);
    assert_eq!(types(&ex).iter().filter(|t| **t == "TaskScheduled").count(), 4);
}

#[test]
fn full_jitter_stays_below_the_backoff() {
    let def = json!({"StartAt": "T", "States": {"T": task(json!({"Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 100, "MaxAttempts": 1, "JitterStrategy": "FULL"}]}))}});
    let (mut ex, cmds) = start(def, json!({}));
    let inv = invocations(&cmds)[0].clone();
    let cmds = ex.handle(
        Event::TaskFailed {
            token: inv.token,
            error: StateError::new("E", ""),
        },
        T0,
    );
    let (_, at) = timers(&cmds)[0];
    assert!((T0..T0 + 100_000).contains(&at), "{}", at - T0);
}

#[test]
fn task_timeout_is_caught_and_cancels_the_task() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 30,
              "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.err", "Next": "H"}], "End": true},
        "H": {"Type": "Pass", "End": true}}});
    let (mut ex, cmds) = start(def, json!({"a": 1}));
    let inv = invocations(&cmds)[0].clone();
    let (tok, at) = timers(&cmds)[0];
    assert_eq!(at, T0 + 30_000);
    let cmds = ex.handle(Event::TimerFired { token: tok }, at);
    assert!(cmds.contains(&Command::CancelTask {
        token: inv.token,
        timed_out: true
    }));
    match ex.status() {
        Status::Succeeded(v) => assert_eq!(v["err"]["Error"], "States.Timeout"),
        s => panic!("{s:?}"),
    }
    assert!(types(&ex).contains(&"TaskTimedOut"));
    // The late result is ignored.
    assert!(ex
        .handle(
            Event::TaskSucceeded {
                token: inv.token,
                output: json!(1)
            },
            at + 1
        )
        .is_empty());
}

#[test]
fn heartbeats_keep_a_task_alive_until_they_stop() {
    let def = json!({"StartAt": "T", "States": {"T": task(json!({"HeartbeatSeconds": 10, "TimeoutSeconds": 100}))}});
    let (mut ex, cmds) = start(def, json!({}));
    let inv = invocations(&cmds)[0].clone();
    let hb = timers(&cmds).into_iter().find(|(_, at)| *at == T0 + 10_000).unwrap();
    let cmds = ex.handle(Event::TaskHeartbeat { token: inv.token }, T0 + 8_000);
    assert!(cmds.contains(&Command::CancelTimer { token: hb.0 }));
    let (hb2, at2) = timers(&cmds)[0];
    assert_eq!(at2, T0 + 18_000);
    // The old timer firing late does nothing.
    assert!(ex.handle(Event::TimerFired { token: hb.0 }, T0 + 10_000).is_empty());
    assert_eq!(ex.status(), &Status::Running);
    ex.handle(Event::TimerFired { token: hb2 }, at2);
    match ex.status() {
        Status::Failed(e) => assert_eq!(e.error, "States.HeartbeatTimeout"),
        s => panic!("{s:?}"),
    }
}

#[test]
fn stop_aborts_and_cancels_everything() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "T", "States": {"T": task(json!({}))}},
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}]}}});
    let (mut ex, cmds) = start(def, json!({}));
    let inv = invocations(&cmds)[0].clone();
    let (wt, _) = timers(&cmds)[0];
    let cmds = ex.handle(
        Event::Stop {
            error: Some("Stopped".into()),
            cause: Some("by test".into()),
        },
        T0 + 1,
    );
    assert!(cmds.contains(&Command::CancelTask {
        token: inv.token,
        timed_out: false
    }));
    assert!(cmds.contains(&Command::CancelTimer { token: wt }));
    assert_eq!(ex.status(), &Status::Aborted(StateError::new("Stopped", "by test")));
    assert_eq!(
        types(&ex)[types(&ex).len() - 2..],
        ["TaskStateAborted", "ExecutionAborted"]
    );
}

#[test]
fn execution_timeout() {
    let def =
        json!({"TimeoutSeconds": 5, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let (mut ex, cmds) = start(def, json!({}));
    let t = timers(&cmds);
    let exec_timer = t.iter().find(|(_, at)| *at == T0 + 5_000).unwrap();
    let wait_timer = t.iter().find(|(_, at)| *at == T0 + 60_000).unwrap();
    let cmds = ex.handle(Event::TimerFired { token: exec_timer.0 }, T0 + 5_000);
    assert!(cmds.contains(&Command::CancelTimer { token: wait_timer.0 }));
    assert!(matches!(ex.status(), Status::TimedOut(e) if e.error == "States.Timeout"));
    assert_eq!(*types(&ex).last().unwrap(), "ExecutionTimedOut");
}

#[test]
fn map_respects_max_concurrency_and_orders_results() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 2, "End": true,
        "ItemProcessor": {"StartAt": "T", "States": {"T": task(json!({}))}}}}});
    let (mut ex, cmds) = start(def, json!([10, 20, 30, 40]));
    let mut inflight: Vec<TaskInvocation> = invocations(&cmds).into_iter().cloned().collect();
    assert_eq!(inflight.len(), 2);
    let mut max_seen = 2;
    // Complete the most recent first, to check results are placed by index.
    while let Some(inv) = inflight.pop() {
        let cmds = ex.handle(
            Event::TaskSucceeded {
                token: inv.token,
                output: json!(inv.parameters.as_i64().unwrap() + 1),
            },
            T0,
        );
        inflight.extend(invocations(&cmds).into_iter().cloned());
        max_seen = max_seen.max(inflight.len());
    }
    assert_eq!(max_seen, 2);
    assert_eq!(ex.status(), &Status::Succeeded(json!([11, 21, 31, 41])));
    let t = types(&ex);
    assert_eq!(t.iter().filter(|x| **x == "MapIterationStarted").count(), 4);
    assert_eq!(t.iter().filter(|x| **x == "MapIterationSucceeded").count(), 4);
    assert!(t.contains(&"MapStateStarted") && t.contains(&"MapStateSucceeded"));
}

#[test]
fn failing_branch_cancels_siblings() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "T1", "States": {"T1": task(json!({}))}},
        {"StartAt": "T2", "States": {"T2": task(json!({}))}}]}}});
    let (mut ex, cmds) = start(def, json!({}));
    let invs = invocations(&cmds);
    let (a, b) = (invs[0].token, invs[1].token);
    let cmds = ex.handle(
        Event::TaskFailed {
            token: a,
            error: StateError::new("Boom", "x"),
        },
        T0,
    );
    assert!(cmds.contains(&Command::CancelTask {
        token: b,
        timed_out: false
    }));
    assert!(types(&ex).contains(&"TaskStateAborted"));
    assert_eq!(ex.status(), &Status::Failed(StateError::new("Boom", "x")));
    assert!(types(&ex).contains(&"ParallelStateFailed"));
}

#[test]
fn map_failure_aborts_other_iterations() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "T", "States": {"T": task(json!({}))}}}}});
    let (mut ex, cmds) = start(def, json!([1, 2, 3]));
    let invs = invocations(&cmds);
    ex.handle(
        Event::TaskFailed {
            token: invs[1].token,
            error: StateError::new("E", ""),
        },
        T0,
    );
    let t = types(&ex);
    assert_eq!(t.iter().filter(|x| **x == "MapIterationFailed").count(), 1);
    assert_eq!(t.iter().filter(|x| **x == "MapIterationAborted").count(), 2);
    assert!(t.contains(&"MapStateFailed"));
}

#[test]
fn data_limit_is_enforced_and_not_caught_by_all() {
    let big = "x".repeat(300 * 1024);
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]},
        "H": {"Type": "Pass", "End": true}}});
    let (mut ex, cmds) = start(def, json!({}));
    let inv = invocations(&cmds)[0].clone();
    ex.handle(
        Event::TaskSucceeded {
            token: inv.token,
            output: json!(big),
        },
        T0,
    );
    assert!(
        matches!(ex.status(), Status::Failed(e) if e.error == "States.DataLimitExceeded"),
        "{:?}",
        ex.status()
    );

    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": true}}});
    let (ex, _) = start(def, json!({"s": "y".repeat(200 * 1024)}));
    assert!(matches!(ex.status(), Status::Failed(e) if e.error == "States.DataLimitExceeded"));

    let (ex, _) = start(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
        json!(big),
    );
    assert!(matches!(ex.status(), Status::Failed(e) if e.error == "States.DataLimitExceeded"));
}

#[test]
fn explicit_data_limit_catcher_matches() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
              "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "H"}]},
        "H": {"Type": "Pass", "Result": "handled", "End": true}}});
    let (mut ex, cmds) = start(def, json!({}));
    let inv = invocations(&cmds)[0].clone();
    ex.handle(
        Event::TaskSucceeded {
            token: inv.token,
            output: json!("z".repeat(300 * 1024)),
        },
        T0,
    );
    assert_eq!(ex.status(), &Status::Succeeded(json!("handled")));
}

#[test]
fn waits_compute_their_deadlines() {
    let (ex, cmds) = start(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 7, "End": true}}}),
        json!({}),
    );
    assert_eq!(timers(&cmds)[0].1, T0 + 7_000);
    assert_eq!(ex.status(), &Status::Running);
    let (_, cmds) = start(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.t", "End": true}}}),
        json!({"t": "2030-01-01T00:00:00Z"}),
    );
    assert_eq!(timers(&cmds)[0].1, 1_893_456_000_000);
    // A timestamp in the past does not wait at all.
    let (ex, cmds) = start(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": "2001-01-01T00:00:00Z", "End": true}}}),
        json!(1),
    );
    assert!(cmds.is_empty());
    assert_eq!(ex.status(), &Status::Succeeded(json!(1)));
    let (ex, _) = start(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}),
        json!({"s": -1}),
    );
    assert!(matches!(ex.status(), Status::Failed(e) if e.error == "States.Runtime"));
}

#[test]
fn runtime_errors_are_not_retried_or_caught() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "End": true,
              "Retry": [{"ErrorEquals": ["States.ALL"]}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}],
              "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "InputPath": "$.missing", "End": true}}}]},
        "H": {"Type": "Succeed"}}});
    let (ex, cmds) = start(def, json!({}));
    assert!(cmds.is_empty());
    assert!(matches!(ex.status(), Status::Failed(e) if e.error == "States.Runtime"));
}

#[test]
fn history_off_records_nothing_but_still_runs() {
    let m = machine(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}));
    let (ex, _) = Execution::start(m, ExecutionInfo::local("SM", "e", T0), json!(1), Options::default(), T0);
    assert!(ex.history().is_empty());
    assert_eq!(ex.transitions(), 1);
    assert_eq!(ex.status(), &Status::Succeeded(json!(1)));
}

#[test]
fn paths_may_read_the_context_object() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"changed": true}, "Next": "B"},
        "B": {"Type": "Pass", "InputPath": "$$.Execution.Input", "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$$.Execution.Input.items", "ResultPath": "$.doubled", "Next": "C",
              "ItemProcessor": {"StartAt": "D", "States": {"D": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, $)"}, "OutputPath": "$.v", "End": true}}}},
        "C": {"Type": "Pass", "OutputPath": "$$.State.Name", "End": true}}});
    let (ex, _) = start(def.clone(), json!({"items": [1, 2]}));
    assert_eq!(ex.status(), &Status::Succeeded(json!("C")));
    let mut def2 = def;
    def2["States"]["M"]["End"] = json!(true);
    def2["States"]["M"].as_object_mut().unwrap().remove("Next");
    def2["States"].as_object_mut().unwrap().remove("C");
    let (ex, _) = start(def2, json!({"items": [1, 2]}));
    assert_eq!(
        ex.status(),
        &Status::Succeeded(json!({"items": [1, 2], "doubled": [2, 4]}))
    );
}

#[test]
fn a_snapshot_resumes_exactly_where_it_left_off() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "T", "States": {"T": task(json!({"Retry": [{"ErrorEquals": ["E"]}], "Parameters": {"u.$": "States.UUID()"}}))}},
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": true}}}]}}});
    let run = |snapshot_midway: bool| {
        let (mut ex, cmds) = start(def.clone(), json!({}));
        let inv = invocations(&cmds)[0].clone();
        let wait = timers(&cmds)[0];
        let mut cmds = ex.handle(
            Event::TaskFailed {
                token: inv.token,
                error: StateError::new("E", ""),
            },
            T0 + 1,
        );
        let mut history = ex.drain_history();
        if snapshot_midway {
            let bytes = serde_json::to_vec(&ex).unwrap();
            let m = ex.machine().clone();
            ex = serde_json::from_slice::<Execution>(&bytes)
                .unwrap()
                .restore(m, json!({}));
        }
        let (backoff, at) = timers(&cmds)[0];
        cmds = ex.handle(Event::TimerFired { token: backoff }, at);
        let inv2 = invocations(&cmds)[0].clone();
        ex.handle(
            Event::TaskSucceeded {
                token: inv2.token,
                output: inv2.parameters.clone(),
            },
            at + 1,
        );
        ex.handle(Event::TimerFired { token: wait.0 }, wait.1);
        history.extend(ex.drain_history());
        (ex.status().clone(), history)
    };
    let (s1, h1) = run(false);
    let (s2, h2) = run(true);
    assert!(matches!(&s1, Status::Succeeded(v) if v[0]["u"].is_string()), "{s1:?}");
    assert_eq!(s1, s2);
    assert_eq!(h1, h2);
}

#[test]
fn redrive_restarts_from_the_failed_state() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"v": 1}, "Next": "T"},
        "T": task(json!({"Parameters": {"v.$": "$.v", "redrives.$": "$$.Execution.RedriveCount"}}))}});
    let (mut ex, cmds) = start(def, json!({}));
    let inv = invocations(&cmds)[0].clone();
    assert!(ex.redrive(T0).is_none(), "a running execution cannot be redriven");
    ex.handle(
        Event::TaskFailed {
            token: inv.token,
            error: StateError::new("E", ""),
        },
        T0 + 1,
    );
    assert!(matches!(ex.status(), Status::Failed(_)));
    let cmds = ex.redrive(T0 + 2).expect("redrivable");
    let inv = invocations(&cmds)[0].clone();
    assert_eq!(inv.parameters, json!({"v": 1, "redrives": 1}));
    ex.handle(
        Event::TaskSucceeded {
            token: inv.token,
            output: json!("ok"),
        },
        T0 + 3,
    );
    assert_eq!(ex.status(), &Status::Succeeded(json!("ok")));
    assert!(ex.redrive(T0 + 4).is_none(), "a succeeded execution cannot be redriven");
    let t = types(&ex);
    assert_eq!(t.iter().filter(|x| **x == "ExecutionRedriven").count(), 1);
    assert_eq!(t.iter().filter(|x| **x == "TaskStateEntered").count(), 2);
    for (i, e) in ex.history().iter().enumerate() {
        assert_eq!(e.id, i as u64 + 1);
    }
}

// ---- the task seam, randomness, the Context object, AWS wording ----

fn start_seeded(def: Value, input: Value, seed: Option<[u8; 32]>) -> (Execution, Vec<Command>) {
    Execution::start(
        machine(def),
        ExecutionInfo::local("SM", "ex", T0),
        input,
        Options {
            history: true,
            seed,
            history_sink: None,
            variables: None,
            start_list: None,
        },
        T0,
    )
}

#[test]
fn task_started_is_recorded_when_the_integration_says_so() {
    let def = json!({"StartAt": "T", "States": {"T": task(json!({}))}});
    let (mut ex, cmds) = start(def, json!({}));
    let inv = invocations(&cmds)[0].clone();
    assert_eq!(
        *types(&ex).last().unwrap(),
        "TaskScheduled",
        "not started at schedule time"
    );
    ex.handle(
        Event::TaskStarted {
            token: inv.token,
            worker: None,
        },
        T0 + 5,
    );
    assert_eq!(*types(&ex).last().unwrap(), "TaskStarted");
    ex.handle(
        Event::TaskStarted {
            token: inv.token,
            worker: None,
        },
        T0 + 6,
    );
    ex.handle(
        Event::TaskSucceeded {
            token: inv.token,
            output: json!(1),
        },
        T0 + 7,
    );
    let t = types(&ex);
    assert_eq!(t.iter().filter(|x| **x == "TaskStarted").count(), 1, "{t:?}");
    // A task that ends without saying it started is recorded as started first.
    let def = json!({"StartAt": "T", "States": {"T": task(json!({}))}});
    let (mut ex, cmds) = start(def, json!({}));
    let inv = invocations(&cmds)[0].clone();
    ex.handle(
        Event::TaskSucceeded {
            token: inv.token,
            output: json!(1),
        },
        T0 + 7,
    );
    assert_eq!(types(&ex)[3..5], ["TaskStarted", "TaskSucceeded"]);
}

#[test]
fn activities_record_activity_events_with_the_worker() {
    let arn = "arn:aws:states:us-east-1:123456789012:activity:resize";
    let def =
        json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": arn, "TimeoutSeconds": 9, "End": true}}});
    let (mut ex, cmds) = start(def, json!({"x": 1}));
    let inv = invocations(&cmds)[0].clone();
    assert_eq!(inv.task_token.len(), 64);
    ex.handle(
        Event::TaskStarted {
            token: inv.token,
            worker: Some("w1".into()),
        },
        T0 + 1,
    );
    ex.handle(
        Event::TaskSucceeded {
            token: inv.token,
            output: json!({"ok": true}),
        },
        T0 + 2,
    );
    assert_eq!(
        types(&ex)[2..5],
        ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]
    );
    let h = ex.history();
    let sched = &h[2].details.as_ref().unwrap().1;
    assert_eq!(sched["resource"], arn);
    assert_eq!(sched["input"], "{\"x\":1}");
    assert_eq!(sched["timeoutInSeconds"], 9);
    assert_eq!(h[3].details.as_ref().unwrap().1.to_value(), json!({"workerName": "w1"}));
}

#[test]
fn randomness_and_tokens_come_from_the_seed_not_the_arn() {
    let def = json!({"StartAt": "T", "States": {"T": task(json!({"Parameters": {"u.$": "States.UUID()", "t.$": "$$.Task.Token"}}))}});
    let run = |seed| {
        let (_, cmds) = start_seeded(def.clone(), json!({}), seed);
        invocations(&cmds)[0].parameters.clone()
    };
    let a = run(Some([1; 32]));
    assert_eq!(a, run(Some([1; 32])), "the same seed replays the same numbers");
    let b = run(Some([2; 32]));
    assert_ne!(a["u"], b["u"], "same ARN, other seed: other UUID");
    assert_ne!(a["t"], b["t"]);
    let u = a["u"].as_str().unwrap();
    assert_eq!(u.len(), 36);
    assert_eq!(&u[14..15], "4", "a version-4 UUID: {u}");
    assert_eq!(a["t"].as_str().unwrap().len(), 64);
}

#[test]
fn context_reads_the_execution_input_in_place_and_whole_when_asked() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "k.$": "$$.Execution.Input.k",
                         "n.$": "$$.State.Name", "e.$": "$$.Execution"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}});
    let (ex, _) = start(def, json!({"items": ["a", "b"], "k": 7}));
    let Status::Succeeded(out) = ex.status() else {
        panic!("{:?}", ex.status())
    };
    assert_eq!(out[1]["v"], "b");
    assert_eq!(out[1]["i"], 1);
    assert_eq!(out[1]["k"], 7);
    assert_eq!(out[1]["n"], "M");
    // `$$.Execution` is the whole object, its Input included.
    assert_eq!(out[0]["e"]["Input"], json!({"items": ["a", "b"], "k": 7}));
    assert_eq!(out[0]["e"]["Name"], "ex");
    assert!(out[0]["e"].get("RedriveTime").is_none(), "only after a redrive");
}

#[test]
fn a_fail_state_without_error_or_cause_records_neither() {
    let (ex, _) = start(json!({"StartAt": "F", "States": {"F": {"Type": "Fail"}}}), json!({}));
    let last = ex.history().last().unwrap();
    assert_eq!(last.event_type, "ExecutionFailed");
    assert_eq!(last.details.as_ref().unwrap().1.to_value(), json!({}));
}

#[test]
fn runtime_causes_name_the_state_and_the_event_it_entered_at() {
    let def = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "InputPath": "$.missing", "End": true}}});
    let (ex, _) = start(def, json!({}));
    let Status::Failed(e) = ex.status() else { panic!() };
    assert_eq!(e.error, "States.Runtime");
    assert!(
        e.cause
            .starts_with("An error occurred while executing the state 'B' (entered at the event id #4). "),
        "{}",
        e.cause
    );
    let def = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"a.$": "$.big", "b.$": "$.big"}, "End": true}}});
    let (ex, _) = start(def, json!({"big": "x".repeat(150_000)}));
    let Status::Failed(e) = ex.status() else {
        panic!("{:?}", ex.status())
    };
    assert_eq!(e.error, "States.DataLimitExceeded");
    assert!(
        e.cause
            .starts_with("The state/task 'B' returned a result with a size exceeding"),
        "{}",
        e.cause
    );
}

#[test]
fn redrive_time_appears_in_the_context_after_a_redrive() {
    let def =
        json!({"StartAt": "T", "States": {"T": task(json!({"Parameters": {"r.$": "$$.Execution.RedriveTime"}}))}});
    let (mut ex, cmds) = start(def, json!({}));
    // Before a redrive the field does not exist: the path fails.
    assert!(invocations(&cmds).is_empty());
    assert!(matches!(ex.status(), Status::Failed(e) if e.error == "States.Runtime"));
    let cmds = ex.redrive(T0 + 1000).unwrap();
    assert_eq!(invocations(&cmds)[0].parameters["r"], iso_millis(T0 + 1000));
}

#[test]
fn json_size_matches_serde_and_bounds_depth() {
    for v in [
        json!(null),
        json!([]),
        json!({}),
        json!({"a": [1, 2.5, "x\"y\n", {"b": null}], "c": true, "é": "ü"}),
        json!([[[]], {"k": {}}]),
    ] {
        assert_eq!(json_size(&v), Some(v.to_string().len()), "{v}");
    }
    let mut deep = json!(1);
    for _ in 0..MAX_DEPTH + 1 {
        deep = json!([deep]);
    }
    assert_eq!(json_size(&deep), None);
}

#[test]
fn a_loop_that_nests_its_input_fails_instead_of_growing_without_end() {
    let def = json!({"StartAt": "Wrap", "States": {
        "Wrap": {"Type": "Pass", "Parameters": {"inner.$": "$"}, "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [{"Variable": "$.inner", "IsPresent": true, "Next": "Wrap"}], "Default": "End"},
        "End": {"Type": "Succeed"}}});
    let (ex, _) = start(def, json!({}));
    let Status::Failed(e) = ex.status() else {
        panic!("{:?}", ex.status())
    };
    assert_eq!(e.error, "States.DataLimitExceeded");
    assert!(e.cause.contains("nested deeper than 512 levels"), "{}", e.cause);
}

#[test]
fn an_indefinite_output_path_that_finds_nothing_fails() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": "$.missing[*]", "End": true}}});
    let (ex, _) = start(def, json!({"a": 1}));
    assert!(
        matches!(ex.status(), Status::Failed(e) if e.error == "States.Runtime"),
        "{:?}",
        ex.status()
    );
}

#[test]
fn context_reads_never_copy_the_execution_input_unless_asked() {
    use std::sync::atomic::Ordering;
    // The common Map shape: ItemSelector reading $$.Map.Item, a Choice on
    // $$.State, and an execution-input path; none copies the input.
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "k.$": "$$.Execution.Input.k"},
        "ItemProcessor": {"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$$.State.Name", "StringEquals": "C", "Next": "P"}], "Default": "P"},
            "P": {"Type": "Pass", "InputPath": "$$.Execution.Input.k", "End": true}}}, "End": true}}});
    let items: Vec<Value> = (0..1000).map(|i| json!({"id": i})).collect();
    let (ex, _) = start(def, json!({"items": items, "k": 7}));
    assert!(matches!(ex.status(), Status::Succeeded(_)), "{:?}", ex.status());
    assert_eq!(ex.full_contexts.load(Ordering::Relaxed), 0);
    // Reading `$$.Execution` whole does build it, once per read.
    let def =
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"e.$": "$$.Execution"}, "End": true}}});
    let (ex, _) = start(def, json!({"k": 1}));
    assert_eq!(ex.full_contexts.load(Ordering::Relaxed), 1);
}

/// Serialized payloads are shared between events (a state's output and the
/// next state's input, the last output and the execution's): each event
/// still carries exactly the JSON of its own value, and serializes (with
/// serde) to exactly what `to_json` gives.
#[test]
fn history_payloads_are_shared_and_serialize_as_their_json() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)", "s": "q\"é\n"}, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 2, "Next": "M"}], "Default": "F"},
        "F": {"Type": "Fail", "Error": "E"},
        "M": {"Type": "Map", "ItemsPath": "$$.Execution.Input.items", "ResultPath": "$.r", "Next": "P",
              "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
              "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "OutputPath": "$.v", "End": true}}}},
        "P": {"Type": "Parallel", "ResultPath": "$.p", "Next": "T",
              "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Fail", "Error": "X", "Cause": "c"}}}],
              "Catch": [{"ErrorEquals": ["X"], "ResultPath": "$.err", "Next": "T"}]},
        "T": task(json!({"ResultPath": "$.t"}))}});
    let (mut ex, cmds) = start(def, json!({"n": 1, "items": [{"a": 1}, [2], "3"]}));
    let inv = invocations(&cmds)[0].clone();
    ex.handle(
        Event::TaskSucceeded {
            token: inv.token,
            output: json!({"ok": true}),
        },
        T0 + 5,
    );
    let out = match ex.status() {
        Status::Succeeded(v) => v.clone(),
        s => panic!("{s:?}"),
    };
    let events: Vec<Value> = ex.history().iter().map(|e| e.to_json()).collect();
    for (e, j) in ex.history().iter().zip(&events) {
        assert_eq!(serde_json::to_string(e).unwrap(), j.to_string());
        if let Some((k, d)) = &e.details {
            assert_eq!(&d.to_value(), &j[*k]);
            assert_eq!(&d["name"], &j[*k]["name"]);
        }
    }
    // Each StateEntered input is the JSON of the value the state received.
    let detail = |e: &Value, k: &str, f: &str| -> Value {
        serde_json::from_str(e[k][f].as_str().expect("a serialized payload")).unwrap()
    };
    let entered = |name: &str| {
        events
            .iter()
            .find(|e| e["stateEnteredEventDetails"]["name"] == name)
            .map(|e| detail(e, "stateEnteredEventDetails", "input"))
            .unwrap()
    };
    assert_eq!(entered("A"), json!({"n": 1, "items": [{"a": 1}, [2], "3"]}));
    assert_eq!(entered("C"), json!({"n": 2, "s": "q\"é\n"}));
    assert_eq!(entered("M"), json!({"n": 2, "s": "q\"é\n"}));
    assert_eq!(entered("I"), json!({"v": {"a": 1}, "i": 0}));
    let r = json!([{"a": 1}, [2], "3"]);
    assert_eq!(entered("P"), json!({"n": 2, "s": "q\"é\n", "r": r}));
    assert_eq!(
        entered("T"),
        json!({"n": 2, "s": "q\"é\n", "r": r, "err": {"Error": "X", "Cause": "c"}})
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "ExecutionSucceeded");
    assert_eq!(detail(last, "executionSucceededEventDetails", "output"), out);
    let exited_t = events
        .iter()
        .find(|e| e["type"] == "TaskStateExited")
        .map(|e| detail(e, "stateExitedEventDetails", "output"))
        .unwrap();
    assert_eq!(exited_t, out);
}

/// Choice, Succeed and a plain Pass reuse their input's serialization for
/// StateExited, but their output is still checked like any other: an
/// ItemSelector can build an item over the limit, and the iteration's
/// first state fails on it.
#[test]
fn states_that_pass_their_input_through_still_check_its_size() {
    let big = "x".repeat(150_000);
    for item_state in [
        json!({"Type": "Pass", "End": true}),
        json!({"Type": "Succeed"}),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "Done"}]}),
    ] {
        let mut states = json!({"Item": item_state});
        if item_state["Type"] == "Choice" {
            states["Done"] = json!({"Type": "Succeed"});
        }
        let def = json!({"StartAt": "Each", "States": {"Each": {
            "Type": "Map", "ItemsPath": "$.items",
            "ItemSelector": {"a.$": "$$.Map.Item.Value", "b.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"StartAt": "Item", "States": states},
            "End": true}}});
        let (ex, _) = start(def.clone(), json!({"items": [big]}));
        let Status::Failed(e) = ex.status() else {
            panic!("{:?}", ex.status())
        };
        assert_eq!(e.error, "States.DataLimitExceeded", "{def}");
        assert!(
            e.cause
                .starts_with("The state/task 'Item' returned a result with a size exceeding"),
            "{}",
            e.cause
        );
        // Under the limit, the exit's output is the input, as serialized at entry.
        let (ex, _) = start(def.clone(), json!({"items": ["small"]}));
        assert_eq!(ex.status(), &Status::Succeeded(json!([{"a": "small", "b": "small"}])));
        let h = ex.history();
        let entered = h
            .iter()
            .find(|e| e.event_type.ends_with("StateEntered") && e.id > 3)
            .unwrap();
        let exited = h
            .iter()
            .find(|e| e.event_type.ends_with("StateExited") && e.id > 3)
            .unwrap();
        let (entered, exited) = (entered.to_json(), exited.to_json());
        assert_eq!(
            entered["stateEnteredEventDetails"]["input"],
            exited["stateExitedEventDetails"]["output"]
        );
        assert_eq!(
            exited["stateExitedEventDetails"]["output"],
            r#"{"a":"small","b":"small"}"#
        );
    }
}

#[test]
fn task_events_have_aws_shapes_and_serialize_as_to_json_does() {
    let def = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f", "n.$": "$.n"},
        "TimeoutSeconds": 30, "HeartbeatSeconds": 10, "End": true}}});
    let (mut ex, cmds) = start(def, json!({"n": 1}));
    let token = invocations(&cmds)[0].token;
    ex.handle(Event::TaskStarted { token, worker: None }, T0 + 1);
    ex.handle(
        Event::TaskSucceeded {
            token,
            output: json!({"ok": [1, 2]}),
        },
        T0 + 2,
    );
    let events: Vec<Value> = ex.history().iter().map(HistoryEvent::to_json).collect();
    let detail = |ty: &str, key: &str| {
        let e = events
            .iter()
            .find(|e| e["type"] == ty)
            .unwrap_or_else(|| panic!("no {ty}"));
        e[key].to_string()
    };
    // Keys in AWS's order, payloads as JSON text.
    assert_eq!(
        detail("TaskScheduled", "taskScheduledEventDetails"),
        r#"{"resourceType":"lambda","resource":"invoke","region":"us-east-1","parameters":"{\"FunctionName\":\"f\",\"n\":1}","timeoutInSeconds":30,"heartbeatInSeconds":10}"#
    );
    assert_eq!(
        detail("TaskStarted", "taskStartedEventDetails"),
        r#"{"resourceType":"lambda","resource":"invoke"}"#
    );
    assert_eq!(
        detail("TaskSucceeded", "taskSucceededEventDetails"),
        r#"{"resourceType":"lambda","resource":"invoke","output":"{\"ok\":[1,2]}","outputDetails":{"truncated":false}}"#
    );
    // Serialize (what `aslan run --history` and the store write) gives the
    // same bytes as `to_json`, and indexing the typed details works.
    for e in ex.history() {
        assert_eq!(serde_json::to_string(e).unwrap(), e.to_json().to_string());
    }
    let scheduled = ex.history().iter().find(|e| e.event_type == "TaskScheduled").unwrap();
    assert_eq!(scheduled.details.as_ref().unwrap().1["region"], "us-east-1");
    // Any other ARN: its service, then the whole ARN.
    assert_eq!(
        history::resource_parts("arn:aws:lambda:us-east-1:1:function:f"),
        ("lambda", "arn:aws:lambda:us-east-1:1:function:f")
    );
    assert_eq!(
        history::resource_parts("arn:aws:states:::eks:runJob.sync"),
        ("eks", "runJob.sync")
    );
}

#[test]
fn a_failed_result_path_or_size_check_keeps_the_state_input() {
    let big = json!({"blob": "x".repeat(300 * 1024)});
    // Caught: the result fits, the input with the result at its
    // ResultPath does not; the catcher's ResultPath sees the state's input.
    let def = json!({"StartAt": "T", "States": {
        "T": task(json!({"ResultPath": "$.r", "Catch": [
            {"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": "$.error", "Next": "Done"}]})),
        "Done": {"Type": "Succeed"}}});
    let (mut ex, cmds) = start(def, json!({"keep": 1, "half": "y".repeat(150 * 1024)}));
    let token = invocations(&cmds)[0].token;
    let half = json!("z".repeat(150 * 1024));
    ex.handle(Event::TaskSucceeded { token, output: half }, T0 + 1);
    let Status::Succeeded(out) = ex.status() else {
        panic!("{:?}", ex.status())
    };
    assert_eq!(out["keep"], 1, "{out}");
    assert_eq!(out["error"]["Error"], "States.DataLimitExceeded");

    // Retried: the retry gets the same parameters.
    let def = json!({"StartAt": "T", "States": {"T": task(json!({
        "Parameters": {"k.$": "$.keep"},
        "ResultPath": "$.a.b",
        "Retry": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "IntervalSeconds": 1}]}))}});
    let (mut ex, cmds) = start(def, json!({"keep": 2, "a": 5}));
    let token = invocations(&cmds)[0].token;
    let cmds = ex.handle(
        Event::TaskSucceeded {
            token,
            output: json!(1),
        },
        T0 + 1,
    );
    let (timer, at) = timers(&cmds)[0];
    let cmds = ex.handle(Event::TimerFired { token: timer }, at);
    assert_eq!(invocations(&cmds)[0].parameters, json!({"k": 2}));

    // Failed at the top: a redrive starts the state again from its input.
    let def = json!({"StartAt": "T", "States": {"T": task(json!({"Parameters": {"k.$": "$.keep"}}))}});
    let (mut ex, cmds) = start(def, json!({"keep": 3}));
    let token = invocations(&cmds)[0].token;
    ex.handle(Event::TaskSucceeded { token, output: big }, T0 + 1);
    assert!(matches!(ex.status(), Status::Failed(e) if e.error == "States.DataLimitExceeded"));
    let cmds = ex.redrive(T0 + 2).expect("redrivable");
    assert_eq!(invocations(&cmds)[0].parameters, json!({"k": 3}));

    // A catcher whose own ResultPath fails: the redrive still has the input.
    let def = json!({"StartAt": "T", "States": {
        "T": task(json!({"Parameters": {"k.$": "$.keep"},
            "Catch": [{"ErrorEquals": ["E"], "ResultPath": "$.a.b", "Next": "Done"}]})),
        "Done": {"Type": "Succeed"}}});
    let (mut ex, cmds) = start(def, json!({"keep": 4, "a": 5}));
    let token = invocations(&cmds)[0].token;
    let error = StateError::new("E", "");
    ex.handle(Event::TaskFailed { token, error }, T0 + 1);
    assert!(matches!(ex.status(), Status::Failed(e) if e.error == "States.ResultPathMatchFailure"));
    let cmds = ex.redrive(T0 + 2).expect("redrivable");
    assert_eq!(invocations(&cmds)[0].parameters, json!({"k": 4}));
}

#[test]
fn history_events_stay_small() {
    // Every state records several events: a large variant in `Details`
    // would make each of them larger (and the history's memory traffic).
    assert!(
        std::mem::size_of::<HistoryEvent>() <= 112,
        "{}",
        std::mem::size_of::<HistoryEvent>()
    );
}

#[test]
fn a_long_run_hands_control_back_every_step_budget_and_goes_on() {
    let def = json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": {"i": 0}, "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": 12_000, "Next": "Inc"}], "Default": "Done"},
        "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
        "Done": {"Type": "Succeed"}}});
    let (mut ex, mut cmds) = start(def, json!({}));
    let mut steps = 1;
    while *ex.status() == Status::Running {
        let t = timers(&cmds);
        assert_eq!(t.len(), 1, "{cmds:?}");
        assert_eq!(t[0].1, T0, "the step resumes at once");
        assert!(
            ex.transitions() <= steps * (STEP_BUDGET as u64 + 1),
            "{} after {steps} steps",
            ex.transitions()
        );
        // A snapshot taken between steps resumes too.
        let snap = serde_json::to_vec(&ex).unwrap();
        let back: Execution = serde_json::from_slice(&snap).unwrap();
        ex = back.restore(ex.machine().clone(), json!({}));
        cmds = ex.handle(Event::TimerFired { token: t[0].0 }, T0);
        steps += 1;
    }
    assert_eq!(*ex.status(), Status::Succeeded(json!({"i": 12_000})));
    assert_eq!(steps, 3, "24,002 states in steps of 10,000");
}

#[test]
fn a_loop_of_parallel_states_uses_up_the_step_budget_too() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Parallel", "Next": "A", "OutputPath": "$[0]",
              "Branches": [{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}]},
        "Done": {"Type": "Succeed"}}});
    let (mut ex, cmds) = start(def, json!({}));
    let t = timers(&cmds);
    assert_eq!(t.len(), 1, "the first step ends with a resume timer");
    assert!(ex.transitions() <= STEP_BUDGET as u64 + 1, "{}", ex.transitions());
    // Stopping it between steps ends it.
    ex.handle(
        Event::Stop {
            error: None,
            cause: None,
        },
        T0 + 1,
    );
    assert!(matches!(ex.status(), Status::Aborted(_)));
}

#[test]
fn a_redriven_inline_map_reruns_only_the_iterations_that_did_not_succeed() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 2, "End": true,
        "ItemProcessor": {"StartAt": "T", "States": {"T": task(json!({}))}}}}});
    let (mut ex, cmds) = start(def, json!([1, 2, 3, 4]));
    let invs: Vec<TaskInvocation> = invocations(&cmds).into_iter().cloned().collect();
    assert_eq!(invs.len(), 2);
    // Item 1 succeeds, item 2 fails (3 and 4 never start).
    let cmds = ex.handle(
        Event::TaskSucceeded {
            token: invs[0].token,
            output: json!("one"),
        },
        T0,
    );
    let started: Vec<TaskInvocation> = invocations(&cmds).into_iter().cloned().collect();
    ex.handle(
        Event::TaskFailed {
            token: invs[1].token,
            error: StateError::new("E", ""),
        },
        T0,
    );
    assert!(matches!(ex.status(), Status::Failed(_)));
    assert_eq!(started.len(), 1, "item 3 started after item 1");
    // Through a snapshot, as the executor keeps it.
    let snap = serde_json::to_vec(&ex).unwrap();
    let m = ex.machine().clone();
    let mut ex: Execution = serde_json::from_slice::<Execution>(&snap)
        .unwrap()
        .restore(m, json!([1, 2, 3, 4]));
    let cmds = ex.redrive(T0 + 1).unwrap();
    let mut queue: Vec<TaskInvocation> = invocations(&cmds).into_iter().cloned().collect();
    let mut ran = Vec::new();
    while let Some(inv) = queue.pop() {
        ran.push(inv.parameters.clone());
        let output = json!(inv.parameters.as_i64().unwrap() * 10);
        let cmds = ex.handle(
            Event::TaskSucceeded {
                token: inv.token,
                output,
            },
            T0 + 2,
        );
        queue.extend(invocations(&cmds).into_iter().cloned());
    }
    ran.sort_by_key(|v| v.as_i64());
    assert_eq!(ran, [json!(2), json!(3), json!(4)], "item 1 is not run again");
    assert_eq!(ex.status(), &Status::Succeeded(json!(["one", 20, 30, 40])));
}
