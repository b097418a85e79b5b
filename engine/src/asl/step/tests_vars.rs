//! Workflow variables in JSONPath states: `Assign` with `name.$` paths and
//! intrinsics, and `$name` wherever a JSONPath field reads a document,
//! following AWS's "Passing data between states with variables" page.

use super::tests::{start, timers, types, T0};
use super::tests_jsonata::{failed, invocation, problems, succeeded};
use super::*;
use serde_json::json;

fn exited_details(ex: &Execution, ty: &str, nth: usize) -> Value {
    ex.history()
        .iter()
        .filter(|e| e.event_type == ty)
        .nth(nth)
        .unwrap_or_else(|| panic!("no {ty} #{nth}"))
        .to_json()["stateExitedEventDetails"]
        .clone()
}

#[test]
fn pass_assigns_from_its_result_and_later_fields_read_variables() {
    let def = json!({"StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Parameters": {"n.$": "$.product.price"},
                "Assign": {"price.$": "$.n", "name": "widget", "state.$": "$$.State.Name",
                           "both.$": "States.Format('{}', $.n)", "nested": {"deep.$": "$.n"}},
                "ResultPath": "$.set", "Next": "Use"},
        "Use": {"Type": "Pass", "InputPath": "$nested",
                "Parameters": {"p.$": "$price", "label.$": "States.Format('{} at {}', $name, $price)",
                               "input.$": "$", "from.$": "$state", "both.$": "$both"},
                "End": true}}});
    let (ex, _) = start(def, json!({"product": {"price": 5}}));
    assert_eq!(
        succeeded(&ex),
        &json!({"p": 5, "label": "widget at 5", "input": {"deep": 5}, "from": "Set", "both": "5"})
    );
    let d = exited_details(&ex, "PassStateExited", 0);
    assert_eq!(
        d["assignedVariables"],
        json!({"both": "\"5\"", "name": "\"widget\"", "nested": "{\"deep\":5}", "price": "5", "state": "\"Set\""})
    );
    assert_eq!(d["assignedVariablesDetails"], json!({"truncated": false}));
    // Without Result or Parameters, `$` is the effective input.
    let (ex, _) = start(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "InputPath": "$.in", "Assign": {"v.$": "$.x"}, "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"v.$": "$v"}, "End": true}}}),
        json!({"in": {"x": [1, 2]}}),
    );
    assert_eq!(succeeded(&ex), &json!({"v": [1, 2]}));
}

#[test]
fn assign_reads_the_values_of_the_state_entry() {
    // AWS's swap example, in JSONPath.
    let def = json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"x": 3, "a": 6}, "Next": "Swap"},
        "Swap": {"Type": "Pass", "Assign": {"x.$": "$a", "nextX.$": "$x"}, "Parameters": {"sawX.$": "$x"}, "Next": "Read"},
        "Read": {"Type": "Pass", "Parameters": {"x.$": "$x", "nextX.$": "$nextX", "before.$": "$.sawX"}, "End": true}}});
    let (ex, _) = start(def, json!({}));
    assert_eq!(succeeded(&ex), &json!({"x": 6, "nextX": 3, "before": 3}));
}

#[test]
fn a_task_assigns_from_its_selected_result_and_a_catcher_from_the_error_output() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done",
              "ResultSelector": {"id.$": "$.Payload.id"}, "ResultPath": "$.out",
              "Assign": {"id.$": "$.id", "all.$": "$"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done", "ResultPath": "$.err",
                         "Assign": {"failed.$": "$.Error"}}]},
        "Done": {"Type": "Pass", "Parameters": {"id.$": "$id", "all.$": "$all", "out.$": "$.out"}, "End": true}}});
    let (mut ex, cmds) = start(def.clone(), json!({}));
    ex.handle(
        Event::TaskSucceeded {
            token: invocation(&cmds).token,
            output: json!({"Payload": {"id": 7, "big": [1, 2]}}),
        },
        T0,
    );
    assert_eq!(succeeded(&ex), &json!({"id": 7, "all": {"id": 7}, "out": {"id": 7}}));
    // The catcher's Assign replaces the state's, and `$` is the error output.
    let (mut ex, cmds) = start(def, json!({}));
    ex.handle(
        Event::TaskFailed {
            token: invocation(&cmds).token,
            error: StateError::new("Boom", "bad"),
        },
        T0,
    );
    assert_eq!(
        failed(&ex).cause,
        "An error occurred while executing the state 'Done' (entered at the event id #7). The JSONPath '$id' specified for the field 'id.$' could not be found: the variable 'id' is not defined"
    );
    assert_eq!(
        exited_details(&ex, "TaskStateExited", 0)["assignedVariables"],
        json!({"failed": "\"Boom\""})
    );
}

#[test]
fn choice_rules_wait_and_paths_read_and_assign_variables() {
    let def = json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"limit": 10, "key": "k", "secs": 5}, "Next": "Pick"},
        "Pick": {"Type": "Choice", "Assign": {"picked": "default"}, "Default": "Wait",
                 "Choices": [
                     {"Variable": "$.n", "NumericGreaterThanPath": "$limit", "Next": "Wait",
                      "Assign": {"picked": "big", "seen.$": "$.n"}},
                     {"Variable": "$key", "StringEquals": "nope", "Next": "Wait"}]},
        "Wait": {"Type": "Wait", "SecondsPath": "$secs", "Assign": {"waited.$": "$.n"}, "Next": "Out"},
        "Out": {"Type": "Pass", "Parameters": {"picked.$": "$picked", "waited.$": "$waited"}, "End": true}}});
    let (mut ex, cmds) = start(def.clone(), json!({"n": 11}));
    let timer = *timers(&cmds).first().expect("the Wait's timer");
    assert_eq!(timer.1, T0 + 5_000, "SecondsPath read the variable");
    assert_eq!(
        exited_details(&ex, "ChoiceStateExited", 0)["assignedVariables"],
        json!({"picked": "\"big\"", "seen": "11"})
    );
    // The Wait's assignment waits for its exit, and survives a snapshot.
    let snap = serde_json::to_vec(&ex).unwrap();
    let back: Execution = serde_json::from_slice(&snap).unwrap();
    ex = back.restore(Arc::new(Machine::compile(&def).unwrap()), json!({"n": 11}));
    ex.handle(Event::TimerFired { token: timer.0 }, timer.1);
    assert_eq!(succeeded(&ex), &json!({"picked": "big", "waited": 11}));
    // No rule matches: the state's own Assign, with Default.
    let (mut ex, cmds) = start(def, json!({"n": 1}));
    let (tok, _) = timers(&cmds)[0];
    ex.handle(Event::TimerFired { token: tok }, T0 + 5_000);
    assert_eq!(succeeded(&ex), &json!({"picked": "default", "waited": 1}));
}

#[test]
fn map_iterations_read_outer_variables_in_their_selector_and_states() {
    let def = json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"rate": 2, "list": [1, 2, 3]}, "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$list", "Next": "After",
                 "ItemSelector": {"v.$": "$$.Map.Item.Value", "rate.$": "$rate"},
                 "ItemProcessor": {"StartAt": "Own", "States": {
                     "Own": {"Type": "Pass", "Assign": {"mine.$": "$.v"}, "Next": "Use"},
                     "Use": {"Type": "Pass", "Parameters": {"r.$": "States.MathAdd($mine, $rate)"}, "OutputPath": "$.r", "End": true}}}},
        "After": {"Type": "Pass", "Parameters": {"r.$": "$"}, "End": true}}});
    let (ex, _) = start(def, json!({}));
    assert_eq!(succeeded(&ex), &json!({"r": [3, 4, 5]}));
}

#[test]
fn undefined_variables_fail_the_state_with_states_runtime() {
    for (field, def) in [
        ("InputPath", json!({"Type": "Pass", "InputPath": "$never", "End": true})),
        (
            "Parameters",
            json!({"Type": "Pass", "Parameters": {"a.$": "$never.x"}, "End": true}),
        ),
        (
            "intrinsic",
            json!({"Type": "Pass", "Parameters": {"a.$": "States.Format('{}', $never)"}, "End": true}),
        ),
        (
            "Choice",
            json!({"Type": "Choice", "Choices": [{"Variable": "$never", "StringEquals": "x", "Next": "E"}], "Default": "E"}),
        ),
    ] {
        let mut states = json!({"S": def});
        if field == "Choice" {
            states["E"] = json!({"Type": "Succeed"});
        }
        let (ex, _) = start(json!({"StartAt": "S", "States": states}), json!({}));
        let e = failed(&ex);
        assert_eq!(e.error, "States.Runtime", "{field}");
        assert!(e.cause.contains("never"), "{field}: {}", e.cause);
    }
    // `IsPresent` on an undefined variable is false, as on a missing path.
    let (ex, _) = start(
        json!({"StartAt": "S", "States": {
            "S": {"Type": "Choice", "Choices": [{"Variable": "$never", "IsPresent": true, "Next": "Yes"}], "Default": "No"},
            "Yes": {"Type": "Pass", "Result": "yes", "End": true},
            "No": {"Type": "Pass", "Result": "no", "End": true}}}),
        json!({}),
    );
    assert_eq!(succeeded(&ex), &json!("no"));
}

#[test]
fn validation_of_jsonpath_assign_and_variable_paths() {
    let p = problems(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"1x.$": "$.a", "states": 1, "bad.$": "nope", "ok": 1}, "ResultPath": "$ok", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$ok", "IsPresent": true, "Next": "E", "Assign": {"y": 1}}], "Default": "E"},
        "E": {"Type": "Succeed"}}}));
    assert_eq!(
        p,
        [
            "/States/A/Assign/1x.$ SCHEMA_VALIDATION_FAILED: '1x' is not a variable name: a letter or '_' first, then letters, digits or '_', at most 80 characters",
            "/States/A/Assign/states SCHEMA_VALIDATION_FAILED: 'states' is reserved and cannot be assigned",
            "/States/A/Assign/bad.$ INVALID_JSON_PATH: the value of 'bad.$' must be a JSONPath ('$...' or '$$...') or an intrinsic function ('States....'), got \"nope\"",
            "/States/A/ResultPath INVALID_JSON_PATH: '$ok' is not a Reference Path: ResultPath must start with '$' and select a single node (no '$$', wildcards, filters or slices)",
        ],
        "{p:#?}"
    );
    assert_eq!(
        types(
            &start(
                json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {}, "End": true}}}),
                json!({})
            )
            .0
        )
        .len(),
        4
    );
    let p = problems(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"x": 1, "x.$": "$.a"}, "End": true}}}),
    );
    assert_eq!(
        p,
        ["/States/A/Assign/x.$ SCHEMA_VALIDATION_FAILED: variable 'x' is assigned twice in one Assign"]
    );
}

#[test]
fn a_map_whose_catcher_fails_records_map_state_failed() {
    let def = json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemsPath": "$.xs", "End": true,
              "ItemProcessor": {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Inner"}}},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H", "Assign": {"v.$": "$never"}}]},
        "H": {"Type": "Succeed"}}});
    let (ex, _) = start(def, json!({"xs": [1]}));
    assert_eq!(failed(&ex).error, "States.Runtime");
    let t = types(&ex);
    assert_eq!(t[t.len() - 2..], ["MapStateFailed", "ExecutionFailed"], "{t:?}");
}

#[test]
fn the_last_caught_error_is_kept_even_without_a_failure_event() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "ResultPath": "$.a.b", "Next": "H",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]},
        "H": {"Type": "Succeed"}}});
    let (mut ex, cmds) = start(def, json!({"a": "not an object"}));
    assert!(ex.last_caught().is_none());
    ex.handle(
        Event::TaskSucceeded {
            token: invocation(&cmds).token,
            output: json!(1),
        },
        T0,
    );
    assert_eq!(
        ex.last_caught().map(|e| e.error.as_str()),
        Some("States.ResultPathMatchFailure")
    );
    assert!(matches!(ex.status(), Status::Succeeded(_)));
}

#[test]
fn a_pass_whose_variables_do_not_fit_keeps_its_input_for_a_redrive() {
    // Two copies of a 200,000-byte string: over the 256 KiB of one Assign.
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Assign": {"a.$": "$.big", "b.$": "$.big"}, "End": true}}});
    let input = json!({"big": "x".repeat(200_000)});
    let (mut ex, _) = start(def, input.clone());
    assert_eq!(failed(&ex).error, "States.DataLimitExceeded");
    // The redrive runs P again on the same input (not on a lost one, which
    // would fail on the missing `$.big` with States.Runtime instead).
    ex.redrive(T0 + 1).expect("a failed execution redrives");
    assert_eq!(failed(&ex).error, "States.DataLimitExceeded");
    let (ex, _) = start(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$never", "End": true,
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}}}}),
        json!({}),
    );
    assert_eq!(failed(&ex).error, "States.Runtime");
    assert!(
        failed(&ex)
            .cause
            .starts_with("An error occurred while executing the state 'M'"),
        "{}",
        failed(&ex).cause
    );
    let t = types(&ex);
    assert_eq!(t[t.len() - 2..], ["MapStateFailed", "ExecutionFailed"], "{t:?}");
}
