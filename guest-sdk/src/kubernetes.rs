//! The Kubernetes API of a cluster, as `eks:call` reaches it.
//!
//! Every call is checked against the module's allowlist; a refused call
//! fails the whole Task with `Wasm.Denied`, whatever the guest does next. A
//! response that is not 2xx is an error named `EKS.<status code>`
//! (`EKS.404`); a cluster that cannot be reached is `States.TaskFailed`.

use serde_json::Value;

use crate::bindings::imports::aslan::host::kubernetes as raw;
use crate::{parse_json, str_field, Job, PodList, TaskError};

/// A cluster, named as the Parameters of `eks:call` and `eks:runJob` name
/// it: `name` (`ClusterName`, which chooses the credentials), `endpoint`
/// (the API server's `https://` URL) and `certificate_authority` (the
/// base64 of the PEM CA, as EKS gives it in
/// `Cluster.CertificateAuthority.Data`).
pub use raw::Cluster;
/// One REST call for [`call`]: method, path, query and an optional JSON body.
pub use raw::Request;
/// A 2xx response of [`call`]: status, headers and body text.
pub use raw::Response;

impl Cluster {
    /// A cluster from its name, endpoint and CA.
    pub fn new(name: impl Into<String>, endpoint: impl Into<String>, certificate_authority: impl Into<String>) -> Self {
        Cluster {
            name: name.into(),
            endpoint: endpoint.into(),
            certificate_authority: certificate_authority.into(),
        }
    }

    /// The cluster that `eks:call`-style Parameters name:
    /// `{"ClusterName", "Endpoint", "CertificateAuthority"}` (other members
    /// are ignored). `States.Runtime` when one is missing or not a string.
    ///
    /// ```
    /// use aslan_guest::{json, Cluster};
    /// let params = json!({
    ///     "ClusterName": "prod",
    ///     "Endpoint": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
    ///     "CertificateAuthority": "LS0tLS1CRUdJTi...",
    ///     "Namespace": "jobs",
    /// });
    /// let cluster = Cluster::from_parameters(&params).unwrap();
    /// assert_eq!(cluster.name, "prod");
    /// ```
    pub fn from_parameters(parameters: &Value) -> Result<Self, TaskError> {
        Ok(Cluster::new(
            str_field(parameters, "ClusterName")?,
            str_field(parameters, "Endpoint")?,
            str_field(parameters, "CertificateAuthority")?,
        ))
    }
}

impl Request {
    /// A request with no query and no body.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            path: path.into(),
            query: Vec::new(),
            body: None,
        }
    }

    /// A `GET` of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    /// Adds the query parameter `name=value` (a name may repeat).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Sets the JSON body (`PATCH` sends it as a merge patch).
    pub fn body(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string());
        self
    }
}

impl Response {
    /// The body parsed as JSON (`States.Runtime` if it is not JSON).
    pub fn json(&self) -> Result<Value, TaskError> {
        parse_json(&self.body)
    }
}

/// Makes one REST call, as `arn:aws:states:::eks:call` makes it.
///
/// ```no_run
/// use aslan_guest::kubernetes::{self, Request};
/// # let cluster = aslan_guest::Cluster::new("prod", "https://example.com", "");
/// let response = kubernetes::call(&cluster, &Request::get("/api/v1/namespaces/default"))?;
/// assert_eq!(response.json()?["kind"], "Namespace");
/// # Ok::<(), aslan_guest::TaskError>(())
/// ```
pub fn call(cluster: &Cluster, request: &Request) -> Result<Response, TaskError> {
    raw::call(cluster, request)
}

/// Creates a Job in `namespace` from its JSON (`kind` and `apiVersion` may
/// be left out) and returns the Job the server created.
pub fn create_job(cluster: &Cluster, namespace: &str, job: &Value) -> Result<Job, TaskError> {
    Job::parse(raw::create_job(cluster, namespace, &job.to_string())?)
}

/// Reads a Job, status included. [`Job::json`] keeps the text as the host
/// returned it.
pub fn read_job(cluster: &Cluster, namespace: &str, name: &str) -> Result<Job, TaskError> {
    Job::parse(raw::read_job(cluster, namespace, name)?)
}

/// Lists the pods in `namespace` that match `label_selector`
/// (`batch.kubernetes.io/job-name=NAME` finds a Job's pods; see
/// [`job_pods`]).
pub fn list_pods(cluster: &Cluster, namespace: &str, label_selector: &str) -> Result<PodList, TaskError> {
    PodList::parse(&raw::list_pods(cluster, namespace, label_selector)?)
}

/// Lists the pods of the Job `job_name`: [`list_pods`] with the selector
/// [`job_selector`]`(job_name)`.
pub fn job_pods(cluster: &Cluster, namespace: &str, job_name: &str) -> Result<PodList, TaskError> {
    list_pods(cluster, namespace, &job_selector(job_name))
}

/// The label selector of a Job's pods: `batch.kubernetes.io/job-name=NAME`.
///
/// ```
/// assert_eq!(aslan_guest::kubernetes::job_selector("pi"), "batch.kubernetes.io/job-name=pi");
/// ```
pub fn job_selector(job_name: &str) -> String {
    format!("batch.kubernetes.io/job-name={job_name}")
}

/// Reads a pod's log as text: one container's (or the only one's), the last
/// `tail_lines` lines if given, at most 256 KiB.
pub fn read_pod_log(
    cluster: &Cluster,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    tail_lines: Option<u32>,
) -> Result<String, TaskError> {
    raw::read_pod_log(cluster, namespace, pod, container, tail_lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_from_parameters() {
        let params = json!({"ClusterName": "c", "Endpoint": "https://e", "CertificateAuthority": "Q0E="});
        assert_eq!(
            Cluster::from_parameters(&params).unwrap(),
            Cluster::new("c", "https://e", "Q0E=")
        );
        let missing = json!({"ClusterName": "c", "Endpoint": "https://e"});
        let err = Cluster::from_parameters(&missing).unwrap_err();
        assert_eq!(
            err,
            TaskError::runtime("expected a string field \"CertificateAuthority\"")
        );
        assert!(Cluster::from_parameters(&json!(null)).is_err());
        assert!(
            Cluster::from_parameters(&json!({"ClusterName": 1, "Endpoint": "", "CertificateAuthority": ""})).is_err()
        );
    }

    #[test]
    fn request_builder() {
        let r = Request::new("PATCH", "/apis/batch/v1/namespaces/d/jobs/j")
            .query("fieldManager", "aslan")
            .query("fieldManager", "again")
            .body(&json!({"spec": {"suspend": true}}));
        assert_eq!(r.method, "PATCH");
        assert_eq!(
            r.query,
            vec![
                ("fieldManager".into(), "aslan".into()),
                ("fieldManager".into(), "again".into())
            ]
        );
        assert_eq!(r.body.as_deref(), Some(r#"{"spec":{"suspend":true}}"#));
        assert_eq!(
            Request::get("/api"),
            Request {
                method: "GET".into(),
                path: "/api".into(),
                query: vec![],
                body: None
            }
        );
    }

    #[test]
    fn response_json() {
        let r = Response {
            status_code: 200,
            status_text: "OK".into(),
            headers: vec![],
            body: r#"{"kind":"Pod"}"#.into(),
        };
        assert_eq!(r.json().unwrap(), json!({"kind": "Pod"}));
        let bad = Response {
            body: "<html>".into(),
            ..r
        };
        assert_eq!(bad.json().unwrap_err().error, "States.Runtime");
    }
}
