//! TestState: runs one state on its own, as AWS's TestState API does.
//!
//! The state runs once without its Retry and Catch, inside a machine where
//! every transition target is a Succeed state (so `Next`, Choice targets and
//! catchers resolve). Its outcome is then read against the original Retry
//! and Catch: a matching retrier makes it `RETRIABLE`, a matching catcher
//! `CAUGHT_ERROR` (with the catcher's ResultPath applied), otherwise `FAILED`.
//! Wait states do not wait.

use super::error::ErrorKind as Kind;
use super::{opt_str, str_field, Api, ApiError, ApiResult};
use crate::asl::model::errors_match;
use crate::asl::path::Path;
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
    if state.get("QueryLanguage").and_then(Value::as_str) == Some("JSONata") && state.contains_key("Catch") {
        return Err(ApiError::validation(
            "TestState does not support Catch in a JSONata state yet (catchers' Output and Assign)",
        ));
    }
    let retry = state
        .remove("Retry")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let catch = state
        .remove("Catch")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let mut states = Map::new();
    let mut target = |n: &Value| {
        if let Some(n) = n.as_str() {
            states.insert(n.to_string(), json!({"Type": "Succeed"}));
        }
    };
    if let Some(n) = state.remove("Next") {
        target(&n);
        state.insert("Next".into(), n);
    } else if !matches!(ty.as_str(), "Choice" | "Succeed" | "Fail") {
        state.insert("End".into(), json!(true));
    }
    for c in state.get("Choices").and_then(Value::as_array).into_iter().flatten() {
        target(c.get("Next").unwrap_or(&Value::Null));
    }
    target(state.get("Default").unwrap_or(&Value::Null));
    states.insert(NAME.into(), Value::Object(state));
    let def = json!({"StartAt": NAME, "States": states});
    let machine = Arc::new(Machine::compile(&def).map_err(|e| {
        let lines: Vec<String> = e.0.iter().map(|d| d.to_string()).collect();
        ApiError::new(
            Kind::InvalidDefinition,
            format!("Invalid State Definition: '{}'", lines.join("; ")),
        )
    })?);
    let now = api.now();
    let clock = SimulatedClock::new(now);
    let info = ExecutionInfo::local("TestState", &super::new_uuid(), now);
    let r = crate::exec::run(
        machine,
        info,
        input.clone(),
        Options {
            history: true,
            seed: Some(crate::exec::fresh_seed()),
            history_sink: None,
        },
        &clock,
        api.engine.tasks().clone(),
    )
    .await;
    let entered: Vec<&str> = r
        .history
        .iter()
        .filter_map(|e| e.details.as_ref())
        .filter(|(k, _)| *k == "stateEnteredEventDetails")
        .filter_map(|(_, d)| d["name"].as_str())
        .collect();
    match r.status {
        Status::Succeeded(v) => {
            let mut out = json!({"status": "SUCCEEDED", "output": v.to_string()});
            if let Some(next) = entered.last().filter(|n| **n != NAME) {
                out["nextState"] = json!(next);
            }
            Ok(out)
        }
        Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e) => {
            let is_task = ty == "Task";
            let names = |v: &Value| -> Vec<String> {
                v.get("ErrorEquals")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str().map(String::from))
                    .collect()
            };
            if e.error != crate::asl::error::RUNTIME {
                let retriable = retry.iter().find(|r| errors_match(&names(r), &e.error, is_task));
                if retriable.is_some_and(|r| r.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3) > 0) {
                    return Ok(json!({"status": "RETRIABLE", "error": e.error, "cause": e.cause}));
                }
                if let Some(c) = catch.iter().find(|c| errors_match(&names(c), &e.error, is_task)) {
                    let err = json!({"Error": e.error, "Cause": e.cause});
                    let output = match c.get("ResultPath") {
                        Some(Value::Null) => input,
                        None => err,
                        Some(p) => {
                            let path = p.as_str().and_then(|p| Path::parse(p).ok()).filter(Path::is_reference);
                            let mut doc = input;
                            match path {
                                Some(p) if p.set(&mut doc, err).is_ok() => doc,
                                _ => {
                                    return Ok(
                                        json!({"status": "FAILED", "error": crate::asl::error::RESULT_PATH_MATCH_FAILURE, "cause": "Unable to apply the catcher's ResultPath"}),
                                    )
                                }
                            }
                        }
                    };
                    return Ok(
                        json!({"status": "CAUGHT_ERROR", "output": output.to_string(), "nextState": c.get("Next"), "error": e.error, "cause": e.cause}),
                    );
                }
            }
            Ok(json!({"status": "FAILED", "error": e.error, "cause": e.cause}))
        }
        Status::Running => Err(ApiError::new(Kind::InternalServerError, "the test did not finish")),
    }
}
