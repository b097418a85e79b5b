//! Execution history events, named and shaped as GetExecutionHistory returns them.

use serde_json::{json, Map, Value};

/// One history event.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// 1-based, gapless within an execution.
    pub id: u64,
    /// The event that led to this one (0 for the first).
    pub previous_event_id: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// AWS's event type, e.g. `TaskStateEntered`.
    pub event_type: &'static str,
    /// The details field name (e.g. `stateEnteredEventDetails`) and value.
    pub details: Option<(&'static str, Value)>,
}

impl HistoryEvent {
    /// The event as the Step Functions API returns it (timestamps in epoch seconds).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("timestamp".into(), json!(self.timestamp_ms as f64 / 1000.0));
        m.insert("type".into(), json!(self.event_type));
        m.insert("id".into(), json!(self.id));
        m.insert("previousEventId".into(), json!(self.previous_event_id));
        if let Some((k, v)) = &self.details {
            m.insert((*k).into(), v.clone());
        }
        Value::Object(m)
    }
}

/// `{Type}StateEntered` and `{Type}StateExited` for a state type name.
pub fn state_event_types(ty: &str) -> (&'static str, &'static str) {
    match ty {
        "Pass" => ("PassStateEntered", "PassStateExited"),
        "Task" => ("TaskStateEntered", "TaskStateExited"),
        "Choice" => ("ChoiceStateEntered", "ChoiceStateExited"),
        "Wait" => ("WaitStateEntered", "WaitStateExited"),
        "Succeed" => ("SucceedStateEntered", "SucceedStateExited"),
        "Fail" => ("FailStateEntered", "FailStateExited"),
        "Parallel" => ("ParallelStateEntered", "ParallelStateExited"),
        _ => ("MapStateEntered", "MapStateExited"),
    }
}

/// A JSON payload as history carries it: serialized, with its details.
pub fn payload(key: &str, v: &Value) -> (String, Value) {
    (key.to_string(), Value::String(v.to_string()))
}

/// `{"truncated": false}`.
pub fn not_truncated() -> Value {
    json!({"truncated": false})
}
