//! JSONata states, built from the examples of AWS's "Transforming data with
//! JSONata" page and the state pages, and AWS's error shapes.

use super::tests::{start, types, T0};
use super::*;
use serde_json::json;

/// A one-state JSONata machine.
fn one(state: Value) -> Value {
    json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": state}})
}

pub(super) fn invocation(cmds: &[Command]) -> &TaskInvocation {
    cmds.iter()
        .find_map(|c| match c {
            Command::InvokeTask(i) => Some(&**i),
            _ => None,
        })
        .expect("a task invocation")
}

pub(super) fn succeeded(ex: &Execution) -> &Value {
    match ex.status() {
        Status::Succeeded(v) => v,
        s => panic!("{s:?}"),
    }
}

pub(super) fn failed(ex: &Execution) -> &StateError {
    match ex.status() {
        Status::Failed(e) => e,
        s => panic!("{s:?}"),
    }
}

pub(super) fn problems(def: Value) -> Vec<String> {
    match Machine::compile(&def) {
        Ok(_) => Vec::new(),
        Err(e) => {
            e.0.iter()
                .map(|d| format!("{} {}: {}", d.location, d.code, d.message))
                .collect()
        }
    }
}

#[test]
fn arguments_evaluate_expressions_and_leave_other_strings_alone() {
    // AWS's conversion example (without the variable).
    let (ex, cmds) = start(
        one(
            json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
            "Arguments": {"static": "Hello", "title": "{% $states.input.title %}",
                          "not-evaluated": "$customerName", "n": ["{% 1 + 1 %}", 3]}}),
        ),
        json!({"title": "Doctor"}),
    );
    assert_eq!(
        invocation(&cmds).parameters,
        json!({"static": "Hello", "title": "Doctor", "not-evaluated": "$customerName", "n": [2, 3]})
    );
    assert_eq!(*ex.status(), Status::Running);
}

#[test]
fn task_output_reads_the_result_and_defaults_to_it() {
    let def = one(
        json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
        "Output": {"id": "{% $states.result.Payload.id %}", "was": "{% $states.input.x %}"}}),
    );
    let (mut ex, cmds) = start(def, json!({"x": 1}));
    let token = invocation(&cmds).token;
    assert_eq!(invocation(&cmds).parameters, json!({"x": 1}), "no Arguments: the input");
    ex.handle(
        Event::TaskSucceeded {
            token,
            output: json!({"Payload": {"id": 7, "big": [1, 2, 3]}}),
        },
        T0,
    );
    assert_eq!(succeeded(&ex), &json!({"id": 7, "was": 1}));

    let (mut ex, cmds) = start(
        one(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true})),
        json!({"x": 1}),
    );
    let token = invocation(&cmds).token;
    ex.handle(
        Event::TaskSucceeded {
            token,
            output: json!({"r": 2}),
        },
        T0,
    );
    assert_eq!(succeeded(&ex), &json!({"r": 2}), "no Output: the result");
}

#[test]
fn pass_and_succeed_output() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"sum": "{% $sum($states.input.xs) %}", "lit": true}, "Next": "D"},
        "D": {"Type": "Succeed", "Output": "{% $states.input.sum * 2 %}"}}});
    let (ex, _) = start(def, json!({"xs": [1, 2, 3]}));
    assert_eq!(succeeded(&ex), &json!(12));
    let (ex, _) = start(one(json!({"Type": "Pass", "End": true})), json!({"a": [1]}));
    assert_eq!(succeeded(&ex), &json!({"a": [1]}), "no Output: the input");
}

#[test]
fn choice_conditions_pick_a_rule_and_its_output() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "C", "States": {
        "C": {"Type": "Choice", "Default": "Other", "Output": {"default": true},
              "Choices": [
                {"Condition": "{% $states.input.n > 10 %}", "Next": "Big", "Output": {"big": "{% $states.input.n %}"}},
                {"Condition": "{% $states.input.n = 5 %}", "Next": "Five"}]},
        "Big": {"Type": "Succeed"}, "Five": {"Type": "Succeed"}, "Other": {"Type": "Succeed"}}});
    let (ex, _) = start(def.clone(), json!({"n": 11}));
    assert_eq!(succeeded(&ex), &json!({"big": 11}));
    let (ex, _) = start(def.clone(), json!({"n": 5}));
    assert_eq!(
        succeeded(&ex),
        &json!({"n": 5}),
        "a rule without Output passes the input"
    );
    let (ex, _) = start(def.clone(), json!({"n": 1}));
    assert_eq!(
        succeeded(&ex),
        &json!({"default": true}),
        "Default takes the state's Output"
    );
    // A Condition that is not a boolean.
    let (ex, _) = start(def, json!({"n": "x"}));
    let e = failed(&ex);
    assert_eq!(e.error, "States.QueryEvaluationError");
    assert!(
        e.cause.contains("'Choices/0/Condition'") || e.cause.contains("threw an error"),
        "{}",
        e.cause
    );
}

#[test]
fn an_undefined_value_fails_the_state_with_its_location() {
    let (ex, _) = start(
        one(json!({"Type": "Pass", "End": true, "Output": {"r": "{% $states.input.nope %}"}})),
        json!({}),
    );
    let e = failed(&ex);
    assert_eq!(e.error, "States.QueryEvaluationError");
    assert_eq!(
        e.cause,
        "An error occurred while executing the state 'S' (entered at the event id #2). The JSONata expression '$states.input.nope' specified for the field 'Output/r' returned nothing (undefined)."
    );
    assert_eq!(
        types(&ex),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "EvaluationFailed",
            "ExecutionFailed"
        ]
    );
    let d = &ex.history()[2].to_json()["evaluationFailedEventDetails"];
    assert_eq!(d["state"], "S");
    assert_eq!(d["location"], "Output/r");
    assert_eq!(d["error"], "States.QueryEvaluationError");
    // An expression that raises an error: its JSONata code and message.
    let (ex, _) = start(
        one(json!({"Type": "Pass", "End": true, "Output": "{% $states.input.s + 1 %}"})),
        json!({"s": "x"}),
    );
    assert!(
        failed(&ex).cause.contains("threw an error during evaluation. T2001"),
        "{}",
        failed(&ex).cause
    );
}

#[test]
fn retry_and_catch_handle_query_evaluation_errors() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
              "Arguments": {"x": "{% $states.input.missing %}"},
              "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "H",
                         "Output": {"caught": "{% $states.errorOutput.Error %}", "in": "{% $states.input %}"}}]},
        "H": {"Type": "Pass", "End": true}}});
    let (ex, cmds) = start(def, json!({"a": 1}));
    assert!(cmds.is_empty(), "nothing is scheduled");
    assert_eq!(
        succeeded(&ex),
        &json!({"caught": "States.QueryEvaluationError", "in": {"a": 1}})
    );
    let t = types(&ex);
    assert_eq!(&t[1..4], ["TaskStateEntered", "EvaluationFailed", "TaskStateExited"]);
    // A catcher without Output passes the error output.
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]},
        "H": {"Type": "Pass", "End": true}}});
    let (mut ex, cmds) = start(def, json!({}));
    let token = invocation(&cmds).token;
    ex.handle(
        Event::TaskFailed {
            token,
            error: StateError::new("Boom", "bad"),
        },
        T0,
    );
    assert_eq!(succeeded(&ex), &json!({"Error": "Boom", "Cause": "bad"}));
}

#[test]
fn wait_and_task_numbers_may_be_expressions() {
    let (_, cmds) = start(
        one(json!({"Type": "Wait", "Seconds": "{% $states.input.s * 2 %}", "End": true})),
        json!({"s": 5}),
    );
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::StartTimer { fire_at_ms, .. } if *fire_at_ms == T0 + 10_000)));
    let (_, cmds) = start(
        one(json!({"Type": "Wait", "Timestamp": "{% $states.input.t %}", "End": true})),
        json!({"t": "2030-01-01T00:00:00Z"}),
    );
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::StartTimer { fire_at_ms, .. } if *fire_at_ms == 1_893_456_000_000)));
    let (_, cmds) = start(
        one(
            json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
            "TimeoutSeconds": "{% $states.input.t %}", "HeartbeatSeconds": 2}),
        ),
        json!({"t": 30}),
    );
    assert_eq!(invocation(&cmds).timeout_seconds, Some(30));
    assert_eq!(invocation(&cmds).heartbeat_seconds, Some(2));
    let (ex, _) = start(
        one(json!({"Type": "Wait", "Seconds": "{% $states.input.s %}", "End": true})),
        json!({"s": -1}),
    );
    assert!(
        failed(&ex).cause.contains("Expected 'non-negative integer'"),
        "{}",
        failed(&ex).cause
    );
}

#[test]
fn map_items_and_item_selector_read_the_context() {
    let def = one(json!({"Type": "Map", "End": true,
        "Items": "{% $states.input.orders %}",
        "ItemSelector": {"v": "{% $states.context.Map.Item.Value.id %}", "i": "{% $states.context.Map.Item.Index %}", "who": "{% $states.input.who %}"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "Output": {"n": "{% $count($states.result) %}", "all": "{% $states.result %}"}}));
    let (ex, _) = start(def, json!({"who": "me", "orders": [{"id": "a"}, {"id": "b"}]}));
    assert_eq!(
        succeeded(&ex),
        &json!({"n": 2, "all": [{"v": "a", "i": 0, "who": "me"}, {"v": "b", "i": 1, "who": "me"}]})
    );
    // Without Items the input must be an array.
    let def = one(json!({"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}));
    let (ex, _) = start(def.clone(), json!([1, 2]));
    assert_eq!(succeeded(&ex), &json!([1, 2]));
    let (ex, _) = start(def, json!({"a": 1}));
    assert!(
        failed(&ex).cause.contains("Map state input must be an array"),
        "{}",
        failed(&ex).cause
    );
    // Items that is not an array; MaxConcurrency as an expression.
    let def = one(json!({"Type": "Map", "End": true, "Items": "{% $states.input.it %}",
        "MaxConcurrency": "{% $states.input.mc %}",
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}}}));
    let (ex, _) = start(def.clone(), json!({"it": {"a": 1}, "mc": 1}));
    assert!(
        failed(&ex).cause.contains("Expected 'array', but was 'object'"),
        "{}",
        failed(&ex).cause
    );
    let (_, cmds) = start(def.clone(), json!({"it": [1, 2, 3], "mc": 2}));
    let started = cmds.iter().filter(|c| matches!(c, Command::InvokeTask(_))).count();
    assert_eq!(started, 2, "MaxConcurrency 2 starts two of three iterations");
    let (ex, _) = start(def, json!({"it": [1], "mc": -1}));
    assert!(failed(&ex).cause.contains("'MaxConcurrency'"), "{}", failed(&ex).cause);
}

#[test]
fn parallel_arguments_feed_every_branch() {
    let def = one(
        json!({"Type": "Parallel", "End": true, "Arguments": {"k": "{% $states.input.k %}"},
        "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Output": "{% $states.input.k + 1 %}", "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}],
        "Output": "{% $states.result[0] %}"}),
    );
    let (ex, _) = start(def, json!({"k": 41, "other": 0}));
    assert_eq!(succeeded(&ex), &json!(42));
}

#[test]
fn fail_error_and_cause_may_be_expressions() {
    let (ex, _) = start(
        one(json!({"Type": "Fail", "Error": "{% 'E.' & $states.input.code %}", "Cause": "plain"})),
        json!({"code": "Bad"}),
    );
    assert_eq!(
        (failed(&ex).error.as_str(), failed(&ex).cause.as_str()),
        ("E.Bad", "plain")
    );
}

#[test]
fn aws_functions_and_the_clock() {
    let out = |expr: &str| {
        let (ex, _) = start(one(json!({"Type": "Pass", "End": true, "Output": expr})), json!({}));
        succeeded(&ex).clone()
    };
    assert_eq!(out("{% $partition([1,2,3,4,5], 2) %}"), json!([[1, 2], [3, 4], [5]]));
    assert_eq!(out("{% $range(0, 10, 3) %}"), json!([0, 3, 6, 9]));
    assert_eq!(out("{% $range(5, 1, -2) %}"), json!([5, 3, 1]));
    let (ex, _) = start(
        one(json!({"Type": "Pass", "End": true, "Output": "{% $range(0, 5000, 1) %}"})),
        json!({}),
    );
    assert!(
        failed(&ex).cause.contains("at most 1000 items"),
        "{}",
        failed(&ex).cause
    );
    assert_eq!(
        out("{% $hash('abc', 'MD5') %}"),
        json!("900150983cd24fb0d6963f7d28e17f72")
    );
    assert_eq!(
        out("{% $hash('abc', 'SHA-256') %}"),
        json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(out("{% $parse('{\"a\":[1]}') %}"), json!({"a": [1]}));
    assert_eq!(out("{% $random(7) = $random(7) %}"), json!(true));
    let r = out("{% $random() %}").as_f64().unwrap();
    assert!((0.0..1.0).contains(&r));
    let u = out("{% $uuid() %}");
    let u = u.as_str().unwrap();
    assert_eq!((u.len(), &u[14..15]), (36, "4"), "{u}");
    assert_eq!(out("{% $millis() %}"), json!(T0), "the execution's clock");
    let (ex, _) = start(
        one(json!({"Type": "Pass", "End": true, "Output": "{% $eval('1') %}"})),
        json!({}),
    );
    assert!(failed(&ex).cause.contains("use $parse"), "{}", failed(&ex).cause);
    // The same execution (same seed) draws the same numbers.
    assert_eq!(out("{% $uuid() %}"), out("{% $uuid() %}"));
}

#[test]
fn states_inherit_the_top_level_language_and_mix_per_state() {
    // A JSONPath machine with one JSONata state.
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"x.$": "$.v"}, "Next": "B"},
        "B": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.x * 3 %}", "End": true}}});
    let (ex, _) = start(def, json!({"v": 2}));
    assert_eq!(succeeded(&ex), &json!(6));
    // Map iterations take the machine's language.
    let def = one(json!({"Type": "Map", "End": true, "Items": [1, 2],
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% $states.input * 10 %}", "End": true}}}}));
    let (ex, _) = start(def, json!({}));
    assert_eq!(succeeded(&ex), &json!([10, 20]));
}

#[test]
fn validation_reports_each_misuse_with_its_location() {
    let p = problems(json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "B",
              "Parameters": {"a.$": "$.a"}, "ResultPath": "$.r",
              "Arguments": {"bad": "{% $states.result %}"},
              "Output": {"syntax": "{% $states.input. %}", "open": "{% 1"}},
        "B": {"Type": "Pass", "QueryLanguage": "JSONPath", "Output": {"x": 1}, "Next": "C"},
        "C": {"Type": "Pass", "Output": "{% $states.errorOutput %}", "Assign": {"v": 1}, "End": true}}}));
    let has = |needle: &str| assert!(p.iter().any(|x| x.contains(needle)), "{needle} not in {p:#?}");
    has("/States/A/Parameters SCHEMA_VALIDATION_FAILED: field 'Parameters' is not supported when QueryLanguage is JSONata");
    has("/States/A/ResultPath SCHEMA_VALIDATION_FAILED: field 'ResultPath' is not supported when QueryLanguage is JSONata");
    has("/States/A/Arguments SCHEMA_VALIDATION_FAILED: $states.result is only available in the Output of a Task, Parallel or Map state");
    has("/States/A/Output/syntax INVALID_JSONATA");
    has("/States/A/Output/open INVALID_JSONATA: a JSONata expression must end with '%}'");
    has("/States/B/QueryLanguage SCHEMA_VALIDATION_FAILED: 'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine");
    has("/States/C/Output SCHEMA_VALIDATION_FAILED: $states.errorOutput is only available in the Output of a catcher");
    // The reverse: JSONata fields in a JSONPath state.
    let p = problems(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Output": "{% 1 %}", "End": true}}}));
    assert_eq!(
        p,
        ["/States/A/Output SCHEMA_VALIDATION_FAILED: field 'Output' is not supported when QueryLanguage is JSONPath"]
    );
    // In a JSONPath state, `{% %}` is just a string.
    let (ex, _) = start(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "{% 1 %}", "End": true}}}),
        json!({}),
    );
    assert_eq!(succeeded(&ex), &json!("{% 1 %}"));
}

#[test]
fn a_snapshot_of_a_jsonata_execution_resumes() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "P",
              "Output": {"r": "{% $states.result %}", "i": "{% $states.input.i %}"}},
        "P": {"Type": "Pass", "Output": "{% $states.input.r + $states.input.i %}", "End": true}}});
    let (ex, cmds) = start(def.clone(), json!({"i": 1}));
    let token = invocation(&cmds).token;
    let snap = serde_json::to_vec(&ex).unwrap();
    let m = Arc::new(Machine::compile(&def).unwrap());
    let back: Execution = serde_json::from_slice(&snap).unwrap();
    let mut ex = back.restore(m, json!({"i": 1}));
    ex.handle(
        Event::TaskSucceeded {
            token,
            output: json!(41),
        },
        T0,
    );
    assert_eq!(succeeded(&ex), &json!(42));
}

#[test]
fn assign_sees_the_values_of_the_state_entry_and_the_next_state_sees_the_new_ones() {
    // AWS's example: with x = 3 and a = 6, {"x": "{% $a %}", "nextX": "{% $x %}"} gives x = 6, nextX = 3.
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"x": 3, "a": 6}, "Next": "Swap"},
        "Swap": {"Type": "Pass", "Assign": {"x": "{% $a %}", "nextX": "{% $x %}"},
                 "Output": {"sawX": "{% $x %}"}, "Next": "Read"},
        "Read": {"Type": "Pass", "Output": {"x": "{% $x %}", "nextX": "{% $nextX %}", "before": "{% $states.input.sawX %}"}, "End": true}}});
    let (ex, _) = start(def, json!({}));
    assert_eq!(succeeded(&ex), &json!({"x": 6, "nextX": 3, "before": 3}));
    let exited = ex
        .history()
        .iter()
        .find(|e| e.event_type == "PassStateExited")
        .unwrap()
        .to_json();
    let d = &exited["stateExitedEventDetails"];
    assert_eq!(d["name"], "Init");
    assert_eq!(d["assignedVariables"], json!({"x": "3", "a": "6"}));
    assert_eq!(d["assignedVariablesDetails"], json!({"truncated": false}));
    assert_eq!(d["output"], "{}");
}

#[test]
fn tasks_assign_from_their_result_and_catchers_assign_instead() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done",
              "Assign": {"id": "{% $states.result.id %}"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done", "Assign": {"failed": "{% $states.errorOutput.Error %}"}}]},
        "Done": {"Type": "Pass", "Output": {"id": "{% $id %}", "failed": "{% $exists($failed) %}"}, "End": true}}});
    let (mut ex, cmds) = start(def.clone(), json!({}));
    ex.handle(
        Event::TaskSucceeded {
            token: invocation(&cmds).token,
            output: json!({"id": "r-1"}),
        },
        T0,
    );
    assert_eq!(succeeded(&ex), &json!({"id": "r-1", "failed": false}));
    let (mut ex, cmds) = start(
        json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done",
                  "Assign": {"id": "{% $states.result.id %}"},
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done", "Assign": {"failed": "{% $states.errorOutput.Error %}"}}]},
            "Done": {"Type": "Pass", "Output": {"failed": "{% $failed %}", "id": "{% $exists($id) %}"}, "End": true}}}),
        json!({}),
    );
    ex.handle(
        Event::TaskFailed {
            token: invocation(&cmds).token,
            error: StateError::new("Boom", ""),
        },
        T0,
    );
    assert_eq!(succeeded(&ex), &json!({"failed": "Boom", "id": false}));
    // The catcher's assignment is on the failing state's exit event.
    let exited = ex
        .history()
        .iter()
        .find(|e| e.event_type == "TaskStateExited")
        .unwrap()
        .to_json();
    assert_eq!(
        exited["stateExitedEventDetails"]["assignedVariables"],
        json!({"failed": "\"Boom\""})
    );
}

#[test]
fn inner_scopes_read_outer_variables_and_keep_their_own() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"rate": 2}, "Next": "Each"},
        "Each": {"Type": "Map", "Items": [1, 2, 3], "Next": "After",
                 "ItemProcessor": {"StartAt": "Own", "States": {
                     "Own": {"Type": "Pass", "Assign": {"mine": "{% $states.input * $rate %}"}, "Next": "Use"},
                     "Use": {"Type": "Pass", "Output": "{% $mine + $rate %}", "End": true}}}},
        "After": {"Type": "Pass", "Output": {"r": "{% $states.input %}", "leaked": "{% $exists($mine) %}"}, "End": true}}});
    let (ex, _) = start(def, json!({}));
    assert_eq!(succeeded(&ex), &json!({"r": [4, 6, 8], "leaked": false}));
    // An inner scope may not assign a variable its enclosing scope assigns.
    let p = problems(json!({"QueryLanguage": "JSONata", "StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"rate": 2}, "Next": "Each"},
        "Each": {"Type": "Map", "End": true,
                 "ItemProcessor": {"StartAt": "Own", "States": {
                     "Own": {"Type": "Pass", "Assign": {"rate": 3}, "End": true}}}}}}));
    assert_eq!(
        p,
        ["/States/Each/ItemProcessor/States/Own/Assign/rate SCHEMA_VALIDATION_FAILED: variable 'rate' is assigned in an enclosing scope: a Parallel branch or Map iteration may read it, not assign it"]
    );
}

#[test]
fn variable_names_limits_and_unassigned_reads() {
    let p = problems(one(
        json!({"Type": "Pass", "End": true, "Assign": {"states": 1, "1x": 2, "ok_1": 3}}),
    ));
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].contains("'states' is reserved"), "{p:#?}");
    assert!(p[1].contains("'1x' is not a variable name"), "{p:#?}");
    // A variable over 256 KiB.
    let (ex, _) = start(
        one(json!({"Type": "Pass", "End": true, "Assign": {"big": "{% $pad('', 300000, 'x') %}"}})),
        json!({}),
    );
    assert_eq!(failed(&ex).error, "States.DataLimitExceeded");
    // Reading a variable never assigned fails at run time.
    let (ex, _) = start(
        one(json!({"Type": "Pass", "End": true, "Output": "{% $never %}"})),
        json!({}),
    );
    assert!(
        failed(&ex).cause.contains("returned nothing (undefined)"),
        "{}",
        failed(&ex).cause
    );
}

#[test]
fn variables_survive_a_snapshot_and_a_redrive() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"who": "{% $states.input.who %}"}, "Next": "Work"},
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                 "Output": {"who": "{% $who %}", "r": "{% $states.result %}"}}}});
    let (ex, cmds) = start(def.clone(), json!({"who": "ada"}));
    let token = invocation(&cmds).token;
    let snap = serde_json::to_vec(&ex).unwrap();
    let m = Arc::new(Machine::compile(&def).unwrap());
    let back: Execution = serde_json::from_slice(&snap).unwrap();
    let mut ex = back.restore(m.clone(), json!({"who": "ada"}));
    ex.handle(
        Event::TaskFailed {
            token,
            error: StateError::new("Boom", ""),
        },
        T0,
    );
    assert_eq!(failed(&ex).error, "Boom");
    // The redrive runs Work again, with the variable set before it failed.
    let snap = serde_json::to_vec(&ex).unwrap();
    let back: Execution = serde_json::from_slice(&snap).unwrap();
    let mut ex = back.restore(m, json!({"who": "ada"}));
    let cmds = ex.redrive(T0 + 1).expect("a failed execution redrives");
    ex.handle(
        Event::TaskSucceeded {
            token: invocation(&cmds).token,
            output: json!(1),
        },
        T0 + 2,
    );
    assert_eq!(succeeded(&ex), &json!({"who": "ada", "r": 1}));
}

#[test]
fn an_execution_holds_at_most_10_mib_of_variables() {
    // 42 states, each setting its own 250,000-byte variable: the 42nd goes over.
    let mut states = serde_json::Map::new();
    for i in 0..42 {
        let next = if i == 41 {
            json!({"End": true})
        } else {
            json!({"Next": format!("S{}", i + 1)})
        };
        let mut s = json!({"Type": "Pass", "Assign": {format!("v{i}"): "{% $pad('', 250000, 'x') %}"}});
        s.as_object_mut().unwrap().extend(next.as_object().unwrap().clone());
        states.insert(format!("S{i}"), s);
    }
    let (ex, _) = start(
        json!({"QueryLanguage": "JSONata", "StartAt": "S0", "States": states}),
        json!({}),
    );
    let e = failed(&ex);
    assert_eq!(e.error, "States.DataLimitExceeded");
    assert!(e.cause.contains("at most 10485760 bytes"), "{}", e.cause);
    let entered = ex
        .history()
        .iter()
        .filter(|e| e.event_type == "PassStateEntered")
        .count();
    assert_eq!(entered, 42);
}

#[test]
fn review_edges_of_variables_and_fields() {
    // A variable named after a built-in function shadows it, as in jsonata-js.
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"count": 41, "empty": {}}, "Next": "B"},
        "B": {"Type": "Pass", "Assign": {}, "Output": "{% $count + 1 %}", "End": true}}});
    let (ex, _) = start(def, json!({}));
    assert_eq!(succeeded(&ex), &json!(42));
    let b = ex
        .history()
        .iter()
        .rfind(|e| e.event_type == "PassStateExited")
        .unwrap()
        .to_json();
    assert!(
        b["stateExitedEventDetails"].get("assignedVariables").is_none(),
        "an empty Assign records nothing"
    );
    // A state that fails after computing its Assign does not assign; its catcher does.
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done",
              "Assign": {"x": 1}, "Output": "{% $states.result.nope %}",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done", "Assign": {"y": 2}}]},
        "Done": {"Type": "Pass", "Output": {"x": "{% $exists($x) %}", "y": "{% $y %}"}, "End": true}}});
    let (mut ex, cmds) = start(def, json!({}));
    ex.handle(
        Event::TaskSucceeded {
            token: invocation(&cmds).token,
            output: json!({}),
        },
        T0,
    );
    assert_eq!(succeeded(&ex), &json!({"x": false, "y": 2}));
    // Literal fields of the wrong type are validation errors.
    let p = problems(json!({"QueryLanguage": "JSONata", "StartAt": "M", "States": {
        "M": {"Type": "Map", "Items": {"a": 1}, "Next": "C",
              "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}},
        "C": {"Type": "Choice", "Choices": [{"Condition": "true", "Next": "E"}]},
        "E": {"Type": "Succeed"}}}));
    assert!(
        p.iter()
            .any(|x| x.starts_with("/States/M/Items SCHEMA_VALIDATION_FAILED")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|x| x.starts_with("/States/C/Choices/0/Condition SCHEMA_VALIDATION_FAILED")),
        "{p:#?}"
    );
    // A Wait longer than AWS allows.
    let (ex, _) = start(
        one(json!({"Type": "Wait", "Seconds": "{% 100000000 %}", "End": true})),
        json!({}),
    );
    assert!(
        failed(&ex).cause.contains("integer from 0 to 99999999"),
        "{}",
        failed(&ex).cause
    );
    // Items computed over the payload limit.
    let (ex, _) = start(
        one(json!({"Type": "Map", "End": true, "Items": "{% [1..100000] %}",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}})),
        json!({}),
    );
    assert_eq!(failed(&ex).error, "States.DataLimitExceeded");
}

#[test]
fn an_item_selector_reading_the_item_builds_no_context_with_the_execution_input() {
    let def = one(json!({"Type": "Map", "End": true, "Items": "{% $states.input.xs %}",
        "ItemSelector": {"v": "{% $states.context.Map.Item.Value %}"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}));
    let (ex, _) = start(def, json!({"xs": [1, 2, 3], "big": (0..100).collect::<Vec<u32>>()}));
    assert_eq!(succeeded(&ex), &json!([{"v": 1}, {"v": 2}, {"v": 3}]));
    assert_eq!(ex.full_contexts.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn a_task_hands_its_evaluated_credentials_to_the_integration() {
    let (_, cmds) = start(
        one(
            json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                   "Credentials": {"RoleArn": "{% 'arn:aws:iam::' & $states.input.account & ':role/Runner' %}"}}),
        ),
        json!({"account": "111122223333"}),
    );
    assert_eq!(
        invocation(&cmds).credentials,
        Some(json!({"RoleArn": "arn:aws:iam::111122223333:role/Runner"}))
    );
    let p = problems(one(
        json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true, "Credentials": {"RoleArn": "{% $states.result %}"}}),
    ));
    assert!(p[0].contains("$states.result is only available"), "{p:#?}");
}
