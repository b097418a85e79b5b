//! The Job poller of `examples/wasm/README.md`, for `eks:runJob.sync`.
//!
//! Each poll reads the Job, decides `done` when it has completed, `failed`
//! when it has failed or one of its pods cannot pull its image, and
//! otherwise polls again with an exponential backoff and a deterministic
//! jitter. The decision is [`decide`], over a [`Host`] so that the tests
//! run it natively against a fake cluster.

use aslan_guest::kubernetes;
use aslan_guest::{json, log, str_field, Cluster, Context, Decision, Job, PodList, Poller, TaskError, Value};

/// The component's poller.
pub struct JobPoller;

impl Poller for JobPoller {
    fn poll(ctx: &Context, request: &Value, state: Option<Value>) -> Decision {
        decide(&Wasm, &ctx.idempotency_key, request, state.as_ref())
    }
}

aslan_guest::export_poller!(JobPoller);

/// What a poll needs from the host.
pub trait Host {
    /// `kubernetes.read-job`.
    fn read_job(&self, cluster: &Cluster, namespace: &str, name: &str) -> Result<Job, TaskError>;
    /// `kubernetes.list-pods`.
    fn list_pods(&self, cluster: &Cluster, namespace: &str, label_selector: &str) -> Result<PodList, TaskError>;
    /// `log.log` at `info`.
    fn info(&self, message: &str);
}

/// The host's functions.
struct Wasm;

impl Host for Wasm {
    fn read_job(&self, cluster: &Cluster, namespace: &str, name: &str) -> Result<Job, TaskError> {
        kubernetes::read_job(cluster, namespace, name)
    }

    fn list_pods(&self, cluster: &Cluster, namespace: &str, label_selector: &str) -> Result<PodList, TaskError> {
        kubernetes::list_pods(cluster, namespace, label_selector)
    }

    fn info(&self, message: &str) {
        log::info(message)
    }
}

/// One poll. `idempotency_key` is the context's; `request` is
/// `{"Resource", "Parameters", "Started"}`; `state` is the previous poll's
/// `{"attempt":N}`, none on the first.
pub fn decide(host: &impl Host, idempotency_key: &str, request: &Value, state: Option<&Value>) -> Decision {
    decide_or_fail(host, idempotency_key, request, state).into()
}

fn decide_or_fail(
    host: &impl Host,
    idempotency_key: &str,
    request: &Value,
    state: Option<&Value>,
) -> Result<Decision, TaskError> {
    // 1. The cluster, the Job, the attempt.
    let cluster = Cluster::from_parameters(&request["Parameters"])?;
    let namespace = str_field(&request["Started"], "Namespace")?;
    let name = str_field(&request["Started"], "Name")?;
    let attempt = state
        .and_then(|s| s.get("attempt"))
        .and_then(Value::as_u64)
        .unwrap_or(0);

    // 2. The Job; an error fails the task unchanged.
    let job = host.read_job(&cluster, namespace, name)?;

    // 3.
    host.info(&format!("job {namespace}/{name}: poll {attempt}"));

    // 4. Complete: the Job exactly as read-job returned it.
    if job.is_complete() {
        return Ok(Decision::DoneJson(job.into_json()));
    }

    // 5. Failed.
    if let Some(reason) = job.failed_reason() {
        return Ok(Decision::failed(
            "EKS.JobFailed",
            format!("Job {namespace}/{name} failed: {reason}"),
        ));
    }

    // 6. A pod that cannot pull its image never finishes: fail fast.
    let pods = host.list_pods(&cluster, namespace, &kubernetes::job_selector(name))?;
    if let Some(stuck) = pods.image_pull_failure() {
        let cause = format!("pod {} container {}: {}", stuck.pod, stuck.container, stuck.reason);
        return Ok(Decision::failed("Job.ImagePullBackOff", cause));
    }

    // 7. Again.
    let next = attempt.saturating_add(1);
    Ok(Decision::again(
        backoff(attempt, idempotency_key),
        json!({ "attempt": next }),
    ))
}

/// The wait before poll `attempt + 1`, in milliseconds:
/// `delay = min(250 * 2^min(attempt, 7), 30000)` plus
/// `fnv1a32(KEY + ":" + (attempt + 1)) % (delay / 4 + 1)`.
pub fn backoff(attempt: u64, idempotency_key: &str) -> u32 {
    let delay: u32 = (250u32 << attempt.min(7)).min(30_000);
    let next = attempt.saturating_add(1);
    let jitter = fnv1a32(format!("{idempotency_key}:{next}").as_bytes()) % (delay / 4 + 1);
    delay + jitter
}

/// 32-bit FNV-1a: start at 2166136261; for each byte, xor it in, then
/// multiply by 16777619 modulo 2^32.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn fnv1a32_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9cf968);
    }

    /// Computed independently (Python) from the README's formula.
    #[test]
    fn backoff_vectors() {
        let key = "aslan-0f3c9a2e-run-job-0";
        let expected = [
            (0, 270),
            (1, 557),
            (2, 1145),
            (3, 2146),
            (5, 9276),
            (6, 16243),
            (7, 30077),
            (8, 32195),
            (20, 34852),
            (4294967295, 34348),
        ];
        for (attempt, after_ms) in expected {
            assert_eq!(backoff(attempt, key), after_ms, "attempt {attempt}");
        }
    }

    #[test]
    fn backoff_bounds() {
        for attempt in 0..100 {
            let delay = (250u32 << attempt.min(7)).min(30_000);
            let after = backoff(attempt, "k");
            assert!(
                after >= delay && after <= delay + delay / 4,
                "attempt {attempt}: {after}"
            );
        }
        let last = backoff(u64::MAX, "k");
        assert!((30_000..=37_500).contains(&last));
    }

    /// A fake cluster: the Job's text and the pods' JSON, or errors.
    struct Fake {
        job: Result<String, TaskError>,
        pods: Result<Value, TaskError>,
        calls: RefCell<Vec<String>>,
    }

    impl Fake {
        fn new(job: Value, pods: Value) -> Self {
            Fake {
                job: Ok(job.to_string()),
                pods: Ok(pods),
                calls: RefCell::new(Vec::new()),
            }
        }
    }

    impl Host for Fake {
        fn read_job(&self, cluster: &Cluster, namespace: &str, name: &str) -> Result<Job, TaskError> {
            self.calls
                .borrow_mut()
                .push(format!("read-job {} {namespace} {name}", cluster.name));
            Job::parse(self.job.clone()?)
        }

        fn list_pods(&self, cluster: &Cluster, namespace: &str, label_selector: &str) -> Result<PodList, TaskError> {
            self.calls
                .borrow_mut()
                .push(format!("list-pods {} {namespace} {label_selector}", cluster.name));
            Ok(PodList::from_value(self.pods.clone()?))
        }

        fn info(&self, message: &str) {
            self.calls.borrow_mut().push(format!("info {message}"));
        }
    }

    const KEY: &str = "aslan-0f3c9a2e-run-job-0";

    fn request() -> Value {
        json!({
            "Resource": "arn:aws:states:::eks:runJob.sync",
            "Parameters": {
                "ClusterName": "prod",
                "Endpoint": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
                "CertificateAuthority": "LS0tLS1CRUdJTg==",
                "Namespace": "jobs",
                "Job": {"metadata": {"name": "pi"}},
            },
            "Started": {"Namespace": "jobs", "Name": "pi-7f3a", "Uid": "0a1b"},
        })
    }

    fn job(conditions: Value) -> Value {
        json!({"kind": "Job", "metadata": {"name": "pi-7f3a"}, "status": {"conditions": conditions}})
    }

    fn pod(name: &str, statuses: Value) -> Value {
        json!({"metadata": {"name": name}, "status": {"phase": "Pending", "containerStatuses": statuses}})
    }

    fn waiting(container: &str, reason: &str) -> Value {
        json!({"name": container, "state": {"waiting": {"reason": reason}}})
    }

    #[test]
    fn first_poll_waits_250ms_plus_jitter() {
        let fake = Fake::new(job(json!([])), json!({"kind": "PodList", "items": []}));
        let decision = decide(&fake, KEY, &request(), None);
        assert_eq!(decision, Decision::again(270, json!({"attempt": 1})));
        assert_eq!(
            decision.into_raw(),
            Decision::again(270, json!({"attempt": 1})).into_raw()
        );
        assert_eq!(
            *fake.calls.borrow(),
            vec![
                "read-job prod jobs pi-7f3a",
                "info job jobs/pi-7f3a: poll 0",
                "list-pods prod jobs batch.kubernetes.io/job-name=pi-7f3a",
            ]
        );
    }

    #[test]
    fn state_text_is_compact() {
        let fake = Fake::new(job(json!([])), json!({"items": []}));
        let raw = decide(&fake, KEY, &request(), Some(&json!({"attempt": 7}))).into_raw();
        let expected = aslan_guest::raw::types::AgainAfter {
            after_ms: backoff(7, KEY),
            state: r#"{"attempt":8}"#.into(),
        };
        assert_eq!(raw, aslan_guest::raw::types::Decision::Again(expected));
        assert_eq!(backoff(7, KEY), 30077);
    }

    #[test]
    fn attempt_comes_from_the_state() {
        let fake = Fake::new(job(json!([])), json!({"items": []}));
        assert_eq!(
            decide(&fake, KEY, &request(), Some(&json!({"attempt": 3}))),
            Decision::again(2146, json!({"attempt": 4}))
        );
        assert!(fake
            .calls
            .borrow()
            .contains(&"info job jobs/pi-7f3a: poll 3".to_string()));
        // A state without a usable attempt counts as attempt 0.
        let fake = Fake::new(job(json!([])), json!({"items": []}));
        assert_eq!(
            decide(&fake, KEY, &request(), Some(&json!({}))),
            Decision::again(270, json!({"attempt": 1}))
        );
    }

    #[test]
    fn complete_is_done_with_the_job_text_unchanged() {
        let text = "{\"kind\":\"Job\", \"status\": {\"conditions\": [{\"type\": \"Complete\", \"status\": \"True\"}]}, \"x\": 1.0}";
        let fake = Fake {
            job: Ok(text.into()),
            pods: Err(TaskError::new("unused", "")),
            calls: RefCell::default(),
        };
        assert_eq!(decide(&fake, KEY, &request(), None), Decision::DoneJson(text.into()));
        assert_eq!(fake.calls.borrow().len(), 2, "no list-pods after Complete");
    }

    #[test]
    fn failed_names_the_reason() {
        let fake = Fake::new(
            job(json!([
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"},
            ])),
            json!({"items": []}),
        );
        assert_eq!(
            decide(&fake, KEY, &request(), Some(&json!({"attempt": 2}))),
            Decision::failed("EKS.JobFailed", "Job jobs/pi-7f3a failed: BackoffLimitExceeded")
        );
        let fake = Fake::new(job(json!([{"type": "Failed", "status": "True"}])), json!({"items": []}));
        assert_eq!(
            decide(&fake, KEY, &request(), None),
            Decision::failed("EKS.JobFailed", "Job jobs/pi-7f3a failed: ")
        );
    }

    #[test]
    fn complete_wins_over_failed() {
        let fake = Fake::new(
            job(json!([{"type": "Failed", "status": "True"}, {"type": "Complete", "status": "True"}])),
            json!({"items": []}),
        );
        assert!(matches!(decide(&fake, KEY, &request(), None), Decision::DoneJson(_)));
    }

    #[test]
    fn conditions_that_are_not_true_do_not_count() {
        let fake = Fake::new(
            job(json!([{"type": "Complete", "status": "False"}, {"type": "Failed", "status": "Unknown"}])),
            json!({"items": []}),
        );
        assert!(matches!(decide(&fake, KEY, &request(), None), Decision::Again { .. }));
    }

    #[test]
    fn image_pull_failures_fail_fast_first_in_order() {
        let pods = json!({"items": [
            pod("pi-a", json!([waiting("main", "ContainerCreating")])),
            pod("pi-b", json!([waiting("sidecar", "CrashLoopBackOff"), waiting("main", "ErrImagePull")])),
            pod("pi-c", json!([waiting("main", "ImagePullBackOff")])),
        ]});
        let fake = Fake::new(job(json!([])), pods);
        assert_eq!(
            decide(&fake, KEY, &request(), None),
            Decision::failed("Job.ImagePullBackOff", "pod pi-b container main: ErrImagePull")
        );
        let pods = json!({"items": [pod("pi-c", json!([waiting("main", "ImagePullBackOff")]))]});
        let fake = Fake::new(job(json!([])), pods);
        assert_eq!(
            decide(&fake, KEY, &request(), None),
            Decision::failed("Job.ImagePullBackOff", "pod pi-c container main: ImagePullBackOff")
        );
    }

    #[test]
    fn other_waiting_reasons_poll_again() {
        let pods = json!({"items": [pod("pi-a", json!([waiting("main", "ContainerCreating")]))]});
        let fake = Fake::new(job(json!([])), pods);
        assert_eq!(
            decide(&fake, KEY, &request(), None),
            Decision::again(270, json!({"attempt": 1}))
        );
    }

    #[test]
    fn host_errors_fail_unchanged() {
        let not_found = TaskError::new("EKS.404", r#"{"kind":"Status","code":404}"#);
        let fake = Fake {
            job: Err(not_found.clone()),
            pods: Ok(json!({})),
            calls: RefCell::default(),
        };
        assert_eq!(
            decide(&fake, KEY, &request(), None),
            Decision::Failed(not_found.clone())
        );
        assert_eq!(fake.calls.borrow().len(), 1, "no log when read-job fails");

        let fake = Fake {
            job: Ok(job(json!([])).to_string()),
            pods: Err(not_found.clone()),
            calls: RefCell::default(),
        };
        assert_eq!(decide(&fake, KEY, &request(), None), Decision::Failed(not_found));
    }

    #[test]
    fn missing_parameters_are_runtime_errors() {
        let fake = Fake::new(job(json!([])), json!({}));
        let mut request = request();
        request["Started"].as_object_mut().unwrap().remove("Name");
        assert_eq!(
            decide(&fake, KEY, &request, None),
            Decision::Failed(TaskError::runtime("expected a string field \"Name\""))
        );
        assert!(fake.calls.borrow().is_empty());
    }
}
