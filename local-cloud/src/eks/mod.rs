//! The Amazon EKS REST API (restJson1, as `aws-sdk-eks` and boto3 speak it) on a plain-HTTP
//! loopback listener: clusters, managed node groups and Fargate profiles, with CREATING →
//! ACTIVE and DELETING → gone after configurable delays. Every cluster's `endpoint` and
//! `certificateAuthority` are those of the emulator's one Kubernetes API, and creating a
//! cluster makes the Kubernetes API accept EKS tokens for its name.

pub mod error;
pub mod model;
pub mod schema;
#[allow(missing_docs)]
#[rustfmt::skip]
pub mod shapes;
pub mod sigv4;

use crate::api::body::{self, RespBody};
use crate::eks_token::AwsKeys;
use bytes::Bytes;
use error::EksError;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use model::Eks;
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

/// The largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// What the server needs.
pub struct Server {
    /// The resources.
    pub eks: Eks,
    /// The credentials requests must be signed with (any signature is accepted without).
    pub keys: Option<AwsKeys>,
}

/// Serves the EKS API on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, server: Arc<Server>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "EKS accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let server = server.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(handle(server, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await
            {
                tracing::debug!(%peer, error = %e, "EKS connection ended with an error");
            }
        });
    }
}

fn with_request_id(mut r: Response<RespBody>) -> Response<RespBody> {
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// An error as EKS sends it.
pub fn error_response(e: &EksError) -> Response<RespBody> {
    let mut r = body::json(e.status, &e.body());
    if let Ok(v) = HeaderValue::from_str(&e.error_type()) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    with_request_id(r)
}

fn decode(seg: &str) -> String {
    let bytes: Vec<u8> = percent_decode(seg.as_bytes());
    String::from_utf8_lossy(&bytes).into_owned()
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

async fn handle(server: Arc<Server>, req: Request<Incoming>) -> Response<RespBody> {
    let (parts, incoming) = req.into_parts();
    let body = match Limited::new(incoming, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error_response(&EksError::new(
                413,
                "RequestEntityTooLargeException",
                "Request must be smaller than 1048576 bytes.",
            ))
        }
    };
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let scope = match &server.keys {
        Some(keys) => match sigv4::verify(
            keys,
            parts.method.as_str(),
            &uri,
            &parts.headers,
            &body,
            SystemTime::now(),
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::info!(method = %parts.method, path = %parts.uri.path(), error = %e.message, "EKS request refused");
                return error_response(&e);
            }
        },
        None => sigv4::scope_of(&parts.headers),
    };
    let query: HashMap<String, String> = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let region = scope.map(|s| s.region);
    let resp = match route(
        &server,
        &parts.method,
        parts.uri.path(),
        &query,
        &body,
        region.as_deref(),
    ) {
        Ok((status, v)) => with_request_id(body::json(status, &v)),
        Err(e) => error_response(&e),
    };
    tracing::debug!(method = %parts.method, path = %parts.uri.path(), status = resp.status().as_u16(), "EKS request");
    resp
}

fn not_found_route() -> EksError {
    EksError::new(404, "UnknownOperationException", "Not Found")
}

fn schedule(server: &Arc<Server>, delay: Duration) {
    let s = server.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay + Duration::from_millis(1)).await;
        s.eks.advance();
    });
}

fn route(
    server: &Arc<Server>,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    body: &Bytes,
    region: Option<&str>,
) -> Result<(u16, Value), EksError> {
    let segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = |k: &str| query.get(k).map(String::as_str);
    let eks = &server.eks;
    let (create_delay, delete_delay) = eks.delays();
    let ok = |v: Value| Ok((200, v));
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["clusters"]) => {
            let r = eks.create_cluster(body, region)?;
            schedule(server, create_delay);
            Ok(r)
        }
        ("GET", ["clusters"]) => ok(eks.list_clusters(q("maxResults"), q("nextToken"))?),
        ("GET", ["clusters", name]) => ok(eks.describe_cluster(name)?),
        ("DELETE", ["clusters", name]) => {
            let r = eks.delete_cluster(name)?;
            schedule(server, delete_delay);
            ok(r)
        }
        ("POST", ["clusters", name, "node-groups"]) => {
            let r = eks.create_nodegroup(name, body)?;
            schedule(server, create_delay);
            Ok(r)
        }
        ("GET", ["clusters", name, "node-groups"]) => {
            ok(eks.list_children(name, false, q("maxResults"), q("nextToken"))?)
        }
        ("GET", ["clusters", name, "node-groups", ng]) => ok(eks.describe_child(name, ng, false)?),
        ("DELETE", ["clusters", name, "node-groups", ng]) => {
            let r = eks.delete_child(name, ng, false)?;
            schedule(server, delete_delay);
            ok(r)
        }
        ("POST", ["clusters", name, "fargate-profiles"]) => {
            let r = eks.create_fargate_profile(name, body)?;
            schedule(server, create_delay);
            Ok(r)
        }
        ("GET", ["clusters", name, "fargate-profiles"]) => {
            ok(eks.list_children(name, true, q("maxResults"), q("nextToken"))?)
        }
        ("GET", ["clusters", name, "fargate-profiles", fp]) => ok(eks.describe_child(name, fp, true)?),
        ("DELETE", ["clusters", name, "fargate-profiles", fp]) => {
            let r = eks.delete_child(name, fp, true)?;
            schedule(server, delete_delay);
            ok(r)
        }
        _ => Err(not_found_route()),
    }
}
