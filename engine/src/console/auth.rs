//! Who may use the console. Without credentials configured the server
//! listens on loopback only and everything is open, as the API is. With
//! them, a browser logs in at `POST /console/login` with either
//!
//! - the access key pair the API checks signatures with, or
//! - the console token (`ApiConfig::console_token`, printed by `aslan serve`
//!   at startup unless given with `--console-token`),
//!
//! and gets a session: a random 256-bit id, known to the server for
//! [`SESSION_TTL`] or until logout, in the cookie `aslan_console`
//! (`HttpOnly`, `SameSite=Strict`). The API accepts a live session in place
//! of a SigV4 signature. Neither the token nor the secret key is ever in a
//! cookie; a restart ends every session. Pages answer a browser without a
//! session with the login page and API calls with
//! `MissingAuthenticationToken`.
//!
//! Another site cannot use the session: `SameSite=Strict` keeps the cookie
//! off cross-site requests, and the API needs an `X-Amz-Target` header,
//! which a cross-origin page (another port of the same host included) can
//! only send after a CORS preflight the server never grants.

use crate::api::sigv4::constant_time_eq;
use crate::api::{Api, ApiConfig};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "aslan_console";

/// How long a session lasts after its login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Sessions kept at most; a login beyond it ends the oldest.
const MAX_SESSIONS: usize = 10_000;

/// How long a failed login waits before it answers, to slow guessing.
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(500);

/// The live console sessions: id to expiry, in memory.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session and returns its id.
    pub fn create(&self) -> String {
        let id = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let now = Instant::now();
        let mut live = self.lock();
        live.retain(|_, until| *until > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live.iter().min_by_key(|(_, until)| **until).map(|(k, _)| k.clone()) {
                live.remove(&oldest);
            }
        }
        live.insert(id.clone(), now + SESSION_TTL);
        id
    }

    /// Whether `id` is a live session.
    pub fn is_live(&self, id: &str) -> bool {
        let mut live = self.lock();
        match live.get(id) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                live.remove(id);
                false
            }
            None => false,
        }
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// The values of the request's session cookies.
fn session_ids(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(k, v)| *k == COOKIE && !v.is_empty())
        .map(|(_, v)| v)
}

/// Whether the request carries a live session cookie.
pub fn has_session(sessions: &Sessions, headers: &HeaderMap) -> bool {
    session_ids(headers).any(|id| sessions.is_live(id))
}

/// Whether a request may see the console: no credentials are configured,
/// or it carries a live session.
pub fn allowed(cfg: &ApiConfig, sessions: &Sessions, headers: &HeaderMap) -> bool {
    cfg.credentials.is_none() || has_session(sessions, headers)
}

/// Whether a console token given by the operator is acceptable: at least
/// 32 characters, all of them safe in a cookie and a URL.
pub fn valid_token(token: &str) -> bool {
    token.len() >= 32 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

fn cookie(value: &str, max_age: u64) -> String {
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}")
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
/// "secretAccessKey": ...}`: starts a session.
pub(super) async fn login(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let cfg = &api.cfg;
    let Some(creds) = &cfg.credentials else {
        // Nothing to log in to: the console is open.
        return StatusCode::NO_CONTENT.into_response();
    };
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("");
    let ok = if !field("token").is_empty() {
        let token = cfg.console_token.as_deref().filter(|t| !t.is_empty());
        token.is_some_and(|t| constant_time_eq(field("token").as_bytes(), t.as_bytes()))
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
    let id = api.sessions.create();
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie(&id, SESSION_TTL.as_secs()))],
    )
        .into_response()
}

/// `POST /console/logout`: ends the session and clears its cookie.
pub(super) async fn logout(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    for id in session_ids(&headers) {
        api.sessions.end(id);
    }
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie("", 0))]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, v.parse().unwrap());
        h
    }

    #[test]
    fn only_live_sessions_open_the_console() {
        let sessions = Sessions::default();
        let id = sessions.create();
        assert_eq!(id.len(), 64);
        assert!(has_session(
            &sessions,
            &with_cookie(&format!("a=b; aslan_console={id}"))
        ));
        assert!(!has_session(
            &sessions,
            &with_cookie(&format!("aslan_console={}", &id[1..]))
        ));
        assert!(!has_session(&sessions, &with_cookie("aslan_console=")));
        assert!(!has_session(&sessions, &with_cookie(&format!("other={id}"))));
        assert!(!has_session(&sessions, &HeaderMap::new()));
        // A logout ends the session for every copy of its cookie.
        sessions.end(&id);
        assert!(!has_session(&sessions, &with_cookie(&format!("aslan_console={id}"))));
    }

    #[test]
    fn operator_tokens_must_be_long_and_cookie_safe() {
        assert!(valid_token(&"a1._~-".repeat(6)));
        assert!(!valid_token("admin"));
        assert!(!valid_token(&format!("{};x", "a".repeat(40))));
        assert!(!valid_token(&format!("{} x", "a".repeat(40))));
    }
}
