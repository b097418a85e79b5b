//! The Kubernetes integration: `arn:aws:states:::eks:call`,
//! `eks:runJob` and `eks:runJob.sync`, with AWS's parameter and result
//! shapes, through the `kube` crate over HTTPS (rustls).
//!
//! - [`params`] reads the parameters, checked as Step Functions checks them.
//! - [`auth`] makes EKS tokens from the AWS credential chain, or credentials
//!   configured per cluster.
//! - [`client`] keeps clients per cluster, verifying the server against the
//!   Task's `CertificateAuthority`.
//! - [`call`] runs `eks:call`.
//! - [`job`] runs `eks:runJob(.sync)`: create, watch, logs, cancel.

pub mod auth;
pub mod call;
pub mod client;
pub mod job;
pub mod params;

use super::{CancelFuture, Integration, Outcome, Pattern, Resource, Task, TaskFuture};
use crate::config::EngineConfig;
use serde_json::Value;
use std::sync::Arc;

/// Serves `eks:call` and `eks:runJob(.sync)`.
pub struct Kubernetes {
    clients: Arc<client::Clients>,
}

impl Kubernetes {
    /// The integration, with the clusters configured in `cfg` (the others
    /// get EKS tokens).
    pub fn new(cfg: &EngineConfig) -> Kubernetes {
        Kubernetes {
            clients: Arc::new(client::Clients::new(auth::Auth::new(cfg.clusters.clone()))),
        }
    }
}

const CALL: &[Pattern] = &[Pattern::RequestResponse];
const RUN_JOB: &[Pattern] = &[Pattern::RequestResponse, Pattern::Sync];

impl Integration for Kubernetes {
    fn patterns(&self, resource: &Resource) -> Option<&'static [Pattern]> {
        match resource.operation().as_str() {
            "eks:call" => Some(CALL),
            "eks:runJob" => Some(RUN_JOB),
            _ => None,
        }
    }

    fn validate_parameters(&self, resource: &Resource, parameters: &Value) -> Vec<String> {
        match resource.operation().as_str() {
            "eks:call" => params::check_static(parameters, params::CALL_FIELDS),
            "eks:runJob" => params::check_static(parameters, params::RUN_JOB_FIELDS),
            _ => Vec::new(),
        }
    }

    fn start(&self, task: Task) -> TaskFuture {
        let clients = self.clients.clone();
        Box::pin(async move {
            if task.resource.operation() == "eks:call" {
                match call::run(&clients, &task.ctx, &task.invocation.parameters).await {
                    Ok(v) => Outcome::Succeeded(v),
                    Err(e) => Outcome::Failed(e),
                }
            } else {
                job::start(&clients, &task).await
            }
        })
    }

    fn poll(&self, task: Task, state: Value) -> TaskFuture {
        let clients = self.clients.clone();
        Box::pin(async move { job::poll(&clients, &task, state).await })
    }

    fn started_view(&self, _resource: &Resource, state: &Value) -> Value {
        match serde_json::from_value::<job::JobState>(state.clone()) {
            Ok(s) => serde_json::json!({"Namespace": s.namespace, "Name": s.name, "Uid": s.uid}),
            Err(_) => state.clone(),
        }
    }

    fn cancel(&self, task: Task, state: Option<Value>) -> CancelFuture {
        let clients = self.clients.clone();
        Box::pin(async move {
            if task.resource.operation() == "eks:runJob" {
                job::cancel(&clients, &task, state).await
            }
        })
    }
}
