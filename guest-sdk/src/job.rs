//! Typed views of a Kubernetes Job and a list of pods.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{parse_json, TaskError};

/// A Kubernetes Job (`batch/v1`), as the API server returned it: the parsed
/// JSON and the text it came from, so that a guest can hand the host the
/// Job exactly as it read it ([`Job::json`]).
///
/// ```
/// use aslan_guest::Job;
/// let job = Job::parse(r#"{
///   "kind": "Job",
///   "metadata": {"name": "pi", "namespace": "default"},
///   "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
/// }"#.to_string()).unwrap();
/// assert_eq!(job.name(), Some("pi"));
/// assert!(!job.is_complete());
/// assert_eq!(job.failed_reason(), Some("BackoffLimitExceeded"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    text: String,
    value: Value,
}

impl Job {
    /// Parses a Job's JSON text (`States.Runtime` if it is not JSON).
    pub fn parse(text: String) -> Result<Self, TaskError> {
        let value = parse_json(&text)?;
        Ok(Job { text, value })
    }

    /// A Job from parsed JSON; [`Job::json`] is then its serialization.
    pub fn from_value(value: Value) -> Self {
        Job {
            text: value.to_string(),
            value,
        }
    }

    /// The Job's JSON.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The Job's JSON, taken.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The Job's JSON text, exactly as it was parsed.
    pub fn json(&self) -> &str {
        &self.text
    }

    /// The Job's JSON text, taken.
    pub fn into_json(self) -> String {
        self.text
    }

    /// `kind` (`"Job"`).
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(Value::as_str)
    }

    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.value.pointer("/metadata/name").and_then(Value::as_str)
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        self.value.pointer("/metadata/namespace").and_then(Value::as_str)
    }

    /// The first of `status.conditions` of type `kind` whose `status` is
    /// `"True"`.
    pub fn condition(&self, kind: &str) -> Option<&Value> {
        self.value.pointer("/status/conditions")?.as_array()?.iter().find(|c| {
            c.get("type").and_then(Value::as_str) == Some(kind)
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    }

    /// Whether the Job has the condition `{"type": "Complete", "status": "True"}`.
    pub fn is_complete(&self) -> bool {
        self.condition("Complete").is_some()
    }

    /// Whether the Job has the condition `{"type": "Failed", "status": "True"}`.
    pub fn is_failed(&self) -> bool {
        self.condition("Failed").is_some()
    }

    /// When the Job has failed, the `reason` of its `Failed` condition, or
    /// `""` when it gives none; `None` when it has not failed.
    pub fn failed_reason(&self) -> Option<&str> {
        self.condition("Failed")
            .map(|c| c.get("reason").and_then(Value::as_str).unwrap_or(""))
    }
}

impl From<Job> for Value {
    fn from(job: Job) -> Value {
        job.value
    }
}

/// A `PodList`, as `list-pods` returns it.
///
/// ```
/// use aslan_guest::{json, PodList};
/// let pods = PodList::from_value(json!({"kind": "PodList", "items": [
///   {"metadata": {"name": "pi-x"}, "status": {"phase": "Pending", "containerStatuses": [
///     {"name": "pi", "state": {"waiting": {"reason": "ErrImagePull"}}}]}}
/// ]}));
/// assert_eq!(pods.len(), 1);
/// let stuck = pods.image_pull_failure().unwrap();
/// assert_eq!((stuck.pod, stuck.container, stuck.reason), ("pi-x", "pi", "ErrImagePull"));
/// assert_eq!(pods.phases().get("Pending"), Some(&1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PodList {
    value: Value,
}

/// A container that is waiting, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting<'a> {
    /// The pod's `metadata.name` (`""` if absent).
    pub pod: &'a str,
    /// The container's `name` (`""` if absent).
    pub container: &'a str,
    /// `state.waiting.reason` (`""` if absent): `ContainerCreating`,
    /// `ImagePullBackOff`, `CrashLoopBackOff`, ...
    pub reason: &'a str,
    /// `state.waiting.message`, if any.
    pub message: Option<&'a str>,
}

impl Waiting<'_> {
    /// Whether the container cannot get its image: `ImagePullBackOff` or
    /// `ErrImagePull`. Such a pod never finishes on its own.
    pub fn is_image_pull_failure(&self) -> bool {
        matches!(self.reason, "ImagePullBackOff" | "ErrImagePull")
    }
}

impl PodList {
    /// Parses a `PodList`'s JSON text (`States.Runtime` if it is not JSON).
    pub fn parse(text: &str) -> Result<Self, TaskError> {
        Ok(PodList {
            value: parse_json(text)?,
        })
    }

    /// A `PodList` from parsed JSON.
    pub fn from_value(value: Value) -> Self {
        PodList { value }
    }

    /// The list's JSON.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The list's JSON, taken.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The pods (`items`), in order.
    pub fn pods(&self) -> impl Iterator<Item = &Value> {
        self.value.get("items").and_then(Value::as_array).into_iter().flatten()
    }

    /// How many pods the list has.
    pub fn len(&self) -> usize {
        self.pods().count()
    }

    /// Whether the list has no pods.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The waiting containers: for each pod in order, each of its
    /// `status.containerStatuses` in order that has `state.waiting`.
    pub fn waiting(&self) -> impl Iterator<Item = Waiting<'_>> {
        self.pods().flat_map(|pod| {
            let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let statuses = pod.pointer("/status/containerStatuses").and_then(Value::as_array);
            statuses.into_iter().flatten().filter_map(move |status| {
                let waiting = status.pointer("/state/waiting")?;
                Some(Waiting {
                    pod: name,
                    container: status.get("name").and_then(Value::as_str).unwrap_or(""),
                    reason: waiting.get("reason").and_then(Value::as_str).unwrap_or(""),
                    message: waiting.get("message").and_then(Value::as_str),
                })
            })
        })
    }

    /// The first container (in [`PodList::waiting`]'s order) that cannot
    /// get its image.
    pub fn image_pull_failure(&self) -> Option<Waiting<'_>> {
        self.waiting().find(Waiting::is_image_pull_failure)
    }

    /// How many pods are in each `status.phase`, phases sorted by name. A
    /// pod without a phase counts as `Unknown`.
    pub fn phases(&self) -> BTreeMap<String, u64> {
        let mut phases = BTreeMap::new();
        for pod in self.pods() {
            let phase = pod
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Unknown");
            *phases.entry(phase.to_string()).or_insert(0) += 1;
        }
        phases
    }
}

impl From<PodList> for Value {
    fn from(list: PodList) -> Value {
        list.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(conditions: Value) -> Job {
        Job::from_value(
            json!({"kind": "Job", "metadata": {"name": "j", "namespace": "n"}, "status": {"conditions": conditions}}),
        )
    }

    #[test]
    fn job_accessors() {
        let j = job(json!([]));
        assert_eq!((j.kind(), j.name(), j.namespace()), (Some("Job"), Some("j"), Some("n")));
        let empty = Job::from_value(json!({}));
        assert_eq!((empty.kind(), empty.name(), empty.namespace()), (None, None, None));
        assert!(!empty.is_complete() && !empty.is_failed() && empty.failed_reason().is_none());
    }

    #[test]
    fn job_keeps_its_text() {
        let text = "{ \"kind\" : \"Job\", \"x\": 1.50 }";
        let j = Job::parse(text.to_string()).unwrap();
        assert_eq!(j.json(), text);
        assert_eq!(j.value()["x"], 1.5);
        assert_eq!(j.clone().into_json(), text);
        assert_eq!(Value::from(j), json!({"kind": "Job", "x": 1.5}));
        assert_eq!(Job::parse("nope".into()).unwrap_err().error, "States.Runtime");
    }

    #[test]
    fn complete_needs_status_true() {
        assert!(job(json!([{"type": "Complete", "status": "True"}])).is_complete());
        assert!(!job(json!([{"type": "Complete", "status": "False"}])).is_complete());
        assert!(!job(json!([{"type": "Complete"}])).is_complete());
        assert!(!job(json!([{"type": "SuccessCriteriaMet", "status": "True"}])).is_complete());
        assert!(
            job(json!([{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]))
                .is_complete()
        );
        assert!(!job(json!("not a list")).is_complete());
    }

    #[test]
    fn failed_reason() {
        let f = job(json!([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]));
        assert!(f.is_failed());
        assert_eq!(f.failed_reason(), Some("DeadlineExceeded"));
        assert_eq!(
            job(json!([{"type": "Failed", "status": "True"}])).failed_reason(),
            Some("")
        );
        assert_eq!(
            job(json!([{"type": "Failed", "status": "True", "reason": 7}])).failed_reason(),
            Some("")
        );
        assert_eq!(
            job(json!([{"type": "Failed", "status": "False", "reason": "x"}])).failed_reason(),
            None
        );
        // The first Failed condition that is True decides.
        let two = job(json!([
            {"type": "Failed", "status": "False", "reason": "a"},
            {"type": "Failed", "status": "True", "reason": "b"},
            {"type": "Failed", "status": "True", "reason": "c"},
        ]));
        assert_eq!(two.failed_reason(), Some("b"));
    }

    fn pod(name: &str, phase: Option<&str>, statuses: Value) -> Value {
        let mut status = json!({"containerStatuses": statuses});
        if let Some(phase) = phase {
            status["phase"] = json!(phase);
        }
        json!({"metadata": {"name": name}, "status": status})
    }

    #[test]
    fn waiting_in_order() {
        let list = PodList::from_value(json!({"kind": "PodList", "items": [
            pod("a", Some("Running"), json!([{"name": "c1", "state": {"running": {}}}])),
            pod("b", Some("Pending"), json!([
                {"name": "c1", "state": {"waiting": {"reason": "ContainerCreating"}}},
                {"name": "c2", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling"}}},
            ])),
            pod("c", Some("Pending"), json!([{"name": "c1", "state": {"waiting": {"reason": "ErrImagePull"}}}])),
        ]}));
        let waiting: Vec<_> = list.waiting().collect();
        assert_eq!(waiting.len(), 3);
        assert_eq!(
            waiting[0],
            Waiting {
                pod: "b",
                container: "c1",
                reason: "ContainerCreating",
                message: None
            }
        );
        assert!(!waiting[0].is_image_pull_failure());
        assert_eq!(
            list.image_pull_failure(),
            Some(Waiting {
                pod: "b",
                container: "c2",
                reason: "ImagePullBackOff",
                message: Some("Back-off pulling")
            })
        );
        assert!(waiting[2].is_image_pull_failure());
    }

    #[test]
    fn waiting_tolerates_missing_fields() {
        let list = PodList::from_value(json!({"items": [
            {},
            {"status": {"containerStatuses": "x"}},
            {"status": {"containerStatuses": [{"state": {"waiting": {}}}]}},
        ]}));
        assert_eq!(
            list.waiting().collect::<Vec<_>>(),
            vec![Waiting {
                pod: "",
                container: "",
                reason: "",
                message: None
            }]
        );
        assert_eq!(list.image_pull_failure(), None);
        assert!(PodList::from_value(json!({"kind": "PodList"})).is_empty());
    }

    #[test]
    fn phases_sorted() {
        let list = PodList::parse(
            &json!({"items": [
                pod("a", Some("Succeeded"), json!([])),
                pod("b", Some("Failed"), json!([])),
                pod("c", Some("Succeeded"), json!([])),
                pod("d", None, json!([])),
            ]})
            .to_string(),
        )
        .unwrap();
        assert_eq!(list.len(), 4);
        let phases: Vec<_> = list.phases().into_iter().collect();
        assert_eq!(
            phases,
            vec![("Failed".into(), 1), ("Succeeded".into(), 2), ("Unknown".into(), 1)]
        );
    }
}
