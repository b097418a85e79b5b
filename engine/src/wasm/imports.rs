//! The host side of `wit/`: Kubernetes, EKS, log and state, as guests
//! call them. Each Kubernetes and EKS call is checked against the module's
//! [allowlist](super::caps) first; a refusal traps the guest. Time spent
//! here is host time, which does not count against the guest's deadline.

use super::bindings::{eks, kubernetes, log, state, types::TaskError};
use super::store::GuestData;
use crate::asl::StateError;
use crate::tasks::eks::api::{Op, Target};
use crate::tasks::eks::members;
use crate::tasks::kubernetes::call::{api_error, with_query};
use crate::tasks::kubernetes::client::{send, Reply};
use crate::tasks::kubernetes::params::{self, Cluster};
use serde_json::{json, Value};
use std::future::Future;
use std::time::{Duration, Instant};

/// A host call taking longer than this fails with `States.TaskFailed`.
pub const HOST_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Pod logs are cut at this many bytes.
pub const MAX_LOG_BYTES: usize = 256 * 1024;
/// Log lines are cut at this many bytes.
pub const MAX_LOG_LINE: usize = 4096;
/// Lines one guest call may log.
pub const MAX_LOG_LINES: u32 = 1000;
/// Limits of the state store.
pub const MAX_STATE_KEY: usize = 256;
/// See [`MAX_STATE_KEY`].
pub const MAX_STATE_VALUE: usize = 64 * 1024;
/// See [`MAX_STATE_KEY`].
pub const MAX_STATE_KEYS: usize = 1000;

fn err(e: StateError) -> TaskError {
    TaskError {
        error: e.error,
        cause: e.cause,
    }
}

fn runtime(cause: impl Into<String>) -> TaskError {
    err(StateError::runtime(cause))
}

impl GuestData {
    /// Runs a host call, adding its time to the host time and bounding it.
    async fn timed<T>(&mut self, f: impl Future<Output = Result<T, TaskError>>) -> Result<T, TaskError> {
        let t = Instant::now();
        let r = match tokio::time::timeout(HOST_CALL_TIMEOUT, f).await {
            Ok(r) => r,
            Err(_) => Err(TaskError {
                error: crate::asl::error::TASK_FAILED.into(),
                cause: format!("the host call took more than {HOST_CALL_TIMEOUT:?}"),
            }),
        };
        self.host_time += t.elapsed();
        r
    }

    fn cluster(&self, c: &kubernetes::Cluster) -> Result<Cluster, TaskError> {
        params::cluster(&c.name, &c.endpoint, &c.certificate_authority).map_err(runtime)
    }

    /// Checks and sends one request; non-2xx answers are `EKS.<code>`.
    async fn kube(
        &mut self,
        c: &kubernetes::Cluster,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> wasmtime::Result<Result<Reply, TaskError>> {
        self.caps
            .check_kubernetes(&self.module, &c.name, &c.endpoint, method, path)?;
        let cluster = match self.cluster(c) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let Ok(m) = method.to_ascii_uppercase().parse::<http::Method>() else {
            return Ok(Err(runtime(format!("{method} is not an HTTP method"))));
        };
        let services = self.services.clone();
        let region = self.region.clone();
        let target = with_query(path, query);
        Ok(self
            .timed(async move {
                let client = services.clients.get(&cluster, &region).await.map_err(err)?;
                let reply = send(
                    &client,
                    &cluster,
                    m,
                    &target,
                    body.as_ref().map(|b| (b.clone(), content_type)),
                )
                .await
                .map_err(err)?;
                if reply.status.is_success() {
                    Ok(reply)
                } else {
                    Err(err(api_error(&reply)))
                }
            })
            .await)
    }
}

fn json_text(reply: Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn parse(what: &str, text: &str) -> Result<Value, TaskError> {
    serde_json::from_str(text).map_err(|e| runtime(format!("the {what} the guest gave is not JSON: {e}")))
}

fn seg(s: &str) -> Result<&str, TaskError> {
    if s.is_empty() || s.contains(['/', '?', '#', '%']) || s == "." || s == ".." {
        Err(runtime(format!("{s:?} is not a valid object name")))
    } else {
        Ok(s)
    }
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// The calls themselves; the `Host` impls below journal them for code
/// workflows.
impl GuestData {
    async fn kube_call(
        &mut self,
        cluster: kubernetes::Cluster,
        request: kubernetes::Request,
    ) -> wasmtime::Result<Result<kubernetes::Response, TaskError>> {
        if !request.path.starts_with('/') || request.path.contains(['?', '#']) {
            return Ok(Err(runtime(format!(
                "the path must start with \"/\" and have no query or fragment: {:?}",
                request.path
            ))));
        }
        let method = request.method.to_ascii_uppercase();
        let (body, ct) = match &request.body {
            Some(b) => {
                let v = tri!(parse("request body", b));
                let ct = match (method == "PATCH", v.is_array()) {
                    (true, true) => "application/json-patch+json",
                    (true, false) => "application/merge-patch+json",
                    _ => "application/json",
                };
                (Some(b.clone().into_bytes()), ct)
            }
            None => (None, "application/json"),
        };
        let reply = tri!(
            self.kube(&cluster, &method, &request.path, &request.query, body, ct)
                .await?
        );
        let headers = reply
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        Ok(Ok(kubernetes::Response {
            status_code: reply.status.as_u16(),
            status_text: reply.status.canonical_reason().unwrap_or("").to_string(),
            headers,
            body: json_text(reply),
        }))
    }

    async fn kube_create_job(
        &mut self,
        cluster: kubernetes::Cluster,
        namespace: String,
        job: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let ns = tri!(seg(&namespace));
        let mut v = tri!(parse("Job", &job));
        let Some(o) = v.as_object_mut() else {
            return Ok(Err(runtime("the Job must be a JSON object")));
        };
        o.entry("apiVersion").or_insert("batch/v1".into());
        o.entry("kind").or_insert("Job".into());
        let body = serde_json::to_vec(&v)?;
        let path = format!("/apis/batch/v1/namespaces/{ns}/jobs");
        let reply = tri!(
            self.kube(&cluster, "POST", &path, &[], Some(body), "application/json")
                .await?
        );
        Ok(Ok(json_text(reply)))
    }

    async fn kube_read_job(
        &mut self,
        cluster: kubernetes::Cluster,
        namespace: String,
        name: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let path = format!(
            "/apis/batch/v1/namespaces/{}/jobs/{}",
            tri!(seg(&namespace)),
            tri!(seg(&name))
        );
        let reply = tri!(self.kube(&cluster, "GET", &path, &[], None, "").await?);
        Ok(Ok(json_text(reply)))
    }

    async fn kube_list_pods(
        &mut self,
        cluster: kubernetes::Cluster,
        namespace: String,
        label_selector: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let path = format!("/api/v1/namespaces/{}/pods", tri!(seg(&namespace)));
        let query = [("labelSelector".to_string(), label_selector)];
        let reply = tri!(self.kube(&cluster, "GET", &path, &query, None, "").await?);
        Ok(Ok(json_text(reply)))
    }

    async fn kube_read_pod_log(
        &mut self,
        cluster: kubernetes::Cluster,
        namespace: String,
        pod: String,
        container: Option<String>,
        tail_lines: Option<u32>,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}/log",
            tri!(seg(&namespace)),
            tri!(seg(&pod))
        );
        let mut query = vec![("limitBytes".to_string(), MAX_LOG_BYTES.to_string())];
        if let Some(c) = container {
            query.push(("container".into(), c));
        }
        if let Some(t) = tail_lines {
            query.push(("tailLines".into(), t.to_string()));
        }
        let reply = tri!(self.kube(&cluster, "GET", &path, &query, None, "").await?);
        let mut text = json_text(reply);
        if text.len() > MAX_LOG_BYTES {
            let mut end = MAX_LOG_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Ok(Ok(text))
    }
}

fn op_name(op: eks::Operation) -> &'static str {
    use eks::Operation as O;
    match op {
        O::CreateCluster => "create-cluster",
        O::DescribeCluster => "describe-cluster",
        O::DeleteCluster => "delete-cluster",
        O::CreateNodegroup => "create-nodegroup",
        O::DescribeNodegroup => "describe-nodegroup",
        O::DeleteNodegroup => "delete-nodegroup",
        O::CreateFargateProfile => "create-fargate-profile",
        O::DescribeFargateProfile => "describe-fargate-profile",
        O::DeleteFargateProfile => "delete-fargate-profile",
    }
}

/// The target of a describe request (PascalCase).
fn describe_target(op: eks::Operation, req: &Value) -> Result<Target, TaskError> {
    use eks::Operation as O;
    let s = |k: &str| {
        req.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| runtime(format!("{} needs the string field \"{k}\"", op_name(op))))
    };
    Ok(match op {
        O::DescribeNodegroup => Target::Nodegroup {
            cluster: s("ClusterName")?,
            name: s("NodegroupName")?,
        },
        O::DescribeFargateProfile => Target::FargateProfile {
            cluster: s("ClusterName")?,
            name: s("FargateProfileName")?,
        },
        _ => Target::Cluster { name: s("Name")? },
    })
}

impl GuestData {
    async fn eks_call(
        &mut self,
        operation: eks::Operation,
        request: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        use eks::Operation as O;
        self.caps.check_eks(&self.module, op_name(operation))?;
        let req = tri!(parse("EKS request", &request));
        let api = self.services.eks.clone();
        let region = self.region.clone();
        let op = match operation {
            O::CreateCluster => Some(Op::CreateCluster),
            O::DeleteCluster => Some(Op::DeleteCluster),
            O::CreateNodegroup => Some(Op::CreateNodegroup),
            O::DeleteNodegroup => Some(Op::DeleteNodegroup),
            O::CreateFargateProfile => Some(Op::CreateFargateProfile),
            O::DeleteFargateProfile => Some(Op::DeleteFargateProfile),
            O::DescribeCluster | O::DescribeNodegroup | O::DescribeFargateProfile => None,
        };
        let r = match op {
            Some(op) => {
                let body = tri!(members::to_request(op.name(), &req)
                    .map_err(|p| err(crate::tasks::kubernetes::params::bad(&req, &p))));
                self.timed(async move { api.call(&region, op, &body).await.map_err(err) })
                    .await
            }
            None => {
                let target = tri!(describe_target(operation, &req));
                self.timed(async move {
                    match api.describe(&region, &target).await.map_err(err)? {
                        Some(v) => Ok(v),
                        None => Err(TaskError {
                            error: "EKS.ResourceNotFoundException".into(),
                            cause: format!("No such resource: {target:?}"),
                        }),
                    }
                })
                .await
            }
        };
        Ok(r.map(|v| members::to_result(v).to_string()))
    }
}

impl log::Host for GuestData {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        // A replayed workflow has written these lines before.
        if self.log_lines >= MAX_LOG_LINES || self.journal.as_ref().is_some_and(|j| j.replaying()) {
            return Ok(());
        }
        self.log_lines += 1;
        let mut m = message;
        if m.len() > MAX_LOG_LINE {
            let mut end = MAX_LOG_LINE;
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            m.truncate(end);
        }
        let (module, origin) = (&*self.module, &self.origin);
        match level {
            log::Level::Trace => tracing::trace!(target: "aslan::guest", module, origin, "{m}"),
            log::Level::Debug => tracing::debug!(target: "aslan::guest", module, origin, "{m}"),
            log::Level::Info => tracing::info!(target: "aslan::guest", module, origin, "{m}"),
            log::Level::Warn => tracing::warn!(target: "aslan::guest", module, origin, "{m}"),
            log::Level::Error => tracing::error!(target: "aslan::guest", module, origin, "{m}"),
        }
        Ok(())
    }
}

impl state::Host for GuestData {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.services.state.get(&self.module, &key))
    }

    async fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), TaskError>> {
        if key.len() > MAX_STATE_KEY {
            return Ok(Err(runtime(format!("state keys are at most {MAX_STATE_KEY} bytes"))));
        }
        if value.len() > MAX_STATE_VALUE {
            return Ok(Err(runtime(format!(
                "state values are at most {MAX_STATE_VALUE} bytes"
            ))));
        }
        tri!(parse("state value", &value));
        let store = &self.services.state;
        if store.get(&self.module, &key).is_none() && store.count(&self.module) >= MAX_STATE_KEYS {
            return Ok(Err(runtime(format!(
                "a module may store at most {MAX_STATE_KEYS} keys"
            ))));
        }
        Ok(store.set(&self.module, &key, &value).map_err(runtime))
    }

    async fn remove(&mut self, key: String) -> wasmtime::Result<()> {
        self.services.state.remove(&self.module, &key);
        Ok(())
    }
}

impl super::bindings::types::Host for GuestData {}

/// The annotation that marks a Job a code workflow created with the journal
/// entry that created it (`KEY-SEQ`).
pub const JOURNAL_ANNOTATION: &str = "aslan.io/journal-entry";

impl GuestData {
    /// `create-job`; in a code workflow, made once: the Job is marked with
    /// its journal entry, and when a crash came between the create and the
    /// commit of its entry, the create made again finds the Job it made
    /// (a 409 on a Job with the same mark) and returns it.
    async fn create_job_once(
        &mut self,
        cluster: kubernetes::Cluster,
        namespace: String,
        job: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let Some(j) = &self.journal else {
            return self.kube_create_job(cluster, namespace, job).await;
        };
        let mark = format!("{}-{}", j.at.key, j.cursor());
        let mut v: Value = match serde_json::from_str(&job) {
            Ok(v) => v,
            Err(_) => return self.kube_create_job(cluster, namespace, job).await,
        };
        let Some(meta) = v
            .as_object_mut()
            .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        else {
            return self.kube_create_job(cluster, namespace, job).await;
        };
        let name = meta["name"].as_str().map(str::to_string);
        if let Some(m) = meta.as_object_mut() {
            let ann = m.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = ann.as_object_mut() {
                a.insert(JOURNAL_ANNOTATION.into(), json!(mark));
            }
        }
        let r = self
            .kube_create_job(cluster.clone(), namespace.clone(), v.to_string())
            .await?;
        match (&r, name) {
            (Err(e), Some(name)) if e.error == "EKS.409" => {
                let found = self.kube_read_job(cluster, namespace, name).await?;
                let ours = found
                    .as_ref()
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok())
                    .is_some_and(|f| f["metadata"]["annotations"][JOURNAL_ANNOTATION] == json!(mark));
                Ok(if ours { found } else { r })
            }
            _ => Ok(r),
        }
    }
}

/// The Kubernetes cluster in a journaled request (its CA as a hash).
fn cluster_json(c: &kubernetes::Cluster) -> Value {
    json!({
        "name": c.name,
        "endpoint": c.endpoint,
        "certificateAuthority": super::journal::hash(&Value::String(c.certificate_authority.clone())),
    })
}

fn response_json(r: &kubernetes::Response) -> Value {
    json!({
        "statusCode": r.status_code,
        "statusText": r.status_text,
        "headers": r.headers,
        "body": r.body,
    })
}

fn response_from(o: &Value) -> Result<kubernetes::Response, TaskError> {
    if o.get("err").is_some() {
        return Err(super::journal::string_result(o).expect_err("an err outcome"));
    }
    let v = &o["ok"];
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Ok(kubernetes::Response {
        status_code: v["statusCode"].as_u64().unwrap_or(0) as u16,
        status_text: s("statusText"),
        headers: serde_json::from_value(v["headers"].clone()).unwrap_or_default(),
        body: s("body"),
    })
}

impl GuestData {
    /// A replayed call's recorded outcome, or `None` when the call is live
    /// (or this is not a workflow).
    pub(super) fn replayed(&mut self, call: &str, request: &Value) -> wasmtime::Result<Option<Value>> {
        match &mut self.journal {
            Some(j) => Ok(j.next(call, request)?),
            None => Ok(None),
        }
    }

    /// Journals a live call's outcome (for workflows) and gives back the
    /// outcome the guest must see.
    pub(super) async fn journal_out(&mut self, call: &str, request: &Value, outcome: Value) -> wasmtime::Result<Value> {
        match &mut self.journal {
            Some(j) => j.record(call, request, outcome).await,
            None => Ok(outcome),
        }
    }
}

/// A string-valued call: replayed from the journal, or made (`$live`) and
/// journaled. Calls that are refused before they are made are journaled
/// too, so a replay meets them at the same position.
macro_rules! journaled {
    ($self:ident, $call:expr, $req:expr, $live:expr) => {{
        let req = $req;
        if let Some(o) = $self.replayed($call, &req)? {
            return Ok(super::journal::string_result(&o));
        }
        let r = $live?;
        if $self.journal.is_none() {
            return Ok(r);
        }
        let o = $self.journal_out($call, &req, super::journal::outcome(r)).await?;
        Ok(super::journal::string_result(&o))
    }};
}

impl kubernetes::Host for GuestData {
    async fn call(
        &mut self,
        cluster: kubernetes::Cluster,
        request: kubernetes::Request,
    ) -> wasmtime::Result<Result<kubernetes::Response, TaskError>> {
        const CALL: &str = "kubernetes.call";
        let req = json!({
            "cluster": cluster_json(&cluster),
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "body": request.body,
        });
        if let Some(o) = self.replayed(CALL, &req)? {
            return Ok(response_from(&o));
        }
        let r = self.kube_call(cluster, request).await?;
        if self.journal.is_none() {
            return Ok(r);
        }
        let o = match &r {
            Ok(resp) => super::journal::ok(response_json(resp)),
            Err(e) => super::journal::outcome::<Value>(Err(e.clone())),
        };
        let o = self.journal_out(CALL, &req, o).await?;
        Ok(response_from(&o))
    }

    async fn create_job(
        &mut self,
        cluster: kubernetes::Cluster,
        namespace: String,
        job: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let req = json!({"cluster": cluster_json(&cluster), "namespace": namespace, "job": job});
        journaled!(
            self,
            "kubernetes.create-job",
            req,
            self.create_job_once(cluster, namespace, job).await
        )
    }

    async fn read_job(
        &mut self,
        cluster: kubernetes::Cluster,
        namespace: String,
        name: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let req = json!({"cluster": cluster_json(&cluster), "namespace": namespace, "name": name});
        journaled!(
            self,
            "kubernetes.read-job",
            req,
            self.kube_read_job(cluster, namespace, name).await
        )
    }

    async fn list_pods(
        &mut self,
        cluster: kubernetes::Cluster,
        namespace: String,
        label_selector: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let req = json!({"cluster": cluster_json(&cluster), "namespace": namespace, "labelSelector": label_selector});
        journaled!(
            self,
            "kubernetes.list-pods",
            req,
            self.kube_list_pods(cluster, namespace, label_selector).await
        )
    }

    async fn read_pod_log(
        &mut self,
        cluster: kubernetes::Cluster,
        namespace: String,
        pod: String,
        container: Option<String>,
        tail_lines: Option<u32>,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let req = json!({
            "cluster": cluster_json(&cluster),
            "namespace": namespace,
            "pod": pod,
            "container": container,
            "tailLines": tail_lines,
        });
        journaled!(
            self,
            "kubernetes.read-pod-log",
            req,
            self.kube_read_pod_log(cluster, namespace, pod, container, tail_lines)
                .await
        )
    }
}

impl eks::Host for GuestData {
    async fn call(
        &mut self,
        operation: eks::Operation,
        request: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let req = json!({"operation": op_name(operation), "request": request});
        journaled!(self, "eks.call", req, self.eks_call(operation, request).await)
    }
}
