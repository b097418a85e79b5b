//! The host check (`examples/wasm/README.md`): a task that calls every host
//! function once, so that the tests prove a Rust guest reaches each one.
//!
//! Input: `{"Cluster": {"Name", "Endpoint", "CertificateAuthority"},
//! "Namespace", "JobName", "EksCluster"}`. Output: `{"stateGet",
//! "stateRemoved", "callStatus", "createdJob", "readJobKind",
//! "listPodsKind", "podLogError", "eks"}`. An unexpected outcome of a step
//! is the error `HostCheck.Failed`, its cause naming the step.

use std::fmt::Display;

use aslan_guest::kubernetes::{self, Request};
use aslan_guest::{eks, json, log, state, str_field, Cluster, Task, TaskError, Value};

struct HostCheck;

impl Task for HostCheck {
    fn run(input: Value) -> Result<Value, TaskError> {
        log::info("hostcheck: start");

        let c = &input["Cluster"];
        let cluster = Cluster::new(
            field(c, "Name")?,
            field(c, "Endpoint")?,
            field(c, "CertificateAuthority")?,
        );
        let namespace = field(&input, "Namespace")?;
        let job_name = field(&input, "JobName")?;
        let eks_cluster = field(&input, "EksCluster")?;

        // stateGet: set, then get, parsed.
        state::set_json("hostcheck", r#"{"n":1}"#).map_err(|e| failed("stateGet", host("state.set", e)))?;
        let state_get = match state::get("hostcheck") {
            Ok(Some(value)) => value,
            Ok(None) => return Err(failed("stateGet", "state.get gave none")),
            Err(e) => return Err(failed("stateGet", host("state.get", e))),
        };

        // stateRemoved: remove, then get gives none.
        state::remove("hostcheck");
        let state_removed = state::get_json("hostcheck").is_none();

        // callStatus: GET the namespace.
        let response = kubernetes::call(&cluster, &Request::get(format!("/api/v1/namespaces/{namespace}")))
            .map_err(|e| failed("callStatus", host("kubernetes.call", e)))?;

        // createdJob: create a Job named JOBNAME.
        let job = json!({
            "metadata": {"name": job_name},
            "spec": {"template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox"}],
            }}},
        });
        let created = kubernetes::create_job(&cluster, &namespace, &job)
            .map_err(|e| failed("createdJob", host("kubernetes.create-job", e)))?;
        let created_name = created
            .name()
            .ok_or_else(|| failed("createdJob", "the Job has no metadata.name"))?;

        // readJobKind: read it back.
        let read = kubernetes::read_job(&cluster, &namespace, created_name)
            .map_err(|e| failed("readJobKind", host("kubernetes.read-job", e)))?;

        // listPodsKind: list its pods.
        let pods = kubernetes::list_pods(&cluster, &namespace, &kubernetes::job_selector(&job_name))
            .map_err(|e| failed("listPodsKind", host("kubernetes.list-pods", e)))?;

        // podLogError: the log of a pod that does not exist is an error.
        let pod_log_error = match kubernetes::read_pod_log(&cluster, &namespace, "no-such-pod", None, Some(10)) {
            Err(e) => e.error,
            Ok(_) => {
                return Err(failed(
                    "podLogError",
                    "kubernetes.read-pod-log of no-such-pod succeeded",
                ))
            }
        };

        // eks: describe the cluster: its status, or the error's name.
        let eks = match eks::call(eks::Operation::DescribeCluster, &json!({ "Name": eks_cluster })) {
            Ok(result) => result["Cluster"]["Status"].clone(),
            Err(e) => Value::String(e.error),
        };

        Ok(json!({
            "stateGet": state_get,
            "stateRemoved": state_removed,
            "callStatus": response.status_code,
            "createdJob": created_name,
            "readJobKind": read.value()["kind"],
            "listPodsKind": pods.value()["kind"],
            "podLogError": pod_log_error,
            "eks": eks,
        }))
    }
}

aslan_guest::export_task!(HostCheck);

/// A string member of the input (`HostCheck.Failed` naming `input` if absent).
fn field(value: &Value, key: &str) -> Result<String, TaskError> {
    str_field(value, key)
        .map(str::to_string)
        .map_err(|e| failed("input", e.cause))
}

/// `HostCheck.Failed`, the cause naming the step.
fn failed(step: &str, detail: impl Display) -> TaskError {
    TaskError::new("HostCheck.Failed", format!("{step}: {detail}"))
}

/// A host function's error, for a cause: `FUNCTION: ERROR: CAUSE`.
fn host(function: &str, e: TaskError) -> String {
    format!("{function}: {}: {}", e.error, e.cause)
}
