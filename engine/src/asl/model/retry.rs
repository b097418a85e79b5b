//! `Retry` and `Catch`, shared by Task, Parallel and Map states.

use super::compiler::Compiler;
use super::jsonata::Reads;
use super::{Catcher, Retrier, StateId};
use crate::asl::diag::esc;
use crate::asl::error;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::ops::RangeBounds;

impl Compiler {
    /// A state's `Retry` list.
    pub(super) fn retriers(&mut self, o: &Map<String, Value>, at: &str) -> Vec<Retrier> {
        match o.get("Retry") {
            None => Vec::new(),
            Some(Value::Array(rs)) => {
                let mut out = Vec::new();
                for (i, r) in rs.iter().enumerate() {
                    let here = format!("{at}/Retry/{i}");
                    if let Some(r) = self.retrier(r, &here) {
                        if r.errors.iter().any(|e| e == error::ALL) && i + 1 != rs.len() {
                            self.d.err(
                                &here,
                                "SCHEMA_VALIDATION_FAILED",
                                "a retrier with States.ALL must be the last one",
                            );
                        }
                        out.push(r);
                    }
                }
                out
            }
            Some(_) => {
                self.d.err(
                    &format!("{at}/Retry"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'Retry' must be an array",
                );
                Vec::new()
            }
        }
    }

    fn retrier(&mut self, r: &Value, at: &str) -> Option<Retrier> {
        let Some(o) = r.as_object() else {
            self.d
                .err(at, "SCHEMA_VALIDATION_FAILED", "a retrier must be an object");
            return None;
        };
        for k in o.keys() {
            if !matches!(
                k.as_str(),
                "ErrorEquals"
                    | "IntervalSeconds"
                    | "MaxAttempts"
                    | "BackoffRate"
                    | "MaxDelaySeconds"
                    | "JitterStrategy"
                    | "Comment"
            ) {
                self.d.err(
                    &format!("{at}/{}", esc(k)),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("field '{k}' is not allowed in a retrier"),
                );
            }
        }
        let errors = self.error_equals(o, at);
        let interval_seconds = self
            .int_in(
                o,
                "IntervalSeconds",
                at,
                1..=99_999_999,
                "'IntervalSeconds' must be an integer from 1 to 99999999",
            )
            .unwrap_or(1);
        let max_attempts = self
            .int_in(
                o,
                "MaxAttempts",
                at,
                0..=99_999_999,
                "'MaxAttempts' must be an integer from 0 to 99999999",
            )
            .unwrap_or(3);
        let backoff_rate = match o.get("BackoffRate") {
            None => 2.0,
            Some(v) => match v.as_f64() {
                Some(f) if f >= 1.0 => f,
                _ => {
                    self.d.err(
                        &format!("{at}/BackoffRate"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'BackoffRate' must be a number of at least 1.0",
                    );
                    2.0
                }
            },
        };
        let max_delay_seconds = self.int_in(
            o,
            "MaxDelaySeconds",
            at,
            1..31_622_400,
            "'MaxDelaySeconds' must be an integer from 1 to 31622399",
        );
        let full_jitter = match o.get("JitterStrategy").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => false,
            Some(Some("FULL")) => true,
            Some(_) => {
                self.d.err(
                    &format!("{at}/JitterStrategy"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'JitterStrategy' must be FULL or NONE",
                );
                false
            }
        };
        Some(Retrier {
            errors,
            interval_seconds,
            max_attempts,
            backoff_rate,
            max_delay_seconds,
            full_jitter,
        })
    }

    /// The integer field `key` when present and in `range`; when present and
    /// not, reports `message` and returns `None`, as it does when absent.
    fn int_in(
        &mut self,
        o: &Map<String, Value>,
        key: &str,
        at: &str,
        range: impl RangeBounds<u64>,
        message: &str,
    ) -> Option<u64> {
        let v = o.get(key)?;
        match v.as_u64() {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.d.err(&format!("{at}/{key}"), "SCHEMA_VALIDATION_FAILED", message);
                None
            }
        }
    }

    /// `ErrorEquals` of a retrier or catcher.
    fn error_equals(&mut self, o: &Map<String, Value>, at: &str) -> Vec<String> {
        match o.get("ErrorEquals").and_then(Value::as_array).filter(|a| !a.is_empty()) {
            Some(a) => {
                let errs: Vec<String> = a.iter().filter_map(|e| e.as_str().map(String::from)).collect();
                if errs.len() != a.len() {
                    self.d.err(
                        &format!("{at}/ErrorEquals"),
                        "SCHEMA_VALIDATION_FAILED",
                        "ErrorEquals must hold strings only",
                    );
                }
                if errs.iter().any(|e| e == error::ALL) && errs.len() > 1 {
                    self.d.err(
                        &format!("{at}/ErrorEquals"),
                        "SCHEMA_VALIDATION_FAILED",
                        "States.ALL must appear alone in ErrorEquals",
                    );
                }
                errs
            }
            None => {
                self.d.err(
                    &format!("{at}/ErrorEquals"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'ErrorEquals' must be a non-empty array of error names",
                );
                Vec::new()
            }
        }
    }

    /// A state's `Catch` list; adds each catcher's target to `targets`.
    pub(super) fn catchers(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        ids: &HashMap<&str, StateId>,
        targets: &mut Vec<StateId>,
    ) -> Vec<Catcher> {
        let cs = match o.get("Catch") {
            None => return Vec::new(),
            Some(Value::Array(cs)) => cs,
            Some(_) => {
                self.d.err(
                    &format!("{at}/Catch"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'Catch' must be an array",
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, c) in cs.iter().enumerate() {
            let here = format!("{at}/Catch/{i}");
            let Some(co) = c.as_object() else {
                self.d
                    .err(&here, "SCHEMA_VALIDATION_FAILED", "a catcher must be an object");
                continue;
            };
            let jsonata = self.jsonata;
            for k in co.keys() {
                let ok = match k.as_str() {
                    "ErrorEquals" | "Next" | "Comment" | "Assign" => true,
                    "ResultPath" => !jsonata,
                    "Output" => jsonata,
                    _ => false,
                };
                if !ok {
                    self.d.err(
                        &format!("{here}/{}", esc(k)),
                        "SCHEMA_VALIDATION_FAILED",
                        format!("field '{k}' is not allowed in a catcher"),
                    );
                }
            }
            let errors = self.error_equals(co, &here);
            if errors.iter().any(|e| e == error::ALL) && i + 1 != cs.len() {
                self.d.err(
                    &here,
                    "SCHEMA_VALIDATION_FAILED",
                    "a catcher with States.ALL must be the last one",
                );
            }
            let target = self.target(co.get("Next"), &format!("{here}/Next"), ids);
            let result_path = self.result_path(co, &here);
            let output = match co.get("Output") {
                Some(v) if jsonata => self.jt(v, &format!("{here}/Output"), Reads::ErrorOutput),
                _ => None,
            };
            let (assign, path_assign) = if jsonata {
                (self.assign(co, &here, Reads::ErrorOutput), None)
            } else {
                (None, self.path_assign(co, &here))
            };
            if let Some(t) = target {
                targets.push(t);
                out.push(Catcher {
                    errors,
                    next: t,
                    result_path,
                    output,
                    assign,
                    path_assign,
                });
            }
        }
        out
    }
}
