//! Map Runs: DescribeMapRun, ListMapRuns and UpdateMapRun. ListExecutions
//! with `mapRunArn` lists a Map Run's children (in `mod.rs`).

use super::error::ErrorKind as Kind;
use super::{page, secs, str_field, token, Api, ApiError, ApiResult};
use crate::store::MapRunRecord;
use serde_json::{json, Value};

impl Api {
    /// The Map Run an ARN names, or `ResourceNotFound` / `InvalidArn`.
    pub(super) fn map_run_by_arn(&self, arn: &str) -> Result<MapRunRecord, ApiError> {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 8 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "mapRun" {
            return Err(ApiError::new(
                Kind::InvalidArn,
                format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
            ));
        }
        self.engine
            .store()
            .map_run(arn)?
            .ok_or_else(|| ApiError::new(Kind::ResourceNotFound, format!("Resource not found: '{arn}'")))
    }

    pub(super) fn describe_map_run(&self, req: &Value) -> ApiResult {
        let r = self.map_run_by_arn(str_field(req, "mapRunArn")?)?;
        let mut out = json!({
            "mapRunArn": r.arn,
            "executionArn": r.execution_arn,
            "status": r.run.status.as_str(),
            "startDate": secs(r.start_ms),
            "maxConcurrency": r.run.max_concurrency,
            "toleratedFailurePercentage": r.run.tolerated_percentage.unwrap_or(0.0),
            "toleratedFailureCount": r.run.tolerated_count.unwrap_or(0),
            "itemCounts": r.run.items.to_json(),
            "executionCounts": r.run.executions.to_json(),
            "redriveCount": r.run.redrive_count,
        });
        if let Some(t) = r.stop_ms {
            out["stopDate"] = secs(t);
        }
        Ok(out)
    }

    pub(super) fn list_map_runs(&self, req: &Value) -> ApiResult {
        let exec = self.execution_by_arn(req)?;
        let (max, after) = page(req)?;
        let arns = self.engine.store().map_runs_of(&exec.arn)?;
        let mut runs = Vec::new();
        let mut next = None;
        for arn in arns
            .iter()
            .filter(|a| after.as_ref().is_none_or(|t| a.as_str() > t.as_str()))
        {
            if runs.len() == max {
                next = runs.last().and_then(|r: &Value| r["mapRunArn"].as_str()).map(token);
                break;
            }
            let Some(r) = self.engine.store().map_run(arn)? else {
                continue;
            };
            let mut e = json!({
                "executionArn": r.execution_arn,
                "mapRunArn": r.arn,
                "stateMachineArn": format!("{}/{}", r.sm_arn, r.label),
                "startDate": secs(r.start_ms),
            });
            if let Some(t) = r.stop_ms {
                e["stopDate"] = secs(t);
            }
            runs.push(e);
        }
        let mut out = json!({ "mapRuns": runs });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    pub(super) async fn update_map_run(&self, req: &Value) -> ApiResult {
        let r = self.map_run_by_arn(str_field(req, "mapRunArn")?)?;
        let int = |name: &str| -> Result<Option<u64>, ApiError> {
            match req.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| ApiError::validation(format!("{name} must be a non-negative integer"))),
            }
        };
        let max_concurrency = int("maxConcurrency")?;
        let count = int("toleratedFailureCount")?;
        let percentage = match req.get("toleratedFailurePercentage") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => Some(p),
                _ => {
                    return Err(ApiError::validation(
                        "toleratedFailurePercentage must be a number from 0 to 100",
                    ))
                }
            },
        };
        if max_concurrency.is_none() && count.is_none() && percentage.is_none() {
            return Err(ApiError::validation(
                "give at least one of maxConcurrency, toleratedFailureCount and toleratedFailurePercentage",
            ));
        }
        let running = self
            .engine
            .executor()
            .update_map_run(&r.arn, max_concurrency, count, percentage)
            .await?;
        if !running {
            return Err(ApiError::validation(format!(
                "Map Run '{}' is {}; only a running Map Run can be updated",
                r.arn,
                r.run.status.as_str()
            )));
        }
        Ok(json!({}))
    }
}

/// The `ItemProcessor` (or `Iterator`) of the Map state `name` anywhere in
/// a definition, as a definition of its own, with the query language it
/// inherits (`language`: the enclosing scopes' `QueryLanguage`).
pub(super) fn processor_of(def: &Value, name: &str, language: Option<&Value>, depth: usize) -> Option<Value> {
    if depth > 64 {
        return None;
    }
    let language = def.get("QueryLanguage").or(language);
    let states = def.get("States")?.as_object()?;
    if let Some(mut p) = states
        .get(name)
        .and_then(|st| st.get("ItemProcessor").or_else(|| st.get("Iterator")))
        .cloned()
    {
        let inherited = states[name].get("QueryLanguage").or(language);
        if let Some(o) = p.as_object_mut() {
            o.remove("ProcessorConfig");
            if let Some(q) = inherited {
                o.entry("QueryLanguage").or_insert_with(|| q.clone());
            }
        }
        return Some(p);
    }
    states.values().find_map(|st| {
        let inner = st.get("QueryLanguage").or(language);
        let nested = st
            .get("Branches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(st.get("ItemProcessor"))
            .chain(st.get("Iterator"));
        nested.into_iter().find_map(|n| processor_of(n, name, inner, depth + 1))
    })
}
