//! A `task` guest that summarises the phases of a Kubernetes Job's pods.
//!
//! Input: `{"ClusterName", "Endpoint", "CertificateAuthority", "Namespace",
//! "JobName"}`. Output: `{"Job": JOBNAME, "Pods": N, "Phases": {"Failed":
//! 1, "Succeeded": 2}}`, the phases sorted by name. An error of the host
//! (`EKS.403`, `Wasm.Denied`, ...) is the task's error, unchanged.

use aslan_guest::serde_json::Map;
use aslan_guest::{json, kubernetes, str_field, Cluster, PodList, Task, TaskError, Value};

/// The component's task.
pub struct JobPods;

impl Task for JobPods {
    fn run(input: Value) -> Result<Value, TaskError> {
        let cluster = Cluster::from_parameters(&input)?;
        let namespace = str_field(&input, "Namespace")?;
        let job = str_field(&input, "JobName")?;
        let pods = kubernetes::job_pods(&cluster, namespace, job)?;
        Ok(summary(job, &pods))
    }
}

aslan_guest::export_task!(JobPods);

/// `{"Job": job, "Pods": N, "Phases": {PHASE: COUNT, ...}}`, phases sorted
/// by name; a pod without `status.phase` counts as `Unknown`.
pub fn summary(job: &str, pods: &PodList) -> Value {
    let phases: Map<String, Value> = pods.phases().into_iter().map(|(p, n)| (p, json!(n))).collect();
    json!({ "Job": job, "Pods": pods.len(), "Phases": phases })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"phase": phase}})
    }

    #[test]
    fn counts_phases_sorted() {
        let pods = PodList::from_value(json!({"kind": "PodList", "items": [
            pod("pi-c", "Succeeded"),
            pod("pi-a", "Failed"),
            pod("pi-b", "Succeeded"),
            pod("pi-d", "Running"),
        ]}));
        let out = summary("pi", &pods);
        assert_eq!(
            out,
            json!({"Job": "pi", "Pods": 4, "Phases": {"Failed": 1, "Running": 1, "Succeeded": 2}})
        );
        // The text has the keys in this order.
        assert_eq!(
            out.to_string(),
            r#"{"Job":"pi","Pods":4,"Phases":{"Failed":1,"Running":1,"Succeeded":2}}"#
        );
    }

    #[test]
    fn no_pods() {
        let out = summary("pi", &PodList::from_value(json!({"kind": "PodList", "items": []})));
        assert_eq!(out.to_string(), r#"{"Job":"pi","Pods":0,"Phases":{}}"#);
    }

    #[test]
    fn bad_input_is_a_runtime_error() {
        let input = json!({"ClusterName": "c", "Endpoint": "https://e", "CertificateAuthority": "", "Namespace": "d"});
        assert_eq!(
            JobPods::run(input),
            Err(TaskError::runtime("expected a string field \"JobName\""))
        );
    }
}
