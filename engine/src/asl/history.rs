//! Execution history events, named and shaped as GetExecutionHistory returns them.
//!
//! Recording an event is on the hot path of every state (two events per
//! state entered), so the common details are kept typed: a state's name is
//! the machine's shared `Arc<str>`, and a JSON payload (a state's input or
//! output) is serialized once into an `Arc<str>` that the events sharing it
//! (a state's exit and the next state's entry, the last state's exit and
//! `ExecutionSucceeded`) point at. The JSON object a client sees is built
//! only by [`HistoryEvent::to_json`] (or, on demand, by indexing
//! [`Details`]).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};
use std::ops::Index;
use std::sync::{Arc, OnceLock};

mod json_line;

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
    pub details: Option<(&'static str, Details)>,
}

/// A serialized JSON payload (a state's input or output), shared by the
/// events that carry the same one.
pub type Payload = Arc<str>;

/// The details of an event: typed for the events every state records,
/// a JSON object for the rest. Index it like a [`Value`]
/// (`details["name"]`); [`Details::to_value`] gives the object itself.
#[derive(Clone)]
pub struct Details {
    detail: Detail,
    /// The JSON object, built on the first index.
    json: OnceLock<Box<Value>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Detail {
    /// `{"name", "input", "inputDetails"}`.
    StateEntered { name: Arc<str>, input: Payload },
    /// `{"name", "output", "outputDetails"}`.
    StateExited { name: Arc<str>, output: Payload },
    /// `{"input", "inputDetails", "roleArn"}`.
    ExecutionStarted { input: Payload, role_arn: Arc<str> },
    /// `{"output", "outputDetails"}`.
    ExecutionSucceeded { output: Payload },
    /// `{"name", "index"}`.
    MapIteration { name: Arc<str>, index: u32 },
    /// `{"length"}`.
    MapStateStarted { length: usize },
    /// `{"resourceType", "resource", "region", "parameters",
    /// "timeoutInSeconds"?, "heartbeatInSeconds"?}`.
    /// Boxed: every event carries a `Detail`, and this variant is the
    /// largest by far.
    TaskScheduled(Box<Scheduled>),
    /// `{"resourceType", "resource"}`.
    TaskStarted { resource: Arc<str> },
    /// `{"resourceType", "resource", "output", "outputDetails"}`.
    TaskSucceeded { resource: Arc<str>, output: Payload },
    /// Anything else, as built.
    Json(Box<Value>),
}

/// The fields of [`Detail::TaskScheduled`].
#[derive(Debug, Clone, PartialEq)]
struct Scheduled {
    resource: Arc<str>,
    region: Arc<str>,
    parameters: Payload,
    timeout: Option<u64>,
    heartbeat: Option<u64>,
}

impl Details {
    fn new(detail: Detail) -> Details {
        Details {
            detail,
            json: OnceLock::new(),
        }
    }

    /// `stateEnteredEventDetails`.
    pub fn state_entered(name: Arc<str>, input: Payload) -> Details {
        Details::new(Detail::StateEntered { name, input })
    }

    /// `stateExitedEventDetails`.
    pub fn state_exited(name: Arc<str>, output: Payload) -> Details {
        Details::new(Detail::StateExited { name, output })
    }

    /// `stateExitedEventDetails` of a state that assigned variables: each
    /// variable's value as a JSON string, as AWS shows them.
    pub fn state_exited_assigning(name: &str, output: &str, vars: Vec<(String, String)>) -> Details {
        let vars: Map<String, Value> = vars.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        json!({
            "name": name,
            "output": output,
            "outputDetails": {"truncated": false},
            "assignedVariables": vars,
            "assignedVariablesDetails": {"truncated": false},
        })
        .into()
    }

    /// `executionStartedEventDetails`.
    pub fn execution_started(input: Payload, role_arn: Arc<str>) -> Details {
        Details::new(Detail::ExecutionStarted { input, role_arn })
    }

    /// `executionSucceededEventDetails`.
    pub fn execution_succeeded(output: Payload) -> Details {
        Details::new(Detail::ExecutionSucceeded { output })
    }

    /// `mapIteration{Started,Succeeded,Failed,Aborted}EventDetails`.
    pub fn map_iteration(name: Arc<str>, index: u32) -> Details {
        Details::new(Detail::MapIteration { name, index })
    }

    /// `mapStateStartedEventDetails`.
    pub fn map_state_started(length: usize) -> Details {
        Details::new(Detail::MapStateStarted { length })
    }

    /// `taskScheduledEventDetails`; `resource` is the state's whole
    /// `Resource`, split as AWS shows it when serialized.
    pub fn task_scheduled(
        resource: Arc<str>,
        region: Arc<str>,
        parameters: Payload,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    ) -> Details {
        Details::new(Detail::TaskScheduled(Box::new(Scheduled {
            resource,
            region,
            parameters,
            timeout,
            heartbeat,
        })))
    }

    /// `taskStartedEventDetails`.
    pub fn task_started(resource: Arc<str>) -> Details {
        Details::new(Detail::TaskStarted { resource })
    }

    /// `taskSucceededEventDetails`.
    pub fn task_succeeded(resource: Arc<str>, output: Payload) -> Details {
        Details::new(Detail::TaskSucceeded { resource, output })
    }

    /// The details as a JSON object (the value under the details key in
    /// [`HistoryEvent::to_json`]).
    pub fn to_value(&self) -> Value {
        match &self.detail {
            Detail::Json(v) => (**v).clone(),
            // The typed details serialize to JSON by one definition, the
            // `Serialize` impl below, whether written out or built.
            _ => serde_json::to_value(self).expect("details serialize to a JSON object"),
        }
    }
}

impl From<Value> for Details {
    fn from(v: Value) -> Details {
        Details::new(Detail::Json(Box::new(v)))
    }
}

impl Index<&str> for Details {
    type Output = Value;

    /// A field of the details object (`Value::Null` when absent).
    fn index(&self, key: &str) -> &Value {
        let v = match &self.detail {
            Detail::Json(v) => v,
            _ => self.json.get_or_init(|| Box::new(self.to_value())),
        };
        &v[key]
    }
}

impl PartialEq for Details {
    fn eq(&self, other: &Details) -> bool {
        self.detail == other.detail
    }
}

impl std::fmt::Debug for Details {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.detail.fmt(f)
    }
}

impl HistoryEvent {
    /// The event as the Step Functions API returns it (timestamps in epoch seconds).
    pub fn to_json(&self) -> Value {
        let mut m = Map::with_capacity(5);
        m.insert("timestamp".into(), json!(self.timestamp_ms as f64 / 1000.0));
        m.insert("type".into(), json!(self.event_type));
        m.insert("id".into(), json!(self.id));
        m.insert("previousEventId".into(), json!(self.previous_event_id));
        if let Some((k, v)) = &self.details {
            m.insert((*k).into(), v.to_value());
        }
        Value::Object(m)
    }
}

/// Serializes to exactly the bytes of [`HistoryEvent::to_json`] (so
/// `serde_json::to_writer(w, &event)` writes what `to_json().to_string()`
/// would), without building the intermediate [`Value`].
impl Serialize for HistoryEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4 + usize::from(self.details.is_some())))?;
        m.serialize_entry("timestamp", &json!(self.timestamp_ms as f64 / 1000.0))?;
        m.serialize_entry("type", self.event_type)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("previousEventId", &self.previous_event_id)?;
        if let Some((k, d)) = &self.details {
            m.serialize_entry(k, d)?;
        }
        m.end()
    }
}

/// Serializes to exactly the bytes of [`Details::to_value`].
impl Serialize for Details {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct NotTruncated;
        impl Serialize for NotTruncated {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("truncated", &false)?;
                m.end()
            }
        }
        match &self.detail {
            Detail::StateEntered { name, input } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("name", &**name)?;
                m.serialize_entry("input", &**input)?;
                m.serialize_entry("inputDetails", &NotTruncated)?;
                m.end()
            }
            Detail::StateExited { name, output } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("name", &**name)?;
                m.serialize_entry("output", &**output)?;
                m.serialize_entry("outputDetails", &NotTruncated)?;
                m.end()
            }
            Detail::ExecutionStarted { input, role_arn } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("input", &**input)?;
                m.serialize_entry("inputDetails", &NotTruncated)?;
                m.serialize_entry("roleArn", &**role_arn)?;
                m.end()
            }
            Detail::ExecutionSucceeded { output } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("output", &**output)?;
                m.serialize_entry("outputDetails", &NotTruncated)?;
                m.end()
            }
            Detail::MapIteration { name, index } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("name", &**name)?;
                m.serialize_entry("index", index)?;
                m.end()
            }
            Detail::MapStateStarted { length } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("length", length)?;
                m.end()
            }
            Detail::TaskScheduled(t) => {
                let Scheduled {
                    resource,
                    region,
                    parameters,
                    timeout,
                    heartbeat,
                } = &**t;
                let (rt, r) = resource_parts(resource);
                let n = 4 + usize::from(timeout.is_some()) + usize::from(heartbeat.is_some());
                let mut m = s.serialize_map(Some(n))?;
                m.serialize_entry("resourceType", rt)?;
                m.serialize_entry("resource", r)?;
                m.serialize_entry("region", &**region)?;
                m.serialize_entry("parameters", &**parameters)?;
                if let Some(t) = timeout {
                    m.serialize_entry("timeoutInSeconds", t)?;
                }
                if let Some(h) = heartbeat {
                    m.serialize_entry("heartbeatInSeconds", h)?;
                }
                m.end()
            }
            Detail::TaskStarted { resource } => {
                let (rt, r) = resource_parts(resource);
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("resourceType", rt)?;
                m.serialize_entry("resource", r)?;
                m.end()
            }
            Detail::TaskSucceeded { resource, output } => {
                let (rt, r) = resource_parts(resource);
                let mut m = s.serialize_map(Some(4))?;
                m.serialize_entry("resourceType", rt)?;
                m.serialize_entry("resource", r)?;
                m.serialize_entry("output", &**output)?;
                m.serialize_entry("outputDetails", &NotTruncated)?;
                m.end()
            }
            Detail::Json(v) => v.serialize(s),
        }
    }
}

/// A Task resource as its history events show it: `resourceType` and
/// `resource` (`arn:aws:states:::lambda:invoke` is `lambda`, `invoke`; any
/// other ARN is its service and the whole ARN).
pub fn resource_parts(resource: &str) -> (&str, &str) {
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::") {
        match rest.split_once(':') {
            Some((t, r)) => (t, r),
            None => (rest, ""),
        }
    } else {
        (resource.split(':').nth(2).unwrap_or(""), resource)
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

/// Serializes a JSON value as history carries it, with `buf` as scratch
/// space (kept between calls so that recording does not grow a fresh
/// buffer for every event).
pub fn payload(buf: &mut Vec<u8>, v: &Value) -> Payload {
    serialize(buf, v);
    payload_of(buf)
}

/// Serializes `v` into `buf` (cleared first), as `v.to_string()` would.
pub fn serialize(buf: &mut Vec<u8>, v: &Value) {
    buf.clear();
    serde_json::to_writer(&mut *buf, v).expect("serializing a Value into memory cannot fail");
}

/// A payload from serialized JSON.
pub fn payload_of(json: &[u8]) -> Payload {
    Arc::from(std::str::from_utf8(json).expect("serde_json writes UTF-8"))
}

/// `{"truncated": false}`.
pub fn not_truncated() -> Value {
    let mut m = Map::with_capacity(1);
    m.insert("truncated".into(), Value::Bool(false));
    Value::Object(m)
}
