//! The fields of each state type but Map (in `map`): one function per type,
//! each called by `Compiler::compile_state` once the shared fields are done.

use super::compiler::Compiler;
use super::jsonata::Reads;
use super::{JsonataFields, Kind, Seconds, StateId, TaskSpec, WaitSpec};
use crate::asl::choice::{parse_timestamp, Rule};
use crate::asl::jsonata::expression_body;
use crate::asl::template::Template;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

impl Compiler {
    pub(super) fn pass(&mut self, o: &Map<String, Value>) -> Kind {
        Kind::Pass {
            result: o.get("Result").cloned(),
        }
    }

    pub(super) fn task(&mut self, o: &Map<String, Value>, at: &str) -> Kind {
        let resource = match o.get("Resource").and_then(Value::as_str) {
            Some(r) if r.contains(':') => Arc::from(r),
            Some(r) => {
                self.d.err(
                    &format!("{at}/Resource"),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{r}' is not a resource ARN or URI"),
                );
                Arc::from(r)
            }
            None => {
                self.d.err(
                    &format!("{at}/Resource"),
                    "SCHEMA_VALIDATION_FAILED",
                    "a Task state needs a 'Resource' string",
                );
                Arc::from("")
            }
        };
        let timeout = self.seconds(o, "TimeoutSeconds", at);
        let heartbeat = self.seconds(o, "HeartbeatSeconds", at);
        if let (Some(Seconds::Literal(t)), Some(Seconds::Literal(h))) = (&timeout, &heartbeat) {
            if h >= t {
                self.d.err(
                    &format!("{at}/HeartbeatSeconds"),
                    "SCHEMA_VALIDATION_FAILED",
                    "HeartbeatSeconds must be smaller than TimeoutSeconds",
                );
            }
        }
        let here = format!("{at}/Credentials");
        let (credentials, jsonata_credentials) = match o.get("Credentials") {
            Some(c) if self.jsonata => (None, self.jt(c, &here, Reads::Input)),
            Some(c) => (Some(self.template(c, &here)), None),
            None => (None, None),
        };
        Kind::Task(Box::new(TaskSpec {
            resource,
            timeout,
            heartbeat,
            credentials,
            jsonata_credentials,
        }))
    }

    /// Adds the targets of `Choices` and `Default` to `targets`.
    pub(super) fn choice(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        ids: &HashMap<&str, StateId>,
        targets: &mut Vec<StateId>,
        mut jsonata: Option<&mut JsonataFields>,
        rule_assigns: &mut Vec<Option<Template>>,
    ) -> Kind {
        let mut choices = Vec::new();
        match o.get("Choices").and_then(Value::as_array).filter(|a| !a.is_empty()) {
            Some(cs) => {
                for (i, c) in cs.iter().enumerate() {
                    let here = format!("{at}/Choices/{i}");
                    let rule = match jsonata.as_deref_mut() {
                        Some(jf) => self.jsonata_rule(c, &here, jf),
                        None => {
                            let a = c.as_object().and_then(|co| self.path_assign(co, &here));
                            rule_assigns.push(a);
                            Rule::compile(c, &here, true, &mut self.d)
                        }
                    };
                    let t = c
                        .get("Next")
                        .and_then(|n| self.target(Some(n), &format!("{here}/Next"), ids));
                    targets.extend(t);
                    if let (Some(r), Some(t)) = (rule, t) {
                        choices.push((r, t));
                    }
                }
            }
            None => self.d.err(
                &format!("{at}/Choices"),
                "SCHEMA_VALIDATION_FAILED",
                "'Choices' must be a non-empty array",
            ),
        }
        let default = o
            .get("Default")
            .and_then(|n| self.target(Some(n), &format!("{at}/Default"), ids));
        targets.extend(default);
        Kind::Choice { choices, default }
    }

    /// A rule of a JSONata Choice state: `Condition`, `Next`, `Output`
    /// (kept in `jf.rule_outputs`) and `Comment`.
    fn jsonata_rule(&mut self, c: &Value, at: &str, jf: &mut JsonataFields) -> Option<Rule> {
        let Some(co) = c.as_object() else {
            self.d
                .err(at, "SCHEMA_VALIDATION_FAILED", "a Choice rule must be an object");
            return None;
        };
        self.sub_fields(co, at, &["Condition", "Next", "Output", "Assign", "Comment"]);
        let assign = self.assign(co, at, Reads::Input);
        let output = co
            .get("Output")
            .and_then(|v| self.jt(v, &format!("{at}/Output"), Reads::Input));
        let here = format!("{at}/Condition");
        let cond = match co.get("Condition") {
            Some(v @ Value::Bool(_)) => self.jt(v, &here, Reads::Input),
            Some(v @ Value::String(s)) if !matches!(expression_body(s), Ok(None)) => self.jt(v, &here, Reads::Input),
            Some(_) => {
                self.d.err(
                    &here,
                    "SCHEMA_VALIDATION_FAILED",
                    "'Condition' must be a boolean or a JSONata expression",
                );
                None
            }
            None => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "a Choice rule of a JSONata state needs a 'Condition'",
                );
                None
            }
        }?;
        jf.rule_outputs.push(output);
        jf.rule_assigns.push(assign);
        Some(Rule::Condition(Box::new(cond)))
    }

    pub(super) fn wait(&mut self, o: &Map<String, Value>, at: &str) -> Kind {
        let keys: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| o.contains_key(*k))
            .collect();
        if keys.len() != 1 {
            self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp and TimestampPath",
            );
        }
        let k = keys.first().copied().unwrap_or("Seconds");
        let here = format!("{at}/{k}");
        if self.jsonata {
            if let Some(v @ Value::String(s)) = o.get(k) {
                if !matches!(expression_body(s), Ok(None)) {
                    let j = self.jt(v, &here, Reads::Input).map(Box::new);
                    let spec = match k {
                        "Seconds" => j.map(WaitSpec::SecondsExpr),
                        _ => j.map(WaitSpec::TimestampExpr),
                    };
                    return Kind::Wait(spec.unwrap_or(WaitSpec::Seconds(0)));
                }
            }
        }
        let spec = match (k, o.get(k)) {
            ("Seconds", Some(v)) => match v.as_u64() {
                Some(n) => Some(WaitSpec::Seconds(n)),
                None => {
                    self.d.err(
                        &here,
                        "SCHEMA_VALIDATION_FAILED",
                        "'Seconds' must be a non-negative integer",
                    );
                    None
                }
            },
            ("Timestamp", Some(v)) => match v.as_str().and_then(parse_timestamp) {
                Some(t) => Some(WaitSpec::Timestamp(t)),
                None => {
                    self.d.err(
                        &here,
                        "SCHEMA_VALIDATION_FAILED",
                        "'Timestamp' must be an RFC 3339 timestamp like 2016-03-14T01:59:00Z",
                    );
                    None
                }
            },
            ("SecondsPath", Some(v)) => self.path(v, &here).map(WaitSpec::SecondsPath),
            ("TimestampPath", Some(v)) => self.path(v, &here).map(WaitSpec::TimestampPath),
            _ => None,
        };
        Kind::Wait(spec.unwrap_or(WaitSpec::Seconds(0)))
    }

    pub(super) fn fail(&mut self, o: &Map<String, Value>, at: &str) -> Kind {
        Kind::Fail {
            error: self.dynamic(o, "Error", at),
            cause: self.dynamic(o, "Cause", at),
        }
    }

    pub(super) fn parallel(&mut self, o: &Map<String, Value>, at: &str) -> Kind {
        let mut branches = Vec::new();
        match o.get("Branches").and_then(Value::as_array).filter(|a| !a.is_empty()) {
            Some(bs) => {
                for (i, b) in bs.iter().enumerate() {
                    let here = format!("{at}/Branches/{i}");
                    match b.as_object() {
                        Some(bo) => {
                            self.sub_fields(bo, &here, &["StartAt", "States", "Comment"]);
                            branches.push(self.compile_list(bo, &here));
                        }
                        None => self.d.err(
                            &here,
                            "SCHEMA_VALIDATION_FAILED",
                            "a branch must be an object with StartAt and States",
                        ),
                    }
                }
            }
            None => self.d.err(
                &format!("{at}/Branches"),
                "SCHEMA_VALIDATION_FAILED",
                "'Branches' must be a non-empty array",
            ),
        }
        Kind::Parallel { branches }
    }
}
