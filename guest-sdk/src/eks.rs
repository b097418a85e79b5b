//! The Amazon EKS API, as the `eks:create*`/`eks:delete*` Task resources
//! call it, in Step Functions' PascalCase shapes.
//!
//! Each operation is checked against the module's allowlist; a refused one
//! fails the whole Task with `Wasm.Denied`. Service errors are named
//! `EKS.<ExceptionName>` (`EKS.ResourceNotFoundException`).

use serde_json::Value;

use crate::bindings::imports::aslan::host::eks as raw;
use crate::{parse_json, TaskError};

/// The operations a guest may call: `CreateCluster`, `DescribeCluster`,
/// `DeleteCluster` and the same for nodegroups and Fargate profiles.
pub use raw::Operation;

/// Calls one operation with `request` (for example `{"Name": "prod"}` for
/// [`Operation::DescribeCluster`]) and returns its result
/// (`{"Cluster": {...}}`).
///
/// ```no_run
/// use aslan_guest::{eks, json};
/// let cluster = eks::call(eks::Operation::DescribeCluster, &json!({"Name": "prod"}))?;
/// let status = cluster["Cluster"]["Status"].as_str();
/// # Ok::<(), aslan_guest::TaskError>(())
/// ```
pub fn call(operation: Operation, request: &Value) -> Result<Value, TaskError> {
    parse_json(&raw::call(operation, &request.to_string())?)
}
