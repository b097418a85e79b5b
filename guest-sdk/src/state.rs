//! A small durable key-value store per module, shared by all of its
//! invocations (counters, caches).
//!
//! Keys are at most 256 bytes, values at most 64 KiB, and a module has at
//! most 1,000 keys. A poller's own progress belongs in the state of
//! [`Decision::Again`](crate::Decision::Again), which the executor commits
//! with the task.

use serde_json::Value;

use crate::bindings::imports::aslan::host::state as raw;
use crate::{parse_json, TaskError};

/// The value stored under `key`, if any.
///
/// ```no_run
/// use aslan_guest::{json, state};
/// state::set("runs", &json!(1))?;
/// assert_eq!(state::get("runs")?, Some(json!(1)));
/// # Ok::<(), aslan_guest::TaskError>(())
/// ```
pub fn get(key: &str) -> Result<Option<Value>, TaskError> {
    raw::get(key).map(|text| parse_json(&text)).transpose()
}

/// The JSON text stored under `key`, if any, as the host returns it.
pub fn get_json(key: &str) -> Option<String> {
    raw::get(key)
}

/// Stores `value` under `key`. `States.Runtime` when a limit is exceeded.
pub fn set(key: &str, value: &Value) -> Result<(), TaskError> {
    raw::set(key, &value.to_string())
}

/// Stores JSON text under `key`. `States.Runtime` when a limit is exceeded
/// or `json` is not JSON.
pub fn set_json(key: &str, json: &str) -> Result<(), TaskError> {
    raw::set(key, json)
}

/// Removes `key` (nothing happens when it is absent).
pub fn remove(key: &str) {
    raw::remove(key)
}
