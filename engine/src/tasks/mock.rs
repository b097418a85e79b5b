//! Step Functions Local's MockConfigFile, accepted as-is.
//!
//! ```json
//! {"StateMachines": {"MyMachine": {"TestCases": {"HappyPath": {"MyTask": "MockOk"}}}},
//!  "MockedResponses": {"MockOk": {"0": {"Return": {"x": 1}}, "1-2": {"Throw": {"Error": "E", "Cause": "c"}}}}}
//! ```
//!
//! Each execution counts the invocations of each Task state from 0 (see
//! [`TaskInvocation::invocation`]); the response whose key is that number, or
//! a range `"a-b"` containing it, answers. Retries are new invocations, so
//! Retry and Catch can be exercised. The count is part of the execution's
//! durable state, so a restarted engine gets the same answers.

use crate::asl::{StateError, TaskInvocation};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why a mock configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum MockConfigError {
    /// Not JSON.
    #[error("the mock config is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Not shaped like a MockConfigFile.
    #[error("the mock config is invalid at {0}: {1}")]
    Shape(String, String),
    /// The requested state machine or test case is absent.
    #[error("{0}")]
    Missing(String),
}

#[derive(Debug, Clone)]
enum Response {
    Return(Value),
    Throw(StateError),
}

/// The responses of one test case, by state name.
#[derive(Debug)]
pub struct MockTasks {
    by_state: HashMap<String, Vec<(u32, u32, Response)>>,
}

/// A whole MockConfigFile, for a server: each execution picks its test case
/// (see [`crate::tasks::TaskContext::test_case`]); executions without one,
/// and states without a mock, go to the integrations.
pub struct MockConfig {
    doc: Value,
    cases: Mutex<HashMap<(String, String), Arc<MockTasks>>>,
}

impl MockConfig {
    /// Parses a MockConfigFile.
    pub fn new(text: &str) -> Result<MockConfig, MockConfigError> {
        let doc: Value = serde_json::from_str(text)?;
        if !doc.get("StateMachines").is_some_and(Value::is_object) {
            return Err(MockConfigError::Shape(
                "/StateMachines".into(),
                "must be an object".into(),
            ));
        }
        Ok(MockConfig {
            doc,
            cases: Mutex::new(HashMap::new()),
        })
    }

    /// Checks that a test case exists, returning its mocks.
    pub fn test_case(&self, state_machine: &str, case: &str) -> Result<Arc<MockTasks>, MockConfigError> {
        let key = (state_machine.to_string(), case.to_string());
        let mut cases = self.cases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = cases.get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(MockTasks::from_value(&self.doc, state_machine, case)?);
        cases.insert(key, m.clone());
        Ok(m)
    }
}

impl MockTasks {
    /// Loads `test_case` of `state_machine` from a MockConfigFile's text.
    pub fn from_config(text: &str, state_machine: &str, test_case: &str) -> Result<MockTasks, MockConfigError> {
        Self::from_value(&serde_json::from_str(text)?, state_machine, test_case)
    }

    fn from_value(v: &Value, state_machine: &str, test_case: &str) -> Result<MockTasks, MockConfigError> {
        let shape = |at: &str, msg: &str| MockConfigError::Shape(at.to_string(), msg.to_string());
        let sms = v
            .get("StateMachines")
            .and_then(Value::as_object)
            .ok_or_else(|| shape("/StateMachines", "must be an object"))?;
        let sm = sms.get(state_machine).ok_or_else(|| {
            MockConfigError::Missing(format!(
                "state machine '{state_machine}' is not in the mock config (it has: {})",
                sms.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let cases = sm.get("TestCases").and_then(Value::as_object).ok_or_else(|| {
            shape(
                &format!("/StateMachines/{state_machine}/TestCases"),
                "must be an object",
            )
        })?;
        let case = cases.get(test_case).and_then(Value::as_object).ok_or_else(|| {
            MockConfigError::Missing(format!(
                "test case '{test_case}' is not in the mock config for '{state_machine}' (it has: {})",
                cases.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let responses = v
            .get("MockedResponses")
            .and_then(Value::as_object)
            .ok_or_else(|| shape("/MockedResponses", "must be an object"))?;
        let mut by_state = HashMap::new();
        for (state, mock) in case {
            let mock = mock.as_str().ok_or_else(|| {
                shape(
                    &format!("/StateMachines/{state_machine}/TestCases/{test_case}/{state}"),
                    "must name a mocked response",
                )
            })?;
            let at = format!("/MockedResponses/{mock}");
            let entries = responses
                .get(mock)
                .and_then(Value::as_object)
                .ok_or_else(|| shape(&at, "is missing (referenced by the test case)"))?;
            let mut list = Vec::new();
            for (k, r) in entries {
                let here = format!("{at}/{k}");
                let (lo, hi) = match k.split_once('-') {
                    Some((a, b)) => (a.trim().parse::<u32>(), b.trim().parse::<u32>()),
                    None => (k.trim().parse::<u32>(), k.trim().parse::<u32>()),
                };
                let (Ok(lo), Ok(hi)) = (lo, hi) else {
                    return Err(shape(
                        &here,
                        "keys must be invocation numbers like \"0\" or ranges like \"1-2\"",
                    ));
                };
                if hi < lo {
                    return Err(shape(&here, "the range is empty"));
                }
                let resp = match (r.get("Return"), r.get("Throw")) {
                    (Some(v), None) => Response::Return(v.clone()),
                    (None, Some(t)) => Response::Throw(StateError::new(
                        t.get("Error").and_then(Value::as_str).unwrap_or_default(),
                        t.get("Cause").and_then(Value::as_str).unwrap_or_default(),
                    )),
                    _ => return Err(shape(&here, "must have exactly one of Return and Throw")),
                };
                list.push((lo, hi, resp));
            }
            by_state.insert(state.clone(), list);
        }
        Ok(MockTasks { by_state })
    }

    /// Builds mocks directly from per-state response lists (invocation `i`
    /// gets entry `i`); used by tests and the differential corpus.
    pub fn from_sequences(seqs: HashMap<String, Vec<Result<Value, StateError>>>) -> MockTasks {
        let by_state = seqs
            .into_iter()
            .map(|(s, rs)| {
                let list = rs
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let resp = match r {
                            Ok(v) => Response::Return(v),
                            Err(e) => Response::Throw(e),
                        };
                        (i as u32, i as u32, resp)
                    })
                    .collect();
                (s, list)
            })
            .collect();
        MockTasks { by_state }
    }

    /// The mocked response for an invocation, or `None` when its state has
    /// no mock in this test case.
    pub fn respond(&self, inv: &TaskInvocation) -> Option<Result<Value, StateError>> {
        let list = self.by_state.get(&*inv.state_name)?;
        let n = inv.invocation;
        let r = list.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&n));
        Some(match r {
            Some((_, _, Response::Return(v))) => Ok(v.clone()),
            Some((_, _, Response::Throw(e))) => Err(e.clone()),
            None => Err(StateError::runtime(format!(
                "The mock for Task state '{}' has no response for invocation number {n}",
                inv.state_name
            ))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inv(state: &str, invocation: u32) -> TaskInvocation {
        TaskInvocation {
            invocation,
            token: 1,
            resource: "arn:aws:states:::lambda:invoke".into(),
            parameters: json!({}),
            state_name: state.into(),
            task_token: "t".into(),
            timeout_seconds: None,
            heartbeat_seconds: None,
            attempt: 0,
            credentials: None,
        }
    }

    #[test]
    fn responses_by_invocation_number_and_range() {
        let cfg = json!({
            "StateMachines": {"SM": {"TestCases": {"Case": {"T": "M"}}}},
            "MockedResponses": {"M": {"0": {"Throw": {"Error": "E", "Cause": "c"}}, "1-2": {"Return": {"ok": 1}}}}
        });
        let m = MockTasks::from_config(&cfg.to_string(), "SM", "Case").unwrap();
        assert_eq!(m.respond(&inv("T", 0)), Some(Err(StateError::new("E", "c"))));
        assert_eq!(m.respond(&inv("T", 1)), Some(Ok(json!({"ok": 1}))));
        assert_eq!(m.respond(&inv("T", 2)), Some(Ok(json!({"ok": 1}))));
        assert_eq!(m.respond(&inv("T", 3)).unwrap().unwrap_err().error, "States.Runtime");
        assert_eq!(m.respond(&inv("Other", 0)), None);
    }

    #[test]
    fn bad_configs_are_explained() {
        assert!(matches!(
            MockTasks::from_config("{", "SM", "C"),
            Err(MockConfigError::Json(_))
        ));
        let cfg = json!({"StateMachines": {"SM": {"TestCases": {"C": {"T": "Nope"}}}}, "MockedResponses": {}});
        let e = MockTasks::from_config(&cfg.to_string(), "SM", "C")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/MockedResponses/Nope"), "{e}");
        let e = MockTasks::from_config(&cfg.to_string(), "SM", "Missing")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'Missing'"), "{e}");
        let cfg = json!({"StateMachines": {"SM": {"TestCases": {"C": {"T": "M"}}}}, "MockedResponses": {"M": {"x": {"Return": 1}}}});
        assert!(MockTasks::from_config(&cfg.to_string(), "SM", "C").is_err());
    }
}
