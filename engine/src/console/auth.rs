//! Who may use the console. Without credentials configured the server
//! listens on loopback only and everything is open, as the API is. With
//! them, a browser logs in at `POST /console/login` with either
//!
//! - the access key pair the API checks signatures with, or
//! - the console token (`ApiConfig::console_token`, printed by `aslan serve`
//!   at startup unless given with `--console-token`),
//!
//! and gets a session cookie (`aslan_console`, `HttpOnly`,
//! `SameSite=Strict`) that the API accepts in place of a SigV4 signature.
//! The cookie holds the console token, never the secret key. Pages answer
//! a browser without it with the login page and API calls with
//! `MissingAuthenticationToken`.
//!
//! A cross-site page cannot use the cookie: `SameSite=Strict` keeps it off
//! cross-site requests, and the API needs an `X-Amz-Target` header, which
//! a cross-origin request can only send after a CORS preflight the server
//! never grants.

use crate::api::sigv4::constant_time_eq;
use crate::api::{Api, ApiConfig};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::Arc;

/// The session cookie's name.
pub const COOKIE: &str = "aslan_console";

/// How long a failed login waits before it answers, to slow guessing.
const FAILED_LOGIN_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether a request may see the console: no credentials are configured,
/// or it carries the session cookie.
pub fn allowed(cfg: &ApiConfig, headers: &HeaderMap) -> bool {
    cfg.credentials.is_none() || has_session(cfg, headers)
}

/// Whether the request carries a valid session cookie.
pub fn has_session(cfg: &ApiConfig, headers: &HeaderMap) -> bool {
    let Some(token) = cfg.console_token.as_deref().filter(|t| !t.is_empty()) else {
        return false;
    };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && constant_time_eq(v.as_bytes(), token.as_bytes()))
}

fn cookie(value: &str, max_age: Option<u32>) -> String {
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{age}")
}

fn refused(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"__type": "AccessDeniedException", "message": message}).to_string(),
    )
        .into_response()
}

/// `POST /console/login` with `{"token": ...}` or `{"accessKeyId": ...,
/// "secretAccessKey": ...}`: sets the session cookie.
pub(super) async fn login(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let cfg = &api.cfg;
    let Some(creds) = &cfg.credentials else {
        // Nothing to log in to: the console is open.
        return StatusCode::NO_CONTENT.into_response();
    };
    let Some(token) = cfg.console_token.as_deref().filter(|t| !t.is_empty()) else {
        return refused("this server has no console token: the console cannot be used");
    };
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("");
    let ok = if !field("token").is_empty() {
        constant_time_eq(field("token").as_bytes(), token.as_bytes())
    } else {
        // Both compared, so the time does not tell which one was wrong.
        let id = constant_time_eq(field("accessKeyId").as_bytes(), creds.access_key_id.as_bytes());
        let secret = constant_time_eq(field("secretAccessKey").as_bytes(), creds.secret_access_key.as_bytes());
        id & secret
    };
    if !ok {
        tracing::warn!("console: a login failed");
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        return refused("wrong access key pair or console token");
    }
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie(token, None))]).into_response()
}

/// `POST /console/logout`: clears the session cookie.
pub(super) async fn logout() -> Response {
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie("", Some(0)))]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::sigv4::Credentials;

    fn cfg(token: Option<&str>) -> ApiConfig {
        ApiConfig {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            credentials: Some(Credentials {
                access_key_id: "AKID".into(),
                secret_access_key: "secret".into(),
            }),
            console_token: token.map(String::from),
            activity_wait: std::time::Duration::from_secs(1),
            cleanup_on_stop: false,
        }
    }

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, v.parse().unwrap());
        h
    }

    #[test]
    fn only_the_console_token_opens_a_session() {
        let c = cfg(Some("t0ken"));
        assert!(has_session(&c, &with_cookie("a=b; aslan_console=t0ken")));
        assert!(!has_session(&c, &with_cookie("aslan_console=t0ke")));
        assert!(!has_session(&c, &with_cookie("aslan_console=")));
        assert!(!has_session(&c, &with_cookie("other=t0ken")));
        assert!(!has_session(&c, &HeaderMap::new()));
        assert!(!allowed(&c, &HeaderMap::new()));
        // No token configured: no cookie can match, not even an empty one.
        assert!(!has_session(&cfg(None), &with_cookie("aslan_console=")));
        assert!(!has_session(&cfg(Some("")), &with_cookie("aslan_console=")));
        let open = ApiConfig {
            credentials: None,
            ..cfg(None)
        };
        assert!(allowed(&open, &HeaderMap::new()));
    }
}
