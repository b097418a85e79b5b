//! A local emulator of the Kubernetes API server, for testing Aslan's EKS integration without a
//! cloud: HTTPS with its own CA, bearer-token (and EKS token) authentication, discovery, the
//! `v1` Namespace/ConfigMap/Pod and `batch/v1` Job resources with watches, a Job controller
//! that behaves as Kubernetes 1.31+'s, and simulated (or, opt-in, locally run) containers;
//! plus the Amazon EKS REST API ([`eks`]) on a plain-HTTP listener, whose clusters all point at
//! that Kubernetes API.
//!
//! Start it in-process with [`start`]; the `aslan-local-cloud` binary does the same and prints
//! [`Handle::ready_line`] on stdout. See the crate README for the annotations that drive
//! simulated containers and for the emulator-only `/debug` endpoint.
#![warn(missing_docs)]

mod api;
mod auth;
mod containers;
mod controller;
pub mod eks;
pub mod eks_token;
mod kinds;
mod kubelet;
mod logstore;
mod objects;
mod patch;
mod selectors;
mod state;
mod status;
mod store;
mod table;
mod tls;
mod util;

use base64::Engine;
use serde::Serialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use tls::client_config;

/// How to start the emulator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Run containers' `command` + `args` as local processes instead of simulating them.
    pub run_processes: bool,
    /// Refuse every watch with 403 Forbidden (RBAC without the `watch` verb),
    /// so clients' fallback polling can be tested.
    pub refuse_watch: bool,
    /// The bearer token to accept; a random one when `None`.
    pub token: Option<String>,
    /// EKS cluster names whose tokens are accepted (the `x-k8s-aws-id` header value is signed
    /// but not carried in the token, so it must be known to verify the signature).
    pub eks_clusters: Vec<String>,
    /// How many events the watch log keeps (older resourceVersions get 410 Gone).
    pub event_log_capacity: usize,
    /// The most objects the store holds.
    pub max_objects: usize,
    /// The largest request body accepted (3 MiB, as a real API server).
    pub max_body_bytes: usize,
    /// The first back-off before a failed Job pod is replaced (doubling each time; a real
    /// cluster uses 10 s).
    pub pod_backoff: Duration,
    /// The AWS credentials EKS tokens must be signed with (default: from `AWS_ACCESS_KEY_ID` /
    /// `AWS_SECRET_ACCESS_KEY`; EKS tokens are refused without them).
    pub aws_keys: Option<eks_token::AwsKeys>,
    /// Where the EKS REST API listens (plain HTTP; port 0 picks a free port).
    pub eks_listen: SocketAddr,
    /// How long an EKS cluster, node group or Fargate profile stays CREATING.
    pub eks_create_delay: Duration,
    /// How long one stays DELETING before it is gone.
    pub eks_delete_delay: Duration,
    /// The most EKS clusters (`ResourceLimitExceededException` beyond).
    pub eks_max_clusters: usize,
    /// The region in EKS ARNs when a request's SigV4 scope names none.
    pub eks_region: String,
    /// The account id in EKS ARNs.
    pub eks_account_id: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            run_processes: false,
            refuse_watch: false,
            token: None,
            eks_clusters: vec!["aslan-local".to_string()],
            event_log_capacity: 10_000,
            max_objects: 100_000,
            max_body_bytes: 3 * 1024 * 1024,
            pod_backoff: Duration::from_millis(10),
            aws_keys: eks_token::AwsKeys::from_env(),
            eks_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            eks_create_delay: Duration::from_millis(300),
            eks_delete_delay: Duration::from_millis(300),
            eks_max_clusters: 100,
            eks_region: "us-east-1".to_string(),
            eks_account_id: "123456789012".to_string(),
        }
    }
}

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Making certificates or the TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Binding the listener failed.
    #[error("listening on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
}

/// The Kubernetes part of the ready line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesInfo {
    /// `https://127.0.0.1:N`.
    pub endpoint: String,
    /// The CA certificate PEM, base64-encoded (as kubeconfig's `certificate-authority-data`).
    pub certificate_authority: String,
    /// The bearer token.
    pub token: String,
}

/// The EKS part of the ready line.
#[derive(Debug, Clone, Serialize)]
pub struct EksInfo {
    /// `http://127.0.0.1:M`, the EKS REST API (an SDK's `endpoint_url`).
    pub endpoint: String,
}

/// The JSON line the binary prints when ready.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyLine {
    /// The Kubernetes API server.
    pub kubernetes: KubernetesInfo,
    /// The EKS REST API.
    pub eks: EksInfo,
}

/// A running emulator; dropping it does not stop it (call [`Handle::shutdown`]).
pub struct Handle {
    /// `https://127.0.0.1:N`.
    pub endpoint: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The bearer token.
    pub token: String,
    /// `http://127.0.0.1:M`, the EKS REST API.
    pub eks_endpoint: String,
    /// The address the EKS REST API listens on.
    pub eks_addr: SocketAddr,
    state: state::Shared,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Handle {
    /// What the binary prints when ready.
    pub fn ready(&self) -> ReadyLine {
        ReadyLine {
            kubernetes: KubernetesInfo {
                endpoint: self.endpoint.clone(),
                certificate_authority: base64::engine::general_purpose::STANDARD.encode(&self.ca_pem),
                token: self.token.clone(),
            },
            eks: EksInfo {
                endpoint: self.eks_endpoint.clone(),
            },
        }
    }

    /// [`Handle::ready`] as one JSON line (without the newline).
    pub fn ready_line(&self) -> String {
        serde_json::to_string(&self.ready()).unwrap_or_default()
    }

    /// A kubeconfig for this emulator.
    pub fn kubeconfig(&self) -> serde_json::Value {
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "aslan-local-cloud", "cluster": {"server": self.endpoint, "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)}}],
            "users": [{"name": "aslan-local-cloud", "user": {"token": self.token}}],
            "contexts": [{"name": "aslan-local-cloud", "context": {"cluster": "aslan-local-cloud", "user": "aslan-local-cloud", "namespace": "default"}}],
            "current-context": "aslan-local-cloud"
        })
    }

    /// Accepts EKS tokens made for `cluster` from now on.
    pub fn register_eks_cluster(&self, cluster: &str) {
        self.state.register_eks_cluster(cluster);
    }

    /// The cluster names whose EKS tokens are accepted now.
    pub fn eks_cluster_names(&self) -> Vec<String> {
        self.state.eks_clusters()
    }

    /// When a Job got its `Complete` or `Failed` condition: (condition type, time).
    pub fn job_finished_at(&self, namespace: &str, name: &str) -> Option<(&'static str, jiff::Timestamp)> {
        self.state.finished_at(namespace, name).map(|f| (f.condition, f.at))
    }

    /// Stops serving and the controllers.
    pub fn shutdown(&self) {
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            t.abort();
        }
    }
}

/// Starts the emulator on the current tokio runtime.
pub async fn start(opts: Options) -> Result<Handle, StartError> {
    let certs = tls::generate()?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| StartError::Listen(opts.listen, e))?;
    let addr = listener.local_addr().map_err(|e| StartError::Listen(opts.listen, e))?;
    let eks_listener = tokio::net::TcpListener::bind(opts.eks_listen)
        .await
        .map_err(|e| StartError::Listen(opts.eks_listen, e))?;
    let eks_addr = eks_listener
        .local_addr()
        .map_err(|e| StartError::Listen(opts.eks_listen, e))?;
    let token = opts.token.clone().unwrap_or_else(|| util::random_hex(48));
    let state = Arc::new(state::State {
        store: store::Store::new(opts.event_log_capacity, opts.max_objects),
        logs: logstore::LogStore::default(),
        token: token.clone(),
        ca_pem: certs.ca_pem.clone(),
        aws_keys: opts.aws_keys.clone(),
        eks_clusters: Mutex::new(opts.eks_clusters.clone()),
        run_processes: opts.run_processes,
        refuse_watch: opts.refuse_watch,
        pod_backoff: opts.pod_backoff,
        max_body: opts.max_body_bytes,
        finished: Mutex::new(Default::default()),
        attempts: Mutex::new(Default::default()),
        eks_identities: Mutex::new(Vec::new()),
    });
    seed(&state);
    let acceptor = tokio_rustls::TlsAcceptor::from(certs.server_config.clone());
    let endpoint = format!("https://{addr}");
    let eks_server = Arc::new(eks::Server {
        eks: eks::model::Eks::new(
            state.clone(),
            endpoint.clone(),
            eks::model::Config {
                create_delay: opts.eks_create_delay,
                delete_delay: opts.eks_delete_delay,
                max_clusters: opts.eks_max_clusters,
                region: opts.eks_region.clone(),
                account_id: opts.eks_account_id.clone(),
            },
        ),
        keys: opts.aws_keys.clone(),
    });
    let tasks = vec![
        tokio::spawn(eks::serve(eks_listener, eks_server)),
        tokio::spawn(controller::run(state.clone())),
        tokio::spawn(kubelet::run(state.clone())),
        tokio::spawn(api::serve(listener, acceptor, state.clone())),
    ];
    let eks_endpoint = format!("http://{eks_addr}");
    tracing::info!(%endpoint, %eks_endpoint, run_processes = opts.run_processes, "Kubernetes API and EKS emulator ready");
    Ok(Handle {
        endpoint,
        addr,
        ca_pem: certs.ca_pem,
        token,
        eks_endpoint,
        eks_addr,
        state,
        tasks: Mutex::new(tasks),
    })
}

/// The namespaces (and their `kube-root-ca.crt` ConfigMaps) a new cluster has.
fn seed(state: &state::Shared) {
    for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        if let Ok(o) = objects::prepare_create(kinds::Kind::Namespace, "", obj, "") {
            let _ = state.store.create(kinds::Kind::Namespace, o);
        }
    }
    for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": state.ca_pem}});
        if let Ok(o) = objects::prepare_create(kinds::Kind::ConfigMap, ns, cm, "") {
            let _ = state.store.create(kinds::Kind::ConfigMap, o);
        }
    }
}
