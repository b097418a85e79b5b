//! The EKS integration: `arn:aws:states:::eks:createCluster`,
//! `deleteCluster`, `createNodegroup`, `deleteNodegroup`,
//! `createFargateProfile` and `deleteFargateProfile`, each also `.sync`,
//! through aws-sdk-eks.
//!
//! - Parameters are the EKS request members in PascalCase (`Name`,
//!   `RoleArn`, `ResourcesVpcConfig.SubnetIds`); results are the EKS
//!   response in PascalCase (`Cluster.Status`,
//!   `Cluster.CertificateAuthority.Data`); see [`members`].
//! - A create sends `clientRequestToken` (the task's idempotency key, unless
//!   the parameters give one), so a start that runs again after a restart
//!   does not create twice: EKS answers a repeated token with the resource.
//! - `.sync` waits as a durable poll step that describes the resource: a
//!   create until it is `ACTIVE` (a `FAILED` or `CREATE_FAILED` status fails
//!   the task with `States.TaskFailed` and the status and health issues as
//!   the cause), a delete until it is gone (`DELETE_FAILED` fails it). The
//!   first look is after [`FIRST_POLL_MS`], then the interval doubles up to
//!   [`MAX_POLL_MS`]. A look that cannot reach the API, or gets
//!   `ServerException` or `ServiceUnavailableException`, is tried again at
//!   the next interval instead of failing the wait.
//! - Service errors are `EKS.<ExceptionName>` (`EKS.ResourceInUseException`,
//!   `EKS.ResourceNotFoundException`, `EKS.InvalidParameterException`, ...)
//!   with the service's message as the cause; the SDK retries throttling.
//! - Cancelling a task deletes nothing: as AWS's documentation warns,
//!   clusters outlive a stopped execution.

pub mod api;
pub mod cleanup;
pub mod members;

use super::{Integration, Outcome, Pattern, Resource, Task, TaskFuture};
use crate::asl::StateError;
use api::{EksApi, Op, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// The first `.sync` poll comes this long after the call.
pub const FIRST_POLL_MS: u64 = 1_000;
/// Polls are at most this far apart.
pub const MAX_POLL_MS: u64 = 30_000;

/// Serves the six EKS resources.
#[derive(Default)]
pub struct Eks {
    api: Arc<EksApi>,
}

impl Eks {
    /// The integration; credentials, region and endpoint come from the
    /// standard AWS configuration.
    pub fn new() -> Eks {
        Eks::default()
    }
}

const PATTERNS: &[Pattern] = &[Pattern::RequestResponse, Pattern::Sync];

/// What `.sync` keeps between polls.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WaitState {
    target: Target,
    /// Waiting for the resource to be gone (a delete) or ACTIVE (a create).
    deleting: bool,
    /// The delete's answer, which a finished delete returns.
    #[serde(default)]
    response: Value,
    next_ms: u64,
}

fn op(task: &Task) -> Option<Op> {
    (task.resource.service() == "eks")
        .then(|| Op::from_action(task.resource.action()))
        .flatten()
}

impl Integration for Eks {
    fn patterns(&self, resource: &Resource) -> Option<&'static [Pattern]> {
        (resource.service() == "eks" && Op::from_action(resource.action()).is_some()).then_some(PATTERNS)
    }

    fn validate_parameters(&self, resource: &Resource, parameters: &Value) -> Vec<String> {
        match Op::from_action(resource.action()) {
            Some(op) => members::check_static(op.name(), parameters),
            None => Vec::new(),
        }
    }

    fn start(&self, task: Task) -> TaskFuture {
        let api = self.api.clone();
        Box::pin(async move {
            match start(&api, &task).await {
                Ok(o) => o,
                Err(e) => Outcome::Failed(e),
            }
        })
    }

    fn started_view(&self, _resource: &Resource, state: &Value) -> Value {
        let Ok(w) = serde_json::from_value::<WaitState>(state.clone()) else {
            return state.clone();
        };
        let mut v = match w.target {
            Target::Cluster { name } => json!({ "Name": name }),
            Target::Nodegroup { cluster, name } => json!({ "ClusterName": cluster, "NodegroupName": name }),
            Target::FargateProfile { cluster, name } => json!({ "ClusterName": cluster, "FargateProfileName": name }),
        };
        v["Deleting"] = json!(w.deleting);
        v
    }

    fn poll(&self, task: Task, state: Value) -> TaskFuture {
        let api = self.api.clone();
        Box::pin(async move {
            match poll(&api, &task, state).await {
                Ok(o) => o,
                Err(e) => Outcome::Failed(e),
            }
        })
    }
}

async fn start(api: &EksApi, task: &Task) -> Result<Outcome, StateError> {
    let op = op(task).ok_or_else(|| crate::tasks::unsupported(&task.invocation))?;
    let params = &task.invocation.parameters;
    let mut req =
        members::to_request(op.name(), params).map_err(|p| crate::tasks::kubernetes::params::bad(params, &p))?;
    if op.creates() && req.get("clientRequestToken").is_none() {
        req["clientRequestToken"] = json!(task.ctx.idempotency_key);
    }
    let target = op.target(&req).ok_or_else(|| {
        crate::tasks::kubernetes::params::bad(params, &["The resource's name is required but was missing".into()])
    })?;
    let raw = api.call(&task.ctx.region, op, &req).await?;
    let result = members::to_result(raw);
    if task.resource.pattern() != Pattern::Sync {
        return Ok(Outcome::Succeeded(result));
    }
    task.ctx.started();
    let deleting = !op.creates();
    Ok(Outcome::Poll {
        after_ms: FIRST_POLL_MS,
        state: serde_json::to_value(WaitState {
            target,
            deleting,
            response: if deleting { result } else { Value::Null },
            next_ms: FIRST_POLL_MS,
        })
        .unwrap_or(Value::Null),
    })
}

/// Failures worth another look rather than failing a long wait.
fn transient(e: &StateError) -> bool {
    matches!(
        e.error.as_str(),
        crate::asl::error::TASK_FAILED | "EKS.ServerException" | "EKS.ServiceUnavailableException"
    )
}

/// The described resource's object (`cluster`, `nodegroup`,
/// `fargateProfile`) in a describe answer.
fn resource_of(described: &Value) -> &Value {
    described
        .as_object()
        .and_then(|o| o.values().find(|v| v.is_object()))
        .unwrap_or(&Value::Null)
}

async fn poll(api: &EksApi, task: &Task, state: Value) -> Result<Outcome, StateError> {
    let mut st: WaitState = serde_json::from_value(state)
        .map_err(|_| StateError::runtime("the stored poll state of an EKS .sync task is not readable"))?;
    let again = |mut st: WaitState| {
        let after_ms = (st.next_ms * 2).clamp(FIRST_POLL_MS, MAX_POLL_MS);
        st.next_ms = after_ms;
        Ok(Outcome::Poll {
            after_ms,
            state: serde_json::to_value(st).unwrap_or(Value::Null),
        })
    };
    let described = match api.describe(&task.ctx.region, &st.target).await {
        Ok(d) => d,
        // The API could not be reached, or was briefly unable to answer:
        // a wait of many minutes does not fail for that; look again later.
        Err(e) if transient(&e) => {
            tracing::warn!(error = %e.error, cause = %e.cause, "cannot describe the EKS resource; polling again later");
            return again(st);
        }
        Err(e) => return Err(e),
    };
    let Some(described) = described else {
        return if st.deleting {
            Ok(Outcome::Succeeded(std::mem::take(&mut st.response)))
        } else {
            Err(StateError::new(
                "EKS.ResourceNotFoundException",
                format!("{:?} disappeared while it was being created", st.target),
            ))
        };
    };
    let status = resource_of(&described)["status"].as_str().unwrap_or("").to_string();
    match (st.deleting, status.as_str()) {
        (false, "ACTIVE") => Ok(Outcome::Succeeded(members::to_result(described))),
        (false, "FAILED" | "CREATE_FAILED") | (true, "DELETE_FAILED") => {
            let r = members::to_result(resource_of(&described).clone());
            Err(StateError::new(
                crate::asl::error::TASK_FAILED,
                json!({"Status": status, "Health": r.get("Health").cloned().unwrap_or(Value::Null)}).to_string(),
            ))
        }
        _ => again(st),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_eks_resource_supports_request_response_and_sync() {
        let e = Eks::new();
        for a in [
            "createCluster",
            "deleteCluster",
            "createNodegroup",
            "deleteNodegroup",
            "createFargateProfile",
            "deleteFargateProfile",
        ] {
            let r = Resource::parse(&format!("arn:aws:states:::eks:{a}.sync"));
            assert_eq!(e.patterns(&r), Some(PATTERNS), "{a}");
        }
        assert_eq!(e.patterns(&Resource::parse("arn:aws:states:::eks:call")), None);
        assert_eq!(
            e.patterns(&Resource::parse("arn:aws:states:::eks:describeCluster")),
            None
        );
    }

    #[test]
    fn the_resource_object_is_found_in_a_describe_answer() {
        let d = json!({"cluster": {"name": "c", "status": "CREATING"}});
        assert_eq!(resource_of(&d)["status"], "CREATING");
    }
}
