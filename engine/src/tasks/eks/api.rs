//! Calling the EKS API through aws-sdk-eks.
//!
//! The SDK client gives credentials, region, endpoint resolution
//! (`AWS_ENDPOINT_URL_EKS`, `AWS_ENDPOINT_URL`), SigV4 signing, retries of
//! throttling and the parsing of errors. The request body is the JSON that
//! Step Functions' parameters translate to ([`super::members`]), put in
//! place of the SDK's own serialization before signing, so every member of
//! the API passes through as written; the response body is read back as
//! JSON, so every member of the answer reaches the result.

use crate::asl::StateError;
use crate::tasks::kubernetes::client::error_chain;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a request is about: enough to describe it while waiting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind")]
pub enum Target {
    /// A cluster.
    Cluster {
        /// Its name.
        name: String,
    },
    /// A managed node group.
    Nodegroup {
        /// Its cluster.
        cluster: String,
        /// Its name.
        name: String,
    },
    /// A Fargate profile.
    FargateProfile {
        /// Its cluster.
        cluster: String,
        /// Its name.
        name: String,
    },
}

/// The six operations Step Functions integrates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `eks:createCluster`
    CreateCluster,
    /// `eks:deleteCluster`
    DeleteCluster,
    /// `eks:createNodegroup`
    CreateNodegroup,
    /// `eks:deleteNodegroup`
    DeleteNodegroup,
    /// `eks:createFargateProfile`
    CreateFargateProfile,
    /// `eks:deleteFargateProfile`
    DeleteFargateProfile,
}

impl Op {
    /// The operation of a resource's action (`createCluster`).
    pub fn from_action(a: &str) -> Option<Op> {
        Some(match a {
            "createCluster" => Op::CreateCluster,
            "deleteCluster" => Op::DeleteCluster,
            "createNodegroup" => Op::CreateNodegroup,
            "deleteNodegroup" => Op::DeleteNodegroup,
            "createFargateProfile" => Op::CreateFargateProfile,
            "deleteFargateProfile" => Op::DeleteFargateProfile,
            _ => return None,
        })
    }

    /// The API's name for it (`CreateCluster`).
    pub fn name(self) -> &'static str {
        match self {
            Op::CreateCluster => "CreateCluster",
            Op::DeleteCluster => "DeleteCluster",
            Op::CreateNodegroup => "CreateNodegroup",
            Op::DeleteNodegroup => "DeleteNodegroup",
            Op::CreateFargateProfile => "CreateFargateProfile",
            Op::DeleteFargateProfile => "DeleteFargateProfile",
        }
    }

    /// Whether it creates (and so takes a `clientRequestToken`).
    pub fn creates(self) -> bool {
        matches!(self, Op::CreateCluster | Op::CreateNodegroup | Op::CreateFargateProfile)
    }

    /// The resource a request (camelCase) is about.
    pub fn target(self, req: &Value) -> Option<Target> {
        let s = |k: &str| req.get(k).and_then(Value::as_str).map(str::to_string);
        Some(match self {
            Op::CreateCluster | Op::DeleteCluster => Target::Cluster { name: s("name")? },
            Op::CreateNodegroup | Op::DeleteNodegroup => Target::Nodegroup {
                cluster: s("clusterName")?,
                name: s("nodegroupName")?,
            },
            Op::CreateFargateProfile | Op::DeleteFargateProfile => Target::FargateProfile {
                cluster: s("clusterName")?,
                name: s("fargateProfileName")?,
            },
        })
    }
}

/// Captures the raw response body of one call.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "AslanCaptureResponseBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(b) = context.response().body().bytes() {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(b.to_vec());
        }
        Ok(())
    }
}

impl Capture {
    fn take(&self) -> Value {
        let b = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        b.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null)
    }
}

/// Puts `body` in place of the SDK's serialization.
fn with_body(body: Vec<u8>) -> impl Fn(&mut HttpRequest) + Send + Sync + 'static {
    move |req: &mut HttpRequest| {
        let len = body.len().to_string();
        *req.body_mut() = SdkBody::from(body.clone());
        req.headers_mut().insert("content-length", len);
        req.headers_mut().insert("content-type", "application/json");
    }
}

/// The `EKS.<ExceptionName>` error of a service error; other failures
/// (no connection, no credentials) are `States.TaskFailed`.
fn failure<E>(e: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("ServiceException");
            let message = s.err().message().unwrap_or("");
            StateError::new(format!("EKS.{code}"), message)
        }
        _ => StateError::new(
            crate::asl::error::TASK_FAILED,
            format!("Could not call the EKS API: {}", error_chain(&e)),
        ),
    }
}

/// EKS clients, one per region.
#[derive(Default)]
pub struct EksApi {
    clients: tokio::sync::Mutex<HashMap<String, aws_sdk_eks::Client>>,
}

impl EksApi {
    async fn client(&self, region: &str) -> aws_sdk_eks::Client {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(region) {
            return c.clone();
        }
        let sdk = crate::tasks::aws::sdk_config().await;
        let mut b = aws_sdk_eks::config::Builder::from(sdk);
        if sdk.region().is_none() {
            b = b.region(aws_sdk_eks::config::Region::new(region.to_string()));
        }
        let c = aws_sdk_eks::Client::from_conf(b.build());
        if clients.len() < 64 {
            clients.insert(region.to_string(), c.clone());
        }
        c
    }

    /// Sends `op` with `req` (camelCase JSON) and returns the response as
    /// JSON (camelCase).
    pub async fn call(&self, region: &str, op: Op, req: &Value) -> Result<Value, StateError> {
        let c = self.client(region).await;
        let cap = Capture::default();
        // Members that go in the URL path are not in the body.
        let mut body_json = req.clone();
        if let Some(o) = body_json.as_object_mut() {
            if matches!(op, Op::CreateNodegroup | Op::CreateFargateProfile) {
                o.remove("clusterName");
            }
        }
        let body = serde_json::to_vec(&body_json).unwrap_or_default();
        let target = op
            .target(req)
            .ok_or_else(|| StateError::runtime(format!("{} needs the resource's name", op.name())))?;
        let (cluster, name) = match &target {
            Target::Cluster { name } => (name.clone(), name.clone()),
            Target::Nodegroup { cluster, name } | Target::FargateProfile { cluster, name } => {
                (cluster.clone(), name.clone())
            }
        };
        match op {
            Op::CreateCluster => c
                .create_cluster()
                .name(name)
                .customize()
                .mutate_request(with_body(body))
                .interceptor(cap.clone())
                .send()
                .await
                .map(drop)
                .map_err(failure)?,
            Op::DeleteCluster => c
                .delete_cluster()
                .name(name)
                .customize()
                .interceptor(cap.clone())
                .send()
                .await
                .map(drop)
                .map_err(failure)?,
            Op::CreateNodegroup => c
                .create_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .customize()
                .mutate_request(with_body(body))
                .interceptor(cap.clone())
                .send()
                .await
                .map(drop)
                .map_err(failure)?,
            Op::DeleteNodegroup => c
                .delete_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .customize()
                .interceptor(cap.clone())
                .send()
                .await
                .map(drop)
                .map_err(failure)?,
            Op::CreateFargateProfile => c
                .create_fargate_profile()
                .cluster_name(cluster)
                .fargate_profile_name(name)
                .customize()
                .mutate_request(with_body(body))
                .interceptor(cap.clone())
                .send()
                .await
                .map(drop)
                .map_err(failure)?,
            Op::DeleteFargateProfile => c
                .delete_fargate_profile()
                .cluster_name(cluster)
                .fargate_profile_name(name)
                .customize()
                .interceptor(cap.clone())
                .send()
                .await
                .map(drop)
                .map_err(failure)?,
        }
        Ok(cap.take())
    }

    /// Describes `target`: its JSON (camelCase), or `None` when it does not
    /// exist (any more).
    pub async fn describe(&self, region: &str, target: &Target) -> Result<Option<Value>, StateError> {
        let c = self.client(region).await;
        let cap = Capture::default();
        let r = match target {
            Target::Cluster { name } => c
                .describe_cluster()
                .name(name)
                .customize()
                .interceptor(cap.clone())
                .send()
                .await
                .map(drop)
                .map_err(failure),
            Target::Nodegroup { cluster, name } => c
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .customize()
                .interceptor(cap.clone())
                .send()
                .await
                .map(drop)
                .map_err(failure),
            Target::FargateProfile { cluster, name } => c
                .describe_fargate_profile()
                .cluster_name(cluster)
                .fargate_profile_name(name)
                .customize()
                .interceptor(cap.clone())
                .send()
                .await
                .map(drop)
                .map_err(failure),
        };
        match r {
            Ok(()) => Ok(Some(cap.take())),
            Err(e) if e.error == "EKS.ResourceNotFoundException" => Ok(None),
            Err(e) => Err(e),
        }
    }
}
