//! The HTTPS server and request routing.

pub mod body;
mod crud;
mod delete;
pub mod discovery;
mod logs;
mod watch;

use crate::auth;
use crate::kinds::Kind;
use crate::state::Shared;
use crate::status::ApiError;
use body::RespBody;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Creates a pod for a Job (its `attempt`-th), as the Job controller does through the API.
pub fn crud_create_pod(
    state: &Shared,
    ns: &str,
    pod: serde_json::Value,
    attempt: u32,
) -> Result<std::sync::Arc<serde_json::Value>, ApiError> {
    let (obj, _) = crate::objects::canonicalize(Kind::Pod, pod, crate::objects::FieldValidation::Ignore)?;
    crud::create_object(state, Kind::Pod, ns, obj, false, Some(attempt))
}

/// A parsed request.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }

    pub fn q_bool(&self, k: &str) -> bool {
        matches!(self.q(k), Some("1" | "true" | "True"))
    }

    pub fn header(&self, k: &str) -> &str {
        self.headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Whether the client asked for a `meta.k8s.io` Table.
    pub fn wants_table(&self) -> bool {
        self.header("accept")
            .split(',')
            .next()
            .is_some_and(|first| first.contains("as=Table"))
            || self
                .header("accept")
                .split(',')
                .any(|p| p.contains("as=Table") && p.contains("g=meta.k8s.io"))
    }
}

/// Serves HTTPS on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, state: Shared) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// An error as its Status response.
pub fn error_response(e: &ApiError) -> Response<RespBody> {
    body::json(e.code, &e.to_status())
}

async fn handle(state: Shared, req: Request<Incoming>) -> Response<RespBody> {
    let (parts, incoming) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let query: HashMap<String, String> = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let unauthenticated = matches!(path.as_str(), "/version" | "/healthz" | "/readyz" | "/livez");
    if !unauthenticated {
        if let Err(e) = auth::authenticate(&state, &parts.headers) {
            tracing::debug!(%method, %path, "unauthorized");
            return error_response(&e);
        }
    }
    let body = match Limited::new(incoming, state.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let err = if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                ApiError::too_large(state.max_body)
            } else {
                ApiError::bad_request(format!("reading the request body: {e}"))
            };
            return error_response(&err);
        }
    };
    let req = Req {
        method,
        path,
        query,
        headers: parts.headers,
        body,
    };
    let resp = match route(&state, &req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    tracing::debug!(method = %req.method, path = %req.path, status = resp.status().as_u16(), "request");
    resp
}

fn only_get(req: &Req) -> Result<(), ApiError> {
    if req.method == Method::GET || req.method == Method::HEAD {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed())
    }
}

async fn route(state: &Shared, req: &Req) -> Result<Response<RespBody>, ApiError> {
    let segs: Vec<&str> = req
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["version"] => only_get(req).map(|_| body::json(200, &discovery::version())),
        ["healthz"] | ["readyz"] | ["livez"] => only_get(req).map(|_| body::text(200, "ok")),
        ["api"] => only_get(req).map(|_| body::json(200, &discovery::api_versions())),
        ["apis"] => only_get(req).map(|_| body::json(200, &discovery::api_group_list())),
        ["apis", g] => {
            only_get(req)?;
            discovery::api_group(g)
                .map(|v| body::json(200, &v))
                .ok_or_else(ApiError::path_not_found)
        }
        ["api", "v1"] => only_get(req).map(|_| body::json(200, &discovery::resource_list("").unwrap_or_default())),
        ["apis", g, "v1"] => {
            only_get(req)?;
            discovery::resource_list(g)
                .map(|v| body::json(200, &v))
                .ok_or_else(ApiError::path_not_found)
        }
        ["openapi", "v3"] => only_get(req).map(|_| body::json(200, &discovery::openapi_v3_root())),
        ["openapi", "v3", "api", "v1"] => {
            only_get(req).map(|_| body::json(200, &discovery::openapi_v3_group("").unwrap_or_default()))
        }
        ["openapi", "v3", "apis", g, "v1"] => {
            only_get(req)?;
            discovery::openapi_v3_group(g)
                .map(|v| body::json(200, &v))
                .ok_or_else(ApiError::path_not_found)
        }
        ["debug", "jobs", ns, name, "completed-at"] => {
            only_get(req)?;
            debug_completed_at(state, req, ns, name)
        }
        ["api", "v1", rest @ ..] => resource_route(state, req, "", rest).await,
        ["apis", g, "v1", rest @ ..] => resource_route(state, req, g, rest).await,
        _ => Err(ApiError::path_not_found()),
    }
}

/// `GET /debug/jobs/{ns}/{name}/completed-at` (emulator-only): when the Job's Complete or Failed
/// condition was set, RFC 3339 with nanoseconds (`?format=json` for the condition too).
fn debug_completed_at(state: &Shared, req: &Req, ns: &str, name: &str) -> Result<Response<RespBody>, ApiError> {
    let f = state.finished_at(ns, name).ok_or_else(|| {
        if state.store.exists(Kind::Job, ns, name) {
            ApiError::new(404, "NotFound", format!("job {ns}/{name} has not finished"))
        } else {
            ApiError::not_found(Kind::Job, name)
        }
    })?;
    let at = crate::util::rfc3339_nanos(f.at);
    if req.q("format") == Some("json") {
        Ok(body::json(
            200,
            &serde_json::json!({"namespace": ns, "name": name, "condition": f.condition, "time": at}),
        ))
    } else {
        Ok(body::text(200, at))
    }
}

async fn resource_route(state: &Shared, req: &Req, group: &str, rest: &[&str]) -> Result<Response<RespBody>, ApiError> {
    let kind_of = |plural: &str| Kind::from_plural(group, plural).ok_or_else(ApiError::path_not_found);
    match rest {
        [plural] => {
            let kind = kind_of(plural)?;
            crud::collection(state, req, kind, None).await
        }
        ["namespaces", ns, plural] if Kind::from_plural(group, plural).is_some_and(Kind::namespaced) => {
            crud::collection(state, req, kind_of(plural)?, Some(ns)).await
        }
        ["namespaces", ns, plural, name] if Kind::from_plural(group, plural).is_some_and(Kind::namespaced) => {
            crud::item(state, req, kind_of(plural)?, ns, name).await
        }
        ["namespaces", ns, plural, name, sub] if Kind::from_plural(group, plural).is_some_and(Kind::namespaced) => {
            crud::subresource(state, req, kind_of(plural)?, ns, name, sub).await
        }
        [plural, name] => {
            let kind = kind_of(plural)?;
            if kind.namespaced() {
                return Err(ApiError::path_not_found());
            }
            crud::item(state, req, kind, "", name).await
        }
        [plural, name, sub] => {
            let kind = kind_of(plural)?;
            if kind.namespaced() {
                return Err(ApiError::path_not_found());
            }
            crud::subresource(state, req, kind, "", name, sub).await
        }
        _ => Err(ApiError::path_not_found()),
    }
}
