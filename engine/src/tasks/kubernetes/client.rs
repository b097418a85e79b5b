//! kube clients per cluster, and raw requests through them.
//!
//! A client is built from the Task's `Endpoint` and `CertificateAuthority`
//! (the server certificate must chain to that CA; verification is never
//! turned off) and the cluster's credentials, and reused across Task states
//! until its EKS token is due for renewal.

use super::auth::{endpoint_region, Auth, Credential, EKS_TOKEN_REUSE};
use super::params::Cluster;
use crate::asl::StateError;
use http_body_util::BodyExt as _;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many clients are cached.
const MAX_CACHED: usize = 256;

/// Bodies larger than this are refused (the result could not be carried
/// anyway: Step Functions payloads are at most 256 KiB).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: http::StatusCode,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

struct Cached {
    client: kube::Client,
    renew_at: Option<Instant>,
}

/// Builds and caches clients.
pub struct Clients {
    auth: Auth,
    cache: Mutex<HashMap<(Cluster, String), Cached>>,
}

/// The error for a cluster that could not be reached or answered with
/// something that is not HTTP.
pub fn unreachable(cluster: &Cluster, what: impl std::fmt::Display) -> StateError {
    StateError::new(
        crate::asl::error::TASK_FAILED,
        format!(
            "Could not call the Kubernetes API of cluster {} at {}: {what}",
            cluster.name, cluster.endpoint
        ),
    )
}

impl Clients {
    /// Clients authenticated by `auth`.
    pub fn new(auth: Auth) -> Clients {
        Clients {
            auth,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A client for `cluster`; an EKS token is signed for the endpoint's
    /// region when it is an EKS endpoint, else for `region`.
    pub async fn get(&self, cluster: &Cluster, region: &str) -> Result<kube::Client, StateError> {
        let region = endpoint_region(&cluster.endpoint).unwrap_or(region).to_string();
        let key = (cluster.clone(), region.clone());
        let now = Instant::now();
        if let Some(c) = self.lock().get(&key) {
            if c.renew_at.is_none_or(|t| now < t) {
                return Ok(c.client.clone());
            }
        }
        let cred = self
            .auth
            .credential(&cluster.name, &region)
            .await
            .map_err(|e| StateError::new(crate::asl::error::TASK_FAILED, e))?;
        let client = build(cluster, cred).await?;
        let renew_at = self.auth.uses_eks_token(&cluster.name).then(|| now + EKS_TOKEN_REUSE);
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, c| c.renew_at.is_none_or(|t| now < t));
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                client: client.clone(),
                renew_at,
            },
        );
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Cluster, String), Cached>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn build(cluster: &Cluster, cred: Credential) -> Result<kube::Client, StateError> {
    let uri: http::Uri = cluster
        .endpoint
        .parse()
        .map_err(|e| unreachable(cluster, format!("bad endpoint: {e}")))?;
    let mut cfg = match cred {
        Credential::Token(t) => {
            let mut cfg = kube::Config::new(uri.clone());
            cfg.auth_info.token = Some(t);
            cfg
        }
        Credential::Kubeconfig { path, context } => {
            let kc = Kubeconfig::read_from(&path)
                .map_err(|e| unreachable(cluster, format!("cannot read kubeconfig {}: {e}", path.display())))?;
            let opts = KubeConfigOptions {
                context,
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| unreachable(cluster, format!("cannot use kubeconfig {}: {e}", path.display())))?
        }
    };
    // The Task's parameters say where the cluster is and whom to trust.
    cfg.cluster_url = uri;
    cfg.root_cert = Some(cluster.ca_der.clone());
    cfg.root_cert_file = None;
    cfg.accept_invalid_certs = false;
    cfg.tls_server_name = None;
    cfg.connect_timeout = Some(Duration::from_secs(10));
    // A Task sees the API's answer as it is; retries are Retry's business.
    cfg.default_retry = false;
    kube::Client::try_from(cfg).map_err(|e| unreachable(cluster, e))
}

/// Sends one request; `path_and_query` starts with `/`.
pub async fn send(
    client: &kube::Client,
    cluster: &Cluster,
    method: http::Method,
    path_and_query: &str,
    body: Option<(Vec<u8>, &str)>,
) -> Result<Reply, StateError> {
    let mut req = http::Request::builder().method(method).uri(path_and_query);
    let bytes = match body {
        Some((b, content_type)) => {
            req = req.header(http::header::CONTENT_TYPE, content_type);
            b
        }
        None => Vec::new(),
    };
    req = req.header(http::header::ACCEPT, "application/json, */*");
    let req = req
        .body(kube::client::Body::from(bytes))
        .map_err(|e| unreachable(cluster, e))?;
    let res = client
        .send(req)
        .await
        .map_err(|e| unreachable(cluster, error_chain(&e)))?;
    let (parts, mut body) = res.into_parts();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| unreachable(cluster, error_chain(&e)))?;
        if let Some(d) = frame.data_ref() {
            if buf.len() + d.len() > MAX_BODY {
                return Err(StateError::new(
                    crate::asl::error::DATA_LIMIT_EXCEEDED,
                    format!("The Kubernetes API's response is larger than {MAX_BODY} bytes"),
                ));
            }
            buf.extend_from_slice(d);
        }
    }
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: buf,
    })
}

/// An error with its sources, for causes (`invalid peer certificate:
/// UnknownIssuer` is in a source, not in the top error).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
