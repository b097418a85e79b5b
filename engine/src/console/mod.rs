//! The web console, served by `aslan serve` next to the API: `GET /` lists
//! state machines and their executions, `GET /executions/<executionArn>`
//! shows one execution's graph, live.
//!
//! The server only hands out static pages and scripts (`assets`, compiled
//! into the binary); the browser reads everything it shows through the same
//! Step Functions API boto3 uses (`POST /` with `X-Amz-Target`). With SigV4
//! credentials configured, a browser first logs in ([`auth`]) with the
//! access key pair or the console token printed at startup, and its session
//! then stands in for a signature on API calls.

mod assets;
pub mod auth;

use crate::api::Api;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// The console's routes: pages, assets, login and logout. Merge them with
/// [`crate::api::router`] on the same address (the console calls the API
/// at `POST /`).
pub fn router(api: Arc<Api>) -> axum::Router {
    axum::Router::new()
        .route("/", get(page))
        .route("/executions/{*arn}", get(page))
        .route("/console/login", post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/session", get(session))
        .route("/console/{*file}", get(asset))
        .with_state(api)
}

/// Headers every console response carries: scripts only from this server,
/// no framing, no referrer (execution ARNs stay here).
fn hardened(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// A page: the console's shell, or the login page when credentials are
/// configured and the browser has no session. Neither holds any data.
async fn page(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    let (status, body) = if auth::allowed(&api.cfg, &api.sessions, &headers) {
        (StatusCode::OK, assets::INDEX)
    } else {
        (StatusCode::UNAUTHORIZED, assets::LOGIN)
    };
    hardened((status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

/// A script, style sheet or vendored library. They hold no data, so the
/// login page may load them before a session exists.
async fn asset(Path(file): Path<String>) -> Response {
    match assets::find(&file) {
        Some((content_type, body)) => hardened(([(header::CONTENT_TYPE, content_type)], body).into_response()),
        None => hardened((StatusCode::NOT_FOUND, "not found").into_response()),
    }
}

/// `GET /console/session`: whether this server asks browsers to log in.
async fn session(State(api): State<Arc<Api>>) -> Response {
    let body = serde_json::json!({"login": api.cfg.credentials.is_some()}).to_string();
    hardened(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
