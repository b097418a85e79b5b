//! TestState: runs one state on its own, as AWS's TestState API does.
//!
//! The state runs once without its Retry, inside a machine where every
//! transition target is a Succeed state (so `Next`, Choice targets and
//! catchers resolve). Its Catch stays: the engine itself applies a matching
//! catcher (its `ResultPath`, or its `Output`, and its `Assign`). The
//! outcome is then read against the original Retry: an error a retrier
//! matches makes the state `RETRIABLE`; otherwise a caught error is
//! `CAUGHT_ERROR`, an uncaught one `FAILED`. Wait states do not wait.
//!
//! `variables` (a JSON object) sets workflow variables before the state
//! runs; `inspectionData.variables` gives them after it, with the state's
//! (or its catcher's) assignments.

use super::error::ErrorKind as Kind;
use super::{opt_str, str_field, Api, ApiError, ApiResult};
use crate::asl::history::HistoryEvent;
use crate::asl::model::{errors_match, valid_variable};
use crate::asl::{ExecutionInfo, Machine, Options, Status};
use crate::exec::SimulatedClock;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const NAME: &str = "TestState";

pub(super) async fn test_state(api: &Api, req: &Value) -> ApiResult {
    let text = str_field(req, "definition")?;
    Api::check_role(str_field(req, "roleArn")?)?;
    let input: Value = serde_json::from_str(opt_str(req, "input")?.unwrap_or("{}"))
        .map_err(|e| ApiError::new(Kind::InvalidExecutionInput, format!("Invalid input: {e}")))?;
    let variables = variables(req)?;
    let Ok(Value::Object(mut state)) = serde_json::from_str::<Value>(text) else {
        return Err(ApiError::new(
            Kind::InvalidDefinition,
            "Invalid State Definition: the definition must be a JSON object describing one state",
        ));
    };
    let ty = state.get("Type").and_then(Value::as_str).unwrap_or("").to_string();
    if matches!(ty.as_str(), "Map" | "Parallel") {
        return Err(ApiError::validation(format!("TestState does not support {ty} states")));
    }
    let retry = state
        .remove("Retry")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let (machine, name) = one_state_machine(state, &ty)?;
    let machine = Arc::new(machine);
    let now = api.now();
    let clock = SimulatedClock::new(now);
    let info = ExecutionInfo::local("TestState", &super::new_uuid(), now);
    let r = crate::exec::run(
        machine,
        info,
        input,
        Options {
            history: true,
            seed: Some(crate::exec::fresh_seed()),
            history_sink: None,
            variables: (!variables.is_empty()).then(|| Box::new(variables.clone())),
            start_list: None,
        },
        &clock,
        api.engine.tasks().clone(),
    )
    .await;
    let retriable = |error: &str| {
        error != crate::asl::error::RUNTIME
            && retry
                .iter()
                .find(|r| errors_match(&error_names(r), error, ty == "Task"))
                .is_some_and(|r| r.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3) > 0)
    };
    let mut out = match r.status {
        Status::Succeeded(v) => match r.caught {
            Some(e) if retriable(&e.error) => {
                return Ok(json!({"status": "RETRIABLE", "error": e.error, "cause": e.cause}))
            }
            Some(e) => json!({"status": "CAUGHT_ERROR", "output": v.to_string(), "error": e.error, "cause": e.cause}),
            None => json!({"status": "SUCCEEDED", "output": v.to_string()}),
        },
        Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e) => {
            let status = if retriable(&e.error) { "RETRIABLE" } else { "FAILED" };
            return Ok(json!({"status": status, "error": e.error, "cause": e.cause}));
        }
        Status::Running => return Err(ApiError::new(Kind::InternalServerError, "the test did not finish")),
    };
    if let Some(next) = entered(&r.history).last().filter(|n| **n != name) {
        out["nextState"] = json!(next);
    }
    let after = variables_after(variables, &r.history, &name);
    if !after.is_empty() {
        out["inspectionData"] = json!({"variables": Value::Object(after).to_string()});
    }
    Ok(out)
}

/// The most the request's `variables` may hold, as on AWS (a variable and
/// an `Assign` may hold as much).
const VARIABLES_LIMIT: usize = 256 * 1024;

/// The request's `variables`: a JSON object of valid variable names.
fn variables(req: &Value) -> Result<Map<String, Value>, ApiError> {
    let Some(text) = opt_str(req, "variables")? else {
        return Ok(Map::new());
    };
    if text.len() > VARIABLES_LIMIT {
        return Err(ApiError::validation(format!(
            "variables may hold at most {VARIABLES_LIMIT} bytes"
        )));
    }
    let Ok(Value::Object(vars)) = serde_json::from_str::<Value>(text) else {
        return Err(ApiError::validation("variables must be a JSON object"));
    };
    if let Some(bad) = vars.keys().find(|k| !valid_variable(k) || *k == "states") {
        return Err(ApiError::validation(format!("'{bad}' is not a variable name")));
    }
    Ok(vars)
}

/// A machine of the state and a Succeed state for each of its targets, and
/// the state's name in it: `TestState`, unless a target has that name (a
/// state that names itself must not run again).
fn one_state_machine(mut state: Map<String, Value>, ty: &str) -> Result<(Machine, String), ApiError> {
    let mut states = Map::new();
    let mut target = |n: Option<&Value>| {
        if let Some(n) = n.and_then(Value::as_str) {
            states.insert(n.to_string(), json!({"Type": "Succeed"}));
        }
    };
    if state.contains_key("Next") {
        target(state.get("Next"));
    } else if !matches!(ty, "Choice" | "Succeed" | "Fail") {
        state.insert("End".into(), json!(true));
    }
    let rules = state.get("Choices").and_then(Value::as_array).into_iter().flatten();
    let catchers = state.get("Catch").and_then(Value::as_array).into_iter().flatten();
    for t in rules.chain(catchers) {
        target(t.get("Next"));
    }
    target(state.get("Default"));
    let mut name = NAME.to_string();
    for i in 1.. {
        if !states.contains_key(&name) {
            break;
        }
        name = format!("{NAME}-{i}");
    }
    states.insert(name.clone(), Value::Object(state));
    let def = json!({"StartAt": name, "States": states});
    let m = Machine::compile(&def).map_err(|e| {
        let lines: Vec<String> = e.0.iter().map(|d| d.to_string()).collect();
        ApiError::new(
            Kind::InvalidDefinition,
            format!("Invalid State Definition: '{}'", lines.join("; ")),
        )
    })?;
    Ok((m, name))
}

fn error_names(v: &Value) -> Vec<String> {
    v.get("ErrorEquals")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(String::from))
        .collect()
}

/// The names of the states entered, in order.
fn entered(history: &[HistoryEvent]) -> Vec<&str> {
    history
        .iter()
        .filter_map(|e| e.details.as_ref())
        .filter(|(k, _)| *k == "stateEnteredEventDetails")
        .filter_map(|(_, d)| d["name"].as_str())
        .collect()
}

/// The variables after the state: those it started with, updated by the
/// assignments its exit event records.
fn variables_after(mut vars: Map<String, Value>, history: &[HistoryEvent], name: &str) -> Map<String, Value> {
    let assigned = history
        .iter()
        .filter_map(|e| e.details.as_ref())
        .filter(|(k, d)| *k == "stateExitedEventDetails" && d["name"] == name)
        .filter_map(|(_, d)| d["assignedVariables"].as_object());
    for m in assigned {
        for (k, v) in m {
            let v = v
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(Value::Null);
            vars.insert(k.clone(), v);
        }
    }
    vars
}
