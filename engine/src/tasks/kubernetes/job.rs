//! `arn:aws:states:::eks:runJob` and `eks:runJob.sync`.
//!
//! - **Start** creates the batch/v1 Job, labelled
//!   `aslan.io/idempotency-key=<the task's idempotency key>`. When a start
//!   runs again after a restart, a `409 AlreadyExists` for a Job carrying
//!   the same label is the Job it created before, and is adopted rather
//!   than failing the task (a Job with only `generateName` is found by the
//!   label first). `eks:runJob` returns the created Job.
//! - **`.sync`** then waits as a durable poll step. Its state (namespace,
//!   name, uid, last resourceVersion) is committed before the wait, so a
//!   restarted engine resumes watching the same Job. Each poll reads the
//!   Job and then **watches** it (`?watch=1`, from the resourceVersion read,
//!   for up to [`WATCH_SECONDS`]), so completion is seen as soon as the API
//!   server reports it. When the cluster refuses the watch, the poll reads
//!   the Job again after 1 s, 2 s, 4 s, ... up to 60 s (AWS polls about
//!   once a minute).
//! - The Job is done when it has the condition `Complete` (the task
//!   succeeds with the Job, plus `logs` when `LogOptions.RetrieveLogs` is
//!   set) or `Failed` (the task fails with `EKS.JobFailed` and the Job's
//!   `status` as the cause).
//! - **Cancel** (StopExecution, `TimeoutSeconds`, `HeartbeatSeconds`, a
//!   failed sibling branch) deletes the Job with `propagationPolicy:
//!   Foreground`, so its pods go too.

use super::call::{api_error, body_value, with_query};
use super::client::{error_chain, send, unreachable, Clients, Reply};
use super::params::{self, Cluster, LogOptions, RunJob};
use crate::asl::StateError;
use crate::tasks::{Outcome, Pattern, Task};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The label that ties a Job to the task invocation that created it.
pub const KEY_LABEL: &str = "aslan.io/idempotency-key";

/// How long one watch request runs before the poll is committed again.
pub const WATCH_SECONDS: u64 = 290;

/// The first and the largest interval between reads when watches are refused.
const BACKOFF_MS: (u64, u64) = (1_000, 60_000);

/// The error of a Job that ended with the `Failed` condition.
pub const JOB_FAILED: &str = "EKS.JobFailed";

/// What `.sync` keeps between polls.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobState {
    /// The Job's namespace.
    pub namespace: String,
    /// The Job's name.
    pub name: String,
    /// The Job's uid (a Job recreated under the same name is not ours).
    pub uid: String,
    /// Where the next watch starts; empty to read the Job first.
    #[serde(default)]
    pub resource_version: String,
    /// Set once the cluster refused a watch: the next read's delay.
    #[serde(default)]
    pub backoff_ms: u64,
}

fn failed(e: StateError) -> Outcome {
    Outcome::Failed(e)
}

fn jobs_path(ns: &str) -> String {
    format!("/apis/batch/v1/namespaces/{}/jobs", seg(ns))
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn parse(reply: &Reply) -> Value {
    body_value(&reply.body).unwrap_or(Value::Null)
}

/// Starts an `eks:runJob` or `eks:runJob.sync`.
pub async fn start(clients: &Clients, task: &Task) -> Outcome {
    let p = match params::run_job(&task.invocation.parameters) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let client = match clients.get(&p.cluster, &task.ctx.region).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let key = &task.ctx.idempotency_key;
    let job = match create_or_adopt(&client, &p, key).await {
        Ok(j) => j,
        Err(e) => return failed(e),
    };
    if task.resource.pattern() != Pattern::Sync {
        return Outcome::Succeeded(job);
    }
    task.ctx.started();
    let meta = &job["metadata"];
    let state = JobState {
        namespace: meta["namespace"].as_str().unwrap_or(&p.namespace).to_string(),
        name: meta["name"].as_str().unwrap_or_default().to_string(),
        uid: meta["uid"].as_str().unwrap_or_default().to_string(),
        resource_version: meta["resourceVersion"].as_str().unwrap_or_default().to_string(),
        backoff_ms: 0,
    };
    if let Some(done) = terminal(&client, &p, &job).await {
        return done;
    }
    Outcome::Poll {
        after_ms: 0,
        state: serde_json::to_value(state).unwrap_or(Value::Null),
    }
}

async fn create_or_adopt(client: &kube::Client, p: &RunJob, key: &str) -> Result<Value, StateError> {
    let mut job = p.job.clone();
    let meta = job.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return Err(params::bad(
            &Value::Object(p.job.clone()),
            &["The value of \"Job.metadata\" must be a JSON object".into()],
        ));
    };
    let labels = meta.entry("labels").or_insert_with(|| Value::Object(Map::new()));
    if let Some(l) = labels.as_object_mut() {
        l.insert(KEY_LABEL.into(), json!(key));
    }
    let name = meta.get("name").and_then(Value::as_str).map(str::to_string);
    let path = jobs_path(&p.namespace);
    if name.is_none() {
        // generateName: a Job made by an earlier start carries the label.
        let q = with_query(&path, &[("labelSelector".into(), format!("{KEY_LABEL}={key}"))]);
        let r = send(client, &p.cluster, http::Method::GET, &q, None).await?;
        if r.status.is_success() {
            if let Some(j) = parse(&r)["items"].as_array().and_then(|i| i.first()) {
                let mut j = j.clone();
                // List items carry no kind.
                if let Some(o) = j.as_object_mut() {
                    o.entry("apiVersion").or_insert(json!("batch/v1"));
                    o.entry("kind").or_insert(json!("Job"));
                }
                return Ok(j);
            }
        }
    }
    let body = serde_json::to_vec(&job).unwrap_or_default();
    let r = send(
        client,
        &p.cluster,
        http::Method::POST,
        &path,
        Some((body, "application/json")),
    )
    .await?;
    if r.status.is_success() {
        return Ok(parse(&r));
    }
    if r.status == http::StatusCode::CONFLICT {
        if let Some(name) = &name {
            let g = send(
                client,
                &p.cluster,
                http::Method::GET,
                &format!("{path}/{}", seg(name)),
                None,
            )
            .await?;
            let existing = parse(&g);
            if g.status.is_success() && existing["metadata"]["labels"][KEY_LABEL].as_str() == Some(key) {
                return Ok(existing);
            }
        }
    }
    Err(api_error(&r))
}

/// The condition of type `kind` is `True`.
fn has_condition(job: &Value, kind: &str) -> bool {
    job["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// The outcome of a finished Job; `None` while it runs.
async fn terminal(client: &kube::Client, p: &RunJob, job: &Value) -> Option<Outcome> {
    if has_condition(job, "Complete") {
        let mut job = job.clone();
        if p.logs.retrieve {
            match logs(client, &p.cluster, job_ns(&job, p), &job["metadata"]["uid"], &p.logs).await {
                Ok(l) => {
                    if let Some(o) = job.as_object_mut() {
                        o.insert("logs".into(), l);
                    }
                }
                Err(e) => return Some(failed(e)),
            }
        }
        return Some(Outcome::Succeeded(job));
    }
    if has_condition(job, "Failed") {
        return Some(failed(StateError::new(JOB_FAILED, job["status"].to_string())));
    }
    None
}

fn job_ns<'a>(job: &'a Value, p: &'a RunJob) -> &'a str {
    job["metadata"]["namespace"].as_str().unwrap_or(&p.namespace)
}

/// One poll of `eks:runJob.sync`.
pub async fn poll(clients: &Clients, task: &Task, state: Value) -> Outcome {
    let p = match params::run_job(&task.invocation.parameters) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let Ok(mut st) = serde_json::from_value::<JobState>(state) else {
        return failed(StateError::runtime(
            "the stored poll state of eks:runJob.sync is not readable",
        ));
    };
    let client = match clients.get(&p.cluster, &task.ctx.region).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let item = format!("{}/{}", jobs_path(&st.namespace), seg(&st.name));
    let r = match send(&client, &p.cluster, http::Method::GET, &item, None).await {
        Ok(r) => r,
        Err(e) => return again_later(st, e),
    };
    if !r.status.is_success() {
        if r.status.is_server_error() || r.status == http::StatusCode::TOO_MANY_REQUESTS {
            return again_later(st, api_error(&r));
        }
        return failed(api_error(&r));
    }
    let job = parse(&r);
    if job["metadata"]["uid"].as_str() != Some(st.uid.as_str()) {
        return failed(StateError::new(
            crate::asl::error::TASK_FAILED,
            format!(
                "The Job {}/{} was deleted and created again by someone else (uid {} is not {})",
                st.namespace, st.name, job["metadata"]["uid"], st.uid
            ),
        ));
    }
    if let Some(done) = terminal(&client, &p, &job).await {
        return done;
    }
    st.resource_version = job["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if st.backoff_ms > 0 {
        // The cluster refused watches: read again later.
        return backoff(st);
    }
    tokio::select! {
        out = watch(&client, &p, st.clone()) => out,
        _ = task.ctx.cancelled() => Outcome::Poll { after_ms: 0, state: to_state(&st) },
    }
}

fn to_state(st: &JobState) -> Value {
    serde_json::to_value(st).unwrap_or(Value::Null)
}

/// Reads again after the backoff, doubling it.
fn backoff(mut st: JobState) -> Outcome {
    let after_ms = st.backoff_ms.clamp(BACKOFF_MS.0, BACKOFF_MS.1);
    st.backoff_ms = (after_ms * 2).min(BACKOFF_MS.1);
    Outcome::Poll {
        after_ms,
        state: to_state(&st),
    }
}

/// A transient failure to read the Job: try again after the backoff.
fn again_later(st: JobState, e: StateError) -> Outcome {
    tracing::warn!(job = %st.name, namespace = %st.namespace, error = %e.error, cause = %e.cause, "cannot read the Job; polling again later");
    backoff(st)
}

async fn watch(client: &kube::Client, p: &RunJob, mut st: JobState) -> Outcome {
    let q = with_query(
        &jobs_path(&st.namespace),
        &[
            ("watch".into(), "1".into()),
            ("fieldSelector".into(), format!("metadata.name={}", st.name)),
            ("resourceVersion".into(), st.resource_version.clone()),
            ("allowWatchBookmarks".into(), "true".into()),
            ("timeoutSeconds".into(), WATCH_SECONDS.to_string()),
        ],
    );
    let req = match http::Request::get(q).body(Vec::new()) {
        Ok(r) => r,
        Err(e) => return failed(unreachable(&p.cluster, e)),
    };
    let stream = match client.request_events::<Value>(req).await {
        Ok(s) => s,
        Err(kube::Error::Api(s)) if matches!(s.code, 401 | 404) => {
            return failed(StateError::new(
                format!("EKS.{}", s.code),
                json!({"ResponseBody": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": s.message, "reason": s.reason, "code": s.code},
                    "StatusCode": s.code,
                    "StatusText": http::StatusCode::from_u16(s.code).ok().and_then(|c| c.canonical_reason()).unwrap_or("")})
                .to_string(),
            ))
        }
        Err(e) => {
            tracing::info!(job = %st.name, error = %error_chain(&e), "the cluster refused to watch the Job; reading it with backoff instead");
            st.backoff_ms = BACKOFF_MS.0;
            return backoff(st);
        }
    };
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        use kube::core::WatchEvent;
        match ev {
            Ok(WatchEvent::Added(job)) | Ok(WatchEvent::Modified(job)) => {
                if job["metadata"]["uid"].as_str() != Some(st.uid.as_str()) {
                    continue;
                }
                if let Some(done) = terminal(client, p, &job).await {
                    return done;
                }
                if let Some(rv) = job["metadata"]["resourceVersion"].as_str() {
                    st.resource_version = rv.to_string();
                }
            }
            Ok(WatchEvent::Deleted(job)) if job["metadata"]["uid"].as_str() == Some(st.uid.as_str()) => {
                // Read once more: a deleted Job answers 404.
                st.resource_version.clear();
                return Outcome::Poll {
                    after_ms: 0,
                    state: to_state(&st),
                };
            }
            Ok(WatchEvent::Deleted(_)) => {}
            Ok(WatchEvent::Bookmark(b)) => st.resource_version = b.metadata.resource_version,
            Ok(WatchEvent::Error(_)) | Err(_) => {
                // 410 Gone, or the stream broke: read the Job afresh.
                st.resource_version.clear();
                return Outcome::Poll {
                    after_ms: 0,
                    state: to_state(&st),
                };
            }
        }
    }
    // The watch timed out: commit where it got to and watch again.
    Outcome::Poll {
        after_ms: 0,
        state: to_state(&st),
    }
}

/// `logs.pods.<pod>.containers.<container>.log` for the Job's pods.
async fn logs(
    client: &kube::Client,
    cluster: &Cluster,
    ns: &str,
    uid: &Value,
    opts: &LogOptions,
) -> Result<Value, StateError> {
    let uid = uid.as_str().unwrap_or_default();
    let pods_path = format!("/api/v1/namespaces/{}/pods", seg(ns));
    let mut pods = Vec::new();
    for label in ["batch.kubernetes.io/controller-uid", "controller-uid"] {
        let q = with_query(&pods_path, &[("labelSelector".into(), format!("{label}={uid}"))]);
        let r = send(client, cluster, http::Method::GET, &q, None).await?;
        if !r.status.is_success() {
            return Err(api_error(&r));
        }
        pods = parse(&r)["items"].as_array().cloned().unwrap_or_default();
        if !pods.is_empty() {
            break;
        }
    }
    pods.sort_by(|a, b| a["metadata"]["name"].as_str().cmp(&b["metadata"]["name"].as_str()));
    let mut out = Map::new();
    // The result cannot exceed 256 KiB: stop reading logs (of a Job with
    // many pods) once they could not fit.
    let mut total = 0usize;
    for pod in &pods {
        let Some(name) = pod["metadata"]["name"].as_str() else {
            continue;
        };
        let mut containers = Map::new();
        for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
            let Some(cname) = c["name"].as_str() else { continue };
            let mut q = vec![("container".to_string(), cname.to_string())];
            q.extend(opts.parameters.iter().filter(|(k, _)| k != "container").cloned());
            let path = with_query(&format!("{pods_path}/{}/log", seg(name)), &q);
            let r = send(client, cluster, http::Method::GET, &path, None).await?;
            total += r.body.len();
            if total > crate::asl::error::PAYLOAD_LIMIT {
                return Err(StateError::new(
                    crate::asl::error::DATA_LIMIT_EXCEEDED,
                    format!(
                        "The logs of the Job's pods exceed the maximum number of bytes service limit ({} bytes); trim them with LogOptions.LogParameters tailLines or limitBytes",
                        crate::asl::error::PAYLOAD_LIMIT
                    ),
                ));
            }
            let entry = if r.status.is_success() {
                let text = String::from_utf8_lossy(&r.body).into_owned();
                let log = if opts.raw {
                    Value::String(text)
                } else {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                };
                json!({ "log": log })
            } else {
                let e = api_error(&r);
                let message = parse(&r)["message"].as_str().map(str::to_string).unwrap_or(e.cause);
                json!({"error": e.error, "cause": message})
            };
            containers.insert(cname.to_string(), entry);
        }
        out.insert(name.to_string(), json!({ "containers": containers }));
    }
    Ok(json!({ "pods": out }))
}

/// Deletes the Job (with its pods: `propagationPolicy: Foreground`).
pub async fn cancel(clients: &Clients, task: &Task, state: Option<Value>) {
    let Ok(p) = params::run_job(&task.invocation.parameters) else {
        return;
    };
    let Ok(client) = clients.get(&p.cluster, &task.ctx.region).await else {
        tracing::warn!(state = %task.ctx.state_name, "cannot reach the cluster to delete the cancelled Job");
        return;
    };
    let st = state.and_then(|s| serde_json::from_value::<JobState>(s).ok());
    let names: Vec<(String, String)> = match st {
        Some(st) => vec![(st.namespace, st.name)],
        None => {
            // Cancelled before the poll state was committed: find the Job by
            // its label.
            let q = with_query(
                &jobs_path(&p.namespace),
                &[(
                    "labelSelector".into(),
                    format!("{KEY_LABEL}={}", task.ctx.idempotency_key),
                )],
            );
            match send(&client, &p.cluster, http::Method::GET, &q, None).await {
                Ok(r) if r.status.is_success() => parse(&r)["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|j| j["metadata"]["name"].as_str())
                    .map(|n| (p.namespace.clone(), n.to_string()))
                    .collect(),
                _ => Vec::new(),
            }
        }
    };
    for (ns, name) in names {
        let path = with_query(
            &format!("{}/{}", jobs_path(&ns), seg(&name)),
            &[("propagationPolicy".into(), "Foreground".into())],
        );
        match send(&client, &p.cluster, http::Method::DELETE, &path, None).await {
            Ok(r) if r.status.is_success() || r.status == http::StatusCode::NOT_FOUND => {
                tracing::info!(job = %name, namespace = %ns, "deleted the cancelled task's Job (propagationPolicy Foreground)")
            }
            Ok(r) => {
                tracing::warn!(job = %name, namespace = %ns, status = %r.status, "could not delete the cancelled task's Job")
            }
            Err(e) => {
                tracing::warn!(job = %name, namespace = %ns, cause = %e.cause, "could not delete the cancelled task's Job")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_decide_the_end() {
        let done = json!({"status": {"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
        assert!(has_condition(&done, "Complete"));
        let pending = json!({"status": {"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}});
        assert!(!has_condition(&pending, "Complete"));
        let not_yet = json!({"status": {"conditions": [{"type": "Failed", "status": "False"}]}});
        assert!(!has_condition(&not_yet, "Failed"));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let mut st = JobState {
            namespace: "d".into(),
            name: "j".into(),
            uid: "u".into(),
            resource_version: String::new(),
            backoff_ms: 1_000,
        };
        let mut waits = Vec::new();
        for _ in 0..8 {
            match backoff(st.clone()) {
                Outcome::Poll { after_ms, state } => {
                    waits.push(after_ms);
                    st = serde_json::from_value(state).unwrap();
                }
                o => panic!("{o:?}"),
            }
        }
        assert_eq!(waits, vec![1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    }
}
